"""An independent check of a lock against its inputs, with ``packaging`` only.

For every target platform of the variant it installs the lock on paper (package markers
evaluated in that platform's environment) and verifies: each requirement the user made is
met, each installed package's dependencies (Requires-Dist, with the extras asked of it)
are installed at a satisfying version, constraints hold, every file has a sha256 and each
package has a wheel (or sdist) usable there. It shares no code with either resolver, so a
resolver bug can't hide itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from podlock.platforms import Platform
from podlock.urls import filename_of

# (name, version) -> that release's Requires-Dist lines
Dependencies = Callable[[str, str], Sequence[str]]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One way the lock fails its inputs; ``platform`` is None when it fails everywhere."""

    kind: str  # "unsatisfied" | "missing" | "constraint" | "hash" | "no-file" | "extraneous"
    package: str
    message: str
    platform: str | None = None

    def __str__(self) -> str:
        where = f" on {self.platform}" if self.platform else ""
        return f"{self.package}{where}: {self.message}"


def check_lock(
    lock: Mapping[str, Any],
    *,
    requirements: Sequence[str],
    constraints: Sequence[str] = (),
    python: str,
    platforms: Sequence[Platform],
    dependencies: Dependencies,
) -> list[Problem]:
    """Every problem of the pylock document ``lock``; empty means it is sound.

    Cost: one ``dependencies`` call per locked package, one marker evaluation per edge
    and platform.
    """
    packages: dict[str, Mapping[str, Any]] = {
        canonicalize_name(str(p["name"])): p for p in lock.get("packages", [])
    }
    problems = _hash_problems(packages.values())
    reqs = [Requirement(r) for r in requirements]
    cons = [Requirement(c) for c in constraints]
    for platform in platforms:
        env = {k: str(v) for k, v in platform.environment(python).items()}
        problems += _check_platform(packages, reqs, cons, env, platform, python, dependencies)
    return problems


def _installed(pkg: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    marker = pkg.get("marker")
    return not marker or Marker(marker).evaluate({**env, "extra": ""})


def _check_platform(
    packages: Mapping[str, Mapping[str, Any]],
    reqs: Sequence[Requirement],
    cons: Sequence[Requirement],
    env: Mapping[str, str],
    platform: Platform,
    python: str,
    dependencies: Dependencies,
) -> list[Problem]:
    where = str(platform)
    installed = {n: p for n, p in packages.items() if _installed(p, env)}
    problems: list[Problem] = []

    def report(kind: str, package: str, message: str) -> None:
        problems.append(Problem(kind=kind, package=package, platform=where, message=message))

    reached: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    # (requirement, who asked); the walk follows requirements, not the lock's own claims
    stack: list[tuple[Requirement, str]] = [
        (r, "your requirements")
        for r in reqs
        if r.marker is None or r.marker.evaluate({**env, "extra": ""})
    ]
    while stack:
        req, who = stack.pop()
        name = canonicalize_name(req.name)
        pkg = installed.get(name)
        if pkg is None:
            report("missing", name, f"{who} requires {req}, and the lock installs no {name} here")
            continue
        version = str(pkg.get("version", ""))
        if not _satisfies(req, version):
            report("unsatisfied", name, f"{who} requires {req}, the lock has {version}")
        reached.add(name)
        extras = frozenset(canonicalize_name(e) for e in req.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for text in dependencies(name, version):
            try:
                dep = Requirement(text)
            except InvalidRequirement:
                continue
            if dep.marker is not None and not any(
                dep.marker.evaluate({**env, "extra": e}) for e in ("", *extras)
            ):
                continue
            stack.append((dep, f"{name} {version}"))
    for con in cons:
        name = canonicalize_name(con.name)
        if name in installed and (con.marker is None or con.marker.evaluate({**env, "extra": ""})):
            version = str(installed[name].get("version", ""))
            if not _satisfies(con, version):
                report("constraint", name, f"constraint {con} is not met by {version}")
    tags = platform.accepts(python)
    for installed_name, pkg in installed.items():
        if installed_name not in reached:
            report("extraneous", installed_name, "installed here but nothing requires it")
        if not _usable_here(pkg, tags):
            report("no-file", installed_name, f"no wheel for CPython {python} here and no sdist")
    return problems


def _satisfies(req: Requirement, version: str) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def _usable_here(pkg: Mapping[str, Any], tags: frozenset[Any]) -> bool:
    if any(k in pkg for k in ("sdist", "archive", "vcs", "directory")):
        return True
    for wheel in pkg.get("wheels", []):
        filename = wheel.get("name") or filename_of(wheel.get("url"), wheel.get("path"))
        try:
            _, _, _, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if not tags.isdisjoint(wheel_tags):
            return True
    return False


def _hash_problems(packages: Iterable[Mapping[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    for pkg in packages:
        name = canonicalize_name(str(pkg["name"]))
        files = [*pkg.get("wheels", [])]
        files += [pkg[k] for k in ("sdist", "archive") if k in pkg]
        for f in files:
            digest = f.get("hashes", {}).get("sha256", "")
            if not _SHA256.match(str(digest)):
                label = f.get("name") or f.get("url") or f.get("path") or "a file"
                problems.append(
                    Problem(kind="hash", package=name, message=f"{label} has no sha256 hash")
                )
    return problems
