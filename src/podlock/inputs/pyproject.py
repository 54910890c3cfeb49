"""``pyproject.toml`` dependencies: ``[project]`` dependencies plus the optional-dependency
extras and PEP 735 groups a variant selects.

tomllib drops comments and line numbers, so each dependency is also found in the raw text:
that gives its line, and a ``# kn:keep`` at the end of that line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from podlock.errors import ConfigError, InputError
from podlock.inputs.config import Config, VariantConfig
from podlock.inputs.requirements import IndexOptions, Line, RequirementLine, RequirementsSet
from podlock.urls import redact

PYPROJECT = "pyproject.toml"

_KEEP = re.compile(r"#\s*kn:keep\s*$", re.IGNORECASE)
_CUDA_NAME = re.compile(r"^(cuda\d*|gpu)$")


def pyproject_requirements(
    text: str, pyproject: Mapping[str, Any], config: Config, variant: VariantConfig
) -> RequirementsSet:
    """``[project]`` dependencies plus the extras and groups selected for ``variant`` (the
    project's and its own); ``text`` is the file as read, for lines and ``# kn:keep``."""
    project = pyproject["project"]
    extras = list(dict.fromkeys((*config.extras, *variant.extras)))
    groups = list(dict.fromkeys((*config.groups, *variant.groups)))
    _check_conflicts(pyproject, variant, extras, groups, config)
    entries: list[tuple[str, str, str]] = [
        (d, "project.dependencies", "dependencies")
        for d in _deps(project.get("dependencies", []), "dependencies")
    ]
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            key = "extras" if extra in config.extras else f"variants.{variant.name}.extras"
            raise ConfigError(
                f"{key} names {extra!r}, which is not in [project.optional-dependencies]",
                file=config.file,
                hint=f"known extras: {', '.join(sorted(optional)) or 'none'}",
            )
        entries += [
            (d, f"optional-dependencies.{extra}", extra) for d in _deps(optional[extra], extra)
        ]
    declared = pyproject.get("dependency-groups", {})
    for group in groups:
        entries += [(d, f"dependency-groups.{group}", group) for d in _group(declared, group, [])]
    if not entries:
        raise InputError(
            f"[project] in {PYPROJECT} lists no dependencies",
            file=PYPROJECT,
            hint="add [project] dependencies = [...], or a requirements.txt",
        )
    out: list[RequirementLine] = []
    for dep, where, key in entries:
        line, keep = _line_of(text, dep, key)
        try:
            req = Requirement(dep)
        except InvalidRequirement as exc:
            raise InputError(
                f"{where}: not a valid requirement {redact(dep)!r} ({exc})",
                file=PYPROJECT,
                line=line,
            ) from None
        out.append(
            RequirementLine(
                requirement=req,
                text=redact(dep),
                origin=Line(file=PYPROJECT, line=line or 0),
                keep=keep,
            )
        )
    return RequirementsSet(
        source=PYPROJECT,
        requirements=tuple(out),
        constraints=(),
        options=IndexOptions(),
        files=(PYPROJECT,),
    )


def unselected_extras(pyproject: Mapping[str, Any], config: Config) -> list[str]:
    """A note for extras/groups named like an accelerator (``tpu``, ``gpu``, ``cuda12``,
    ``cpu``) that no variant selects, with the config lines that would select them."""
    project = pyproject.get("project", {})
    names = [*config.extras, *config.groups]
    names += [n for v in config.variants for n in (*v.extras, *v.groups)]
    selected = {canonicalize_name(n) for n in names}
    prefix = "tool.podlock." if config.file in (None, PYPROJECT) else ""
    where = config.file or f"[tool.podlock] of {PYPROJECT}"
    found: list[str] = []
    for kind, names in (
        ("extras", project.get("optional-dependencies", {})),
        ("groups", pyproject.get("dependency-groups", {})),
    ):
        for name in sorted(names):
            accelerator = _accelerator_of(name)
            if accelerator is None or canonicalize_name(name) in selected:
                continue
            variant = next((v.name for v in config.variants if v.accelerator == accelerator), None)
            add = f'[{prefix}{config.variants_key}.{variant or accelerator}] {kind} = ["{name}"]'
            if variant is None:
                add += f' (and "{accelerator}" in variants)'
            found.append(f"{kind[:-1]} {name!r}, which no variant selects: {add}")
    if not found:
        return []
    return [
        f"{PYPROJECT} has an extra or group named like an accelerator that no lock holds; "
        f"to lock it for that variant, add to {where}:\n  " + "\n  ".join(found)
    ]


def _accelerator_of(name: str) -> str | None:
    norm = canonicalize_name(name)
    if norm in ("tpu", "cpu"):
        return norm
    return "cuda" if _CUDA_NAME.match(norm) else None


def _check_conflicts(
    pyproject: Mapping[str, Any],
    variant: VariantConfig,
    extras: list[str],
    groups: list[str],
    config: Config,
) -> None:
    """Extras the project declares as conflicting (``[tool.uv] conflicts``, as levanter's
    ``gpu``/``tpu``) are never resolved together: one variant may select only one."""
    chosen = {("extra", canonicalize_name(e)) for e in extras}
    chosen |= {("group", canonicalize_name(g)) for g in groups}
    for conflict in pyproject.get("tool", {}).get("uv", {}).get("conflicts", []):
        if not isinstance(conflict, list):
            continue
        both = sorted(
            f"{kind} {item[kind]!r}"
            for item in conflict
            if isinstance(item, dict)
            for kind in ("extra", "group")
            if isinstance(item.get(kind), str) and (kind, canonicalize_name(item[kind])) in chosen
        )
        if len(both) > 1:
            raise ConfigError(
                f"variant {variant.name} selects {' and '.join(both)}, which {PYPROJECT} "
                "declares as conflicting ([tool.uv] conflicts)",
                file=config.file,
                hint="select each of them in its own variant, e.g. "
                f'[{config.variants_key}.tpu] extras = ["tpu"], and not in top-level extras',
            )


def _deps(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of requirement strings", file=PYPROJECT)
    return list(value)


def _group(groups: Mapping[str, Any], name: str, seen: list[str]) -> list[str]:
    """PEP 735: a group's requirements with ``{include-group = ...}`` expanded."""
    norm = {canonicalize_name(k): v for k, v in groups.items()}
    key = canonicalize_name(name)
    if key not in norm:
        raise ConfigError(
            f"groups names {name!r}, which is not in [dependency-groups]",
            file=PYPROJECT,
            hint=f"known groups: {', '.join(sorted(groups)) or 'none'}",
        )
    if key in seen:
        raise InputError(
            f"dependency group include cycle: {' -> '.join([*seen, key])}", file=PYPROJECT
        )
    out: list[str] = []
    for item in norm[key]:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and set(item) == {"include-group"}:
            out += _group(groups, item["include-group"], [*seen, key])
        else:
            raise InputError(
                f"dependency-groups.{name}: unsupported entry {item!r}", file=PYPROJECT
            )
    return out


def _line_of(text: str, dep: str, key: str) -> tuple[int | None, bool]:
    """The line of ``dep`` (searched from where the ``key = [`` list starts, so the same
    string in two lists is told apart) and whether that line ends in ``# kn:keep``."""
    anchor = re.search(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", text, re.MULTILINE)
    for start in (anchor.start() if anchor else 0, 0):
        for quote in ('"', "'"):
            index = text.find(f"{quote}{dep}{quote}", start)
            if index >= 0:
                end = text.find("\n", index)
                rest = text[index + len(dep) + 2 : end if end >= 0 else len(text)]
                return text.count("\n", 0, index) + 1, bool(_KEEP.search(rest))
    return None, False
