"""Discovery: a project directory becomes ``Inputs`` (requirements, options, config).

requirements.txt wins over pyproject.toml, as in Kinetic; podlock says so in ``notes``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from podlock.config import Config, load_config
from podlock.errors import ConfigError, InputError
from podlock.requirements import (
    IndexOptions,
    Line,
    RequirementLine,
    RequirementsSet,
    parse_requirements,
)
from podlock.urls import redact

REQUIREMENTS = "requirements.txt"
PYPROJECT = "pyproject.toml"
PODLOCK_TOML = "podlock.toml"


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """Everything the resolver needs from a project directory, parsed and validated."""

    root: Path
    name: str
    source: str  # the dependency file that was used
    requirements: tuple[RequirementLine, ...]
    constraints: tuple[RequirementLine, ...]
    options: IndexOptions
    config: Config
    files: tuple[str, ...]
    notes: tuple[str, ...] = ()
    missing_vars: tuple[str, ...] = ()


def discover(root: Path, *, env: Mapping[str, str] | None = None) -> Inputs:
    """Read ``root``'s dependency file and podlock config. Cost: a few small file reads."""
    root = root.resolve()
    if not root.is_dir():
        raise InputError(f"project directory {root} does not exist")
    # Read once: parsed for tables, and searched as text for line numbers. No file: {}.
    pyproject_text = (
        (root / PYPROJECT).read_text(encoding="utf-8") if (root / PYPROJECT).is_file() else ""
    )
    pyproject = _parse_toml(pyproject_text, PYPROJECT)
    config = _load_project_config(root, pyproject)
    notes: list[str] = []
    if (root / REQUIREMENTS).is_file():
        if "project" in pyproject:
            notes.append(
                f"both {REQUIREMENTS} and {PYPROJECT} exist; using {REQUIREMENTS} (as Kinetic does)"
            )
        parsed = parse_requirements(root / REQUIREMENTS, root=root, env=env)
        source = REQUIREMENTS
    elif "project" in pyproject:
        parsed = _pyproject_requirements(pyproject_text, pyproject, config)
        source = PYPROJECT
    else:
        raise InputError(
            f"no {REQUIREMENTS} and no [project] table in {PYPROJECT} in {root}",
            hint=f"add a {REQUIREMENTS}, or list dependencies under [project] in {PYPROJECT}",
        )
    name = _project_name(root, pyproject)
    return Inputs(
        root=root,
        name=name,
        source=source,
        requirements=parsed.requirements,
        constraints=parsed.constraints,
        options=parsed.options,
        config=config,
        files=tuple(sorted({*parsed.files, *([config.file] if config.file else [])})),
        notes=tuple(notes),
        missing_vars=parsed.missing_vars,
    )


def _parse_toml(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+)", str(exc))
        raise InputError(
            f"invalid TOML: {exc}",
            file=name,
            line=int(m.group(1)) if m else None,
            hint="fix the TOML syntax at the line and column named",
        ) from None


def _load_project_config(root: Path, pyproject: Mapping[str, Any]) -> Config:
    in_pyproject = pyproject.get("tool", {}).get("podlock")
    if (root / PODLOCK_TOML).is_file():
        if in_pyproject is not None:
            raise ConfigError(
                f"config in both {PODLOCK_TOML} and [tool.podlock] of {PYPROJECT}",
                file=PODLOCK_TOML,
                hint="keep one of them",
            )
        text = (root / PODLOCK_TOML).read_text(encoding="utf-8")
        return load_config(_parse_toml(text, PODLOCK_TOML), file=PODLOCK_TOML)
    if in_pyproject is not None:
        if not isinstance(in_pyproject, dict):
            raise ConfigError("[tool.podlock] must be a table", file=PYPROJECT)
        return load_config(in_pyproject, file=PYPROJECT)
    return load_config({}, file=None)


def _project_name(root: Path, pyproject: Mapping[str, Any]) -> str:
    name = pyproject.get("project", {}).get("name")
    raw = name if isinstance(name, str) and name else root.name
    return canonicalize_name(re.sub(r"[^A-Za-z0-9._-]+", "-", raw)) or "project"


def _pyproject_requirements(
    text: str, pyproject: Mapping[str, Any], config: Config
) -> RequirementsSet:
    """``[project]`` dependencies plus the configured extras and groups; ``text`` gives lines."""
    project = pyproject["project"]
    entries: list[tuple[str, str]] = [
        (d, "project.dependencies") for d in _deps(project.get("dependencies", []), "dependencies")
    ]
    optional = project.get("optional-dependencies", {})
    for extra in config.extras:
        if extra not in optional:
            raise ConfigError(
                f"extras names {extra!r}, which is not in [project.optional-dependencies]",
                file=config.file,
                hint=f"known extras: {', '.join(sorted(optional)) or 'none'}",
            )
        entries += [(d, f"optional-dependencies.{extra}") for d in _deps(optional[extra], extra)]
    groups = pyproject.get("dependency-groups", {})
    for group in config.groups:
        entries += [(d, f"dependency-groups.{group}") for d in _group(groups, group, [])]
    if not entries:
        raise InputError(
            f"[project] in {PYPROJECT} lists no dependencies",
            file=PYPROJECT,
            hint="add [project] dependencies = [...], or a requirements.txt",
        )
    out: list[RequirementLine] = []
    for dep, where in entries:
        line = _line_of(text, dep)
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
            )
        )
    return RequirementsSet(
        requirements=tuple(out), constraints=(), options=IndexOptions(), files=(PYPROJECT,)
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


def _line_of(text: str, dep: str) -> int | None:
    for quote in ('"', "'"):
        index = text.find(f"{quote}{dep}{quote}")
        if index >= 0:
            return text.count("\n", 0, index) + 1
    return None
