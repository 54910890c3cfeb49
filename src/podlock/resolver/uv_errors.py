"""uv's failures in the user's terms: variants and platforms instead of generated names, the
routed index that lacked a version, the file:line of a ``name @ url`` that could not be
fetched, and network failures condensed to what failed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from podlock.errors import IndexError_, InputError, PodlockError, ResolutionError
from podlock.inputs.indexes import IndexPlan
from podlock.inputs.runtime import VariantRequirements
from podlock.platforms import Platform
from podlock.resolver.model import Request
from podlock.resolver.route_errors import route_failure
from podlock.resolver.uvlock import ROOT
from podlock.urls import redact


def _humanize(output: str, variants: Sequence[str], platforms: Sequence[Platform]) -> str:
    """uv's explanation in the user's terms: variants and platforms, not generated names."""
    lines = [
        line
        for line in output.strip().splitlines()
        if not line.startswith("Using CPython") and "tool.uv" not in line
    ]
    text = "\n".join(lines).strip()
    for name in variants:
        text = text.replace(f"{ROOT}[{name}]", f"variant {name}")
    text = text.replace("your project requires variant", "podlock locks variant")
    text = re.sub(rf"\b{ROOT}\b(\[[^\]]*\])?", "your requirements", text)
    for platform in platforms:
        system = platform.marker.split(" and ")[0]
        machine = f"platform_machine == '{platform.machine}'"
        for form in (f"{machine} and {system}", f"{system} and {machine}"):
            text = text.replace(form, str(platform))
    return text


def in_user_terms(
    error: PodlockError,
    group: Sequence[tuple[VariantRequirements, IndexPlan]],
    request: Request,
    *,
    offline: bool,
) -> PodlockError:
    """``error`` about what the user wrote: the routed index that lacked a version, the
    file:line of a ``name @ url`` that could not be fetched."""
    if isinstance(error, ResolutionError):
        routed = route_failure(error.explanation, group, request.inputs.config, offline=offline)
        if routed is not None:
            return ResolutionError(routed.message, explanation=error.explanation, hint=routed.hint)
    if isinstance(error, IndexError_):
        for vreq, _ in group:
            for line in vreq.lines:
                url = line.requirement.url
                if url and redact(url) == error.index:
                    cause = re.sub(r"^(cause|Caused by): ", "", error.message.splitlines()[-1])
                    return InputError(
                        f"could not fetch {line.text}: {cause}",
                        file=line.origin.file,
                        line=line.origin.line,
                        hint="check the URL on that line, and your network",
                    )
    return error


def uv_error(
    output: str, variants: Sequence[str], platforms: Sequence[Platform], *, offline: bool
) -> PodlockError:
    text = _humanize(output, variants, platforms)
    if "-compatible wheels" in text:
        return ResolutionError(
            "a package has no wheel for one of the variant's platforms",
            explanation=text,
            hint="pin a version that ships wheels for that platform, or remove the platform "
            "from the variant's platforms in the podlock config",
        )
    fetch = re.search(r"Failed to fetch: `([^`]+)`|error sending request for url \(([^)]+)\)", text)
    if "No solution found" in text or "unsatisfiable" in text:
        return ResolutionError(
            "no set of versions satisfies the requirements",
            explanation=text,
            hint="loosen one of the pins named above, or use `# kn:keep` only where needed",
        )
    if fetch or "Could not connect" in text or "dns error" in text:
        url = redact(fetch.group(1) or fetch.group(2)) if fetch else "an index"
        return IndexError_(
            f"could not reach {url}\n{_condensed(text)}",
            index=url,
            hint="cache only: the cache lacks it; run without --offline"
            if offline
            else "check the index URL in your requirements/config and your network",
        )
    return ResolutionError("uv could not lock the project", explanation=text)


def _condensed(text: str) -> str:
    """uv's network failure in a few lines: what failed, the retries, the innermost cause
    (uv also prints each retry's chain of causes: ~30 lines per URL, more per variant)."""
    lines = [line.strip() for line in text.splitlines()]
    what = next((line for line in lines if line.startswith("error:")), "")
    retried = next((line for line in lines if "retries" in line), "")
    causes = [line for line in lines if line.startswith(("cause:", "Caused by:"))]
    shown = [what, retried, causes[-1] if causes else ""]
    return "\n".join(dict.fromkeys(line for line in shown if line))
