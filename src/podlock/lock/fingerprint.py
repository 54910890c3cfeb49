"""The fingerprint: a hash of the *meaning* of a variant's inputs, not their text.

Comments, whitespace, line order of includes and credentials don't change it; a changed
requirement, option or config value does. A variant's fingerprint covers only its own
inputs: its files, the top-level config and its own variant table.

The lock records the digest of each input (``[tool.podlock.inputs]``: the target Python,
one digest per file, one per config key) and the fingerprint is the hash of those, so
``lock --check`` can say *what* changed, without network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from podlock.canonical import canonical
from podlock.inputs.config import RUNTIME_PACKAGES, Config, VariantConfig
from podlock.inputs.discover import Inputs
from podlock.inputs.requirements import RequirementLine
from podlock.urls import redact

# Bump when the lock's content for the same inputs would change (new fields, new rules).
LOCK_SCHEMA = 2

InputDigests = Mapping[str, Any]  # {"python": "3.12", "files": {...}, "config": {...}}


def input_digests(inputs: Inputs, variant: VariantConfig) -> dict[str, Any]:
    """Each input of ``variant``'s lock and its digest; empty config values are left out."""
    deps = inputs.of(variant.name)
    config = inputs.config
    files: dict[str, list[Any]] = {f: [] for f in deps.files}
    for line in (*deps.requirements, *deps.constraints):
        files.setdefault(line.origin.file, []).append(_line(line, variant, config.keep))
    for directive in deps.directives:
        files.setdefault(directive.file, []).append({"option": directive.text})
    referenced = sorted({ref for ref in variant.sources.values() if ref in config.indexes})
    top: dict[str, Any] = {
        "keep": sorted(config.keep),
        "system-packages": list(config.system_packages),
        "index-url": _url(config.index_url),
        "extra-index-urls": [redact(u) for u in config.extra_index_urls],
        "find-links": [redact(u) for u in config.find_links],
        "indexes": {name: redact(config.indexes[name]) for name in referenced},
    }
    if deps.source == "pyproject.toml":  # only a pyproject's lines are selected by them
        top |= {"extras": list(config.extras), "groups": list(config.groups)}
    own = {
        **variant.to_dict(),
        "index-url": _url(variant.index_url),
        "extra-index-urls": [redact(u) for u in variant.extra_index_urls],
    }
    own.pop("name")
    own.pop("python")
    keys = {k: v for k, v in top.items() if v} | {
        f"variant.{variant.name}.{k}": v for k, v in own.items() if v
    }
    return {
        "python": variant.python,
        "files": {f: _digest(v) for f, v in sorted(files.items())},
        "config": {k: _digest(v) for k, v in sorted(keys.items())},
    }


def fingerprint_of(digests: InputDigests) -> str:
    """``sha256:<hex>`` over the lock schema and the input digests."""
    return _digest({"schema": LOCK_SCHEMA, "inputs": digests})


def fingerprint(inputs: Inputs, variant: VariantConfig) -> str:
    """``sha256:<hex>`` over the parsed inputs and config that decide this variant's lock."""
    return fingerprint_of(input_digests(inputs, variant))


def what_changed(recorded: InputDigests | None, now: InputDigests, config: Config) -> str:
    """Why a lock with ``recorded`` digests is stale, in the user's terms."""
    if not recorded:
        return "it was written by an older podlock; run `podlock lock` to rewrite it"
    changes: list[str] = []
    if recorded.get("python") != now["python"]:
        changes.append(f"the target Python changed ({recorded.get('python')} -> {now['python']})")
    old_files: Mapping[str, str] = recorded.get("files", {})
    for name, digest in now["files"].items():
        if name not in old_files:
            changes.append(f"{name} is new among its inputs")
        elif old_files[name] != digest:
            changes.append(f"{name} changed")
    changes += [
        f"{name} is no longer among its inputs" for name in old_files if name not in now["files"]
    ]
    old_config: Mapping[str, str] = recorded.get("config", {})
    keys = sorted(set(old_config) | set(now["config"]))
    moved = [_shown(k, config) for k in keys if old_config.get(k) != now["config"].get(k)]
    if moved:
        where = config.file or "the podlock config"
        changes.append(f"{', '.join(moved)} in {where} changed")
    if not changes:
        return "it was written by a podlock with another lock schema; run `podlock lock`"
    return "; ".join(changes)


def _shown(key: str, config: Config) -> str:
    """A config key as the user writes it: ``[variants.tpu] sources`` or ``keep``."""
    table = "tool.podlock." if config.file == "pyproject.toml" else ""
    if key.startswith("variant."):
        _, name, rest = key.split(".", 2)
        return f"[{table}{config.variants_key}.{name}] {rest}"
    return f"[{table.rstrip('.')}] {key}" if table else key


def _line(line: RequirementLine, variant: VariantConfig, keep: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requirement": redact(str(line.requirement)),
        "keep": line.keep,
        "hashes": list(line.hashes),
        "constraint": line.constraint,
    }
    if line.pre:
        out["pre"] = True
    # Lines whose lock changed with a rule (#23), so locks made under the old one go stale:
    # a kept runtime line with extras is used as written; a routed URL may be kept.
    kept = line.keep or line.name in keep
    if kept and line.requirement.extras and line.name in RUNTIME_PACKAGES:
        out["flavour"] = True
    if line.requirement.url and line.name in variant.sources:
        out["url"] = "kept-where-it-fits"
    return out


def _url(url: str | None) -> str | None:
    return redact(url) if url else None


def _digest(value: Any) -> str:
    blob = canonical(value, ensure_ascii=True)
    return "sha256:" + hashlib.sha256(blob).hexdigest()
