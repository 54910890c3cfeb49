"""Discovery: a project directory becomes ``Inputs`` (config, and each variant's
requirements and index options).

A variant's dependencies are its own file (``requirements = "FILE"``), else the project's
``requirements.txt``, else ``pyproject.toml`` with the extras and groups selected for it.
requirements.txt wins over pyproject.toml, as in Kinetic; podlock says so in ``notes``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from podlock.errors import ConfigError, InputError
from podlock.inputs.config import (
    Config,
    DefaultPython,
    VariantConfig,
    load_config,
    running_python,
)
from podlock.inputs.pyproject import PYPROJECT, pyproject_requirements, unselected_extras
from podlock.inputs.requirements import RequirementsSet, parse_requirements
from podlock.inputs.target_python import TargetPython, choose_python

REQUIREMENTS = "requirements.txt"
PODLOCK_TOML = "podlock.toml"


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """Everything the resolver needs from a project directory, parsed and validated."""

    root: Path
    name: str
    config: Config
    dependencies: Mapping[str, RequirementsSet]  # variant name -> what it asks for
    notes: tuple[str, ...] = ()

    def of(self, variant: str) -> RequirementsSet:
        """The dependencies of ``variant``: its own file or extras, or the project's."""
        return self.dependencies[variant]


def discover(root: Path, *, env: Mapping[str, str] | None = None) -> Inputs:
    """Read ``root``'s dependency files and podlock config. Cost: a few small file reads."""
    root = root.resolve()
    if not root.is_dir():
        raise InputError(f"project directory {root} does not exist")
    # Read once: parsed for tables, and searched as text for line numbers. No file: {}.
    pyproject_text = (
        (root / PYPROJECT).read_text(encoding="utf-8") if (root / PYPROJECT).is_file() else ""
    )
    pyproject = _parse_toml(pyproject_text, PYPROJECT)
    chosen: list[TargetPython] = []

    def default_python(variants: Sequence[str]) -> str:
        chosen.append(choose_python(root, variants))
        return chosen[0].version

    config = _load_project_config(root, pyproject, default_python)
    reader = _Reader(root=root, env=env, pyproject=pyproject, text=pyproject_text, config=config)
    dependencies = {v.name: reader.variant(v) for v in config.variants}
    notes = [t.note for t in chosen if t.note]
    notes += reader.notes
    notes += unselected_extras(pyproject, config) if reader.used_pyproject else []
    for deps in dependencies.values():
        notes += deps.warnings
    return Inputs(
        root=root,
        name=_project_name(root, pyproject),
        config=config,
        dependencies=dependencies,
        notes=tuple(dict.fromkeys(notes)),
    )


@dataclass
class _Reader:
    """Reads each variant's dependencies; a file several variants share is read once."""

    root: Path
    env: Mapping[str, str] | None
    pyproject: Mapping[str, Any]
    text: str
    config: Config
    notes: list[str] = field(default_factory=list)
    used_pyproject: bool = False
    _files: dict[Path, RequirementsSet] = field(default_factory=dict)

    def variant(self, variant: VariantConfig) -> RequirementsSet:
        where = f"variants.{variant.name}"
        selects = variant.extras or variant.groups
        if variant.requirements is not None:
            if selects:
                raise ConfigError(
                    f"{where} selects pyproject extras/groups, but its dependencies come from "
                    f"{variant.requirements}",
                    file=self.config.file,
                    hint=f"list those packages in {variant.requirements}, or drop {where}"
                    ".requirements",
                )
            path = self.root / variant.requirements
            if not path.is_file():
                raise ConfigError(
                    f"{where}.requirements names {variant.requirements}, which does not exist",
                    file=self.config.file,
                    hint="the path is relative to the project directory",
                )
            return self._file(path)
        if (self.root / REQUIREMENTS).is_file():
            if "project" in self.pyproject:
                self.notes.append(
                    f"both {REQUIREMENTS} and {PYPROJECT} exist; using {REQUIREMENTS} "
                    "(as Kinetic does)"
                )
            if selects:
                raise ConfigError(
                    f"{where} selects pyproject extras/groups, but this project's dependencies "
                    f"come from {REQUIREMENTS}",
                    file=self.config.file,
                    hint=f'give the variant a file of its own: {where}.requirements = "FILE"',
                )
            return self._file(self.root / REQUIREMENTS)
        if "project" in self.pyproject:
            self.used_pyproject = True
            return pyproject_requirements(self.text, self.pyproject, self.config, variant)
        raise InputError(
            f"no {REQUIREMENTS} and no [project] table in {PYPROJECT} in {self.root}",
            hint=f"add a {REQUIREMENTS}, list dependencies under [project] in {PYPROJECT}, "
            f'or give each variant its own file ([variant.<name>] requirements = "FILE")',
        )

    def _file(self, path: Path) -> RequirementsSet:
        if path not in self._files:
            self._files[path] = parse_requirements(path, root=self.root, env=self.env)
        return self._files[path]


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


def _load_project_config(
    root: Path, pyproject: Mapping[str, Any], default_python: DefaultPython
) -> Config:
    in_pyproject = pyproject.get("tool", {}).get("podlock")
    if (root / PODLOCK_TOML).is_file():
        if in_pyproject is not None:
            raise ConfigError(
                f"config in both {PODLOCK_TOML} and [tool.podlock] of {PYPROJECT}",
                file=PODLOCK_TOML,
                hint="keep one of them",
            )
        text = (root / PODLOCK_TOML).read_text(encoding="utf-8")
        table = _parse_toml(text, PODLOCK_TOML)
        return load_config(table, file=PODLOCK_TOML, default_python=default_python)
    if in_pyproject is not None:
        if not isinstance(in_pyproject, dict):
            raise ConfigError("[tool.podlock] must be a table", file=PYPROJECT)
        return load_config(in_pyproject, file=PYPROJECT, default_python=default_python)
    return load_config({}, file=None, default_python=default_python)


def _project_name(root: Path, pyproject: Mapping[str, Any]) -> str:
    name = pyproject.get("project", {}).get("name")
    raw = name if isinstance(name, str) and name else root.name
    return canonicalize_name(re.sub(r"[^A-Za-z0-9._-]+", "-", raw)) or "project"


def read_config(root: Path) -> Config:
    """The project's podlock config alone, without its dependencies: for commands that need no
    lock (``package list``). Cost: reading pyproject.toml and podlock.toml."""
    root = root.resolve()
    if not root.is_dir():
        raise InputError(f"project directory {root} does not exist")
    path = root / PYPROJECT
    pyproject = _parse_toml(path.read_text(encoding="utf-8") if path.is_file() else "", PYPROJECT)
    return _load_project_config(root, pyproject, running_python)
