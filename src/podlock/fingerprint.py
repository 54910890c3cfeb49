"""The fingerprint: a hash of the *meaning* of a variant's inputs, not their text.

Comments, whitespace, line order of includes and credentials don't change it; a changed
requirement, option or config value does. ``lock --check`` compares it, without network.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from podlock.config import VariantConfig
from podlock.project import Inputs
from podlock.requirements import RequirementLine
from podlock.urls import redact

# Bump when the lock's content for the same inputs would change (new fields, new rules).
LOCK_SCHEMA = 1


def fingerprint(inputs: Inputs, variant: VariantConfig) -> str:
    """``sha256:<hex>`` over the parsed inputs and config that decide this variant's lock."""
    config = inputs.config
    options = inputs.options
    referenced = sorted({ref for ref in variant.sources.values() if ref in config.indexes})
    data: dict[str, Any] = {
        "schema": LOCK_SCHEMA,
        "source": inputs.source,
        "requirements": [_line(r) for r in inputs.requirements],
        "constraints": [_line(r) for r in inputs.constraints],
        "options": {
            "index-url": redact(options.index_url) if options.index_url else None,
            "extra-index-urls": [redact(u) for u in options.extra_index_urls],
            "find-links": [redact(u) for u in options.find_links],
            "no-index": options.no_index,
            "pre": options.pre,
            "trusted-hosts": list(options.trusted_hosts),
        },
        "config": {
            "python": variant.python,
            "keep": sorted(config.keep),
            "system-packages": list(config.system_packages),
            "index-url": redact(config.index_url) if config.index_url else None,
            "extra-index-urls": [redact(u) for u in config.extra_index_urls],
            "find-links": [redact(u) for u in config.find_links],
            "indexes": {name: redact(config.indexes[name]) for name in referenced},
        },
        "variant": {
            **variant.to_dict(),
            "index-url": redact(variant.index_url) if variant.index_url else None,
            "extra-index-urls": [redact(u) for u in variant.extra_index_urls],
        },
    }
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _line(line: RequirementLine) -> dict[str, Any]:
    return {
        "requirement": redact(str(line.requirement)),
        "keep": line.keep,
        "hashes": list(line.hashes),
    }
