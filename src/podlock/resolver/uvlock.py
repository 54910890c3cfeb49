"""``uv.lock`` both ways: the preferences uv gets from a variant's pylock, and the
variant's pins read back from what uv wrote.

The generated project declares the variant's requirements as one extra. Walking the graph
from the root's extra, with markers evaluated per target platform, gives the variant's
packages and the platforms that need each of them.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from podlock.errors import PodlockError
from podlock.platforms import Platform
from podlock.resolver.model import RawArtifact, Resolved

ROOT = "podlock-resolve"


def preference_lock(
    pylock: Mapping[str, Any], *, python: str, upgrade: Collection[str] = ()
) -> dict[str, Any] | None:
    """A ``uv.lock`` whose only content is ``pylock``'s registry pins, for uv to prefer.

    uv reads an existing uv.lock as preferences when it no longer satisfies the project:
    this one never does (its root declares no requirements), so uv always resolves, and
    keeps each pin that still fits. A name locked at several versions (one per platform)
    keeps each version's marker as its fork. Pins from a URL, a path or a VCS need none.
    """
    moving = {canonicalize_name(n) for n in upgrade}
    found: dict[tuple[str, str, str], list[str]] = {}
    for pkg in pylock.get("packages", []):
        name: str = canonicalize_name(str(pkg.get("name", "")))
        version, index = pkg.get("version"), pkg.get("index")
        if not name or name == ROOT or name in moving or version is None:
            continue
        if not isinstance(index, str) or "://" not in index:
            continue
        markers = found.setdefault((name, str(version), index), [])
        if isinstance(pkg.get("marker"), str):
            markers.append(pkg["marker"])
    if not found:
        return None
    versions = Counter(key[0] for key in found)
    packages: list[dict[str, Any]] = [{"name": ROOT, "version": "0", "source": {"virtual": "."}}]
    for (pin, version, index), markers in sorted(found.items()):
        entry: dict[str, Any] = {"name": pin, "version": version, "source": {"registry": index}}
        if versions[pin] > 1:
            if not markers:
                continue  # the pylock is not podlock's: prefer the versions that say where
            entry["resolution-markers"] = sorted(set(markers))
        packages.append(entry)
    return {"version": 1, "revision": 3, "requires-python": f"=={python}.*", "package": packages}


@dataclass(frozen=True)
class _Node:
    key: str
    entry: Mapping[str, Any]


class UvLock:
    """An index over ``uv.lock``'s packages."""

    def __init__(self, data: Mapping[str, Any], *, base: Path) -> None:
        self.base = base
        self.by_name: dict[str, list[_Node]] = {}
        for entry in data.get("package", []):
            name = canonicalize_name(entry["name"])
            node = _Node(_key(entry), entry)
            self.by_name.setdefault(name, []).append(node)
        roots = [n for n in self.by_name.get(ROOT, []) if "virtual" in n.entry.get("source", {})]
        if len(roots) != 1:
            raise PodlockError("uv.lock has no root project; the resolver cache is damaged")
        self.root = roots[0]

    @classmethod
    def read(cls, path: Path) -> UvLock:
        return cls(tomllib.loads(path.read_text(encoding="utf-8")), base=path.parent)

    def split(self, variant: str, platforms: Sequence[Platform], python: str) -> list[Resolved]:
        """The packages ``variant`` installs on each platform, merged across platforms."""
        reached: dict[str, set[Platform]] = {}
        parents: dict[str, set[str]] = {}
        nodes: dict[str, _Node] = {}
        roots = {
            canonicalize_name(k): v
            for k, v in self.root.entry.get("optional-dependencies", {}).items()
        }
        start = roots.get(canonicalize_name(variant), [])
        for platform in platforms:
            env = {k: str(v) for k, v in platform.environment(python).items()}
            env_key = tuple(sorted(env.items()))  # hashable, for the memoized evaluation
            seen: set[tuple[str, frozenset[str]]] = set()
            stack = [(node, extras, "") for node, extras in self._targets(start, env_key)]
            while stack:
                node, extras, parent = stack.pop()
                if parent:
                    parents.setdefault(node.key, set()).add(parent)
                if (node.key, extras) in seen:
                    continue
                seen.add((node.key, extras))
                nodes[node.key] = node
                reached.setdefault(node.key, set()).add(platform)
                deps = list(node.entry.get("dependencies", []))
                optional = node.entry.get("optional-dependencies", {})
                for name in extras:
                    deps += optional.get(name, [])
                stack.extend((n, e, _name(node)) for n, e in self._targets(deps, env_key))
        return [
            replace(
                self._resolved(nodes[key].entry, frozenset(plats)),
                required_by=frozenset(parents.get(key, set()) - {_name(nodes[key])}),
            )
            for key, plats in sorted(reached.items())
        ]

    def _targets(
        self, deps: Iterable[Mapping[str, Any]], env: tuple[tuple[str, str], ...]
    ) -> Iterable[tuple[_Node, frozenset[str]]]:
        for dep in deps:
            marker = dep.get("marker")
            if marker and not _evaluate(marker, env):
                continue
            yield self._find(dep), frozenset(canonicalize_name(e) for e in dep.get("extra", []))

    def _find(self, dep: Mapping[str, Any]) -> _Node:
        candidates = self.by_name.get(canonicalize_name(dep["name"]), [])
        if "version" in dep:
            candidates = [c for c in candidates if c.entry.get("version") == dep["version"]]
        if "source" in dep:
            want = json.dumps(dep["source"], sort_keys=True)
            candidates = [
                c for c in candidates if json.dumps(c.entry.get("source"), sort_keys=True) == want
            ]
        if len(candidates) != 1:
            raise PodlockError(
                f"uv.lock: cannot tell which {dep['name']} a dependency means "
                f"({len(candidates)} candidates)"
            )
        return candidates[0]

    def _resolved(self, entry: Mapping[str, Any], platforms: frozenset[Platform]) -> Resolved:
        source = entry.get("source", {})
        wheels = tuple(self._artifact(w) for w in entry.get("wheels", []))
        sdist = self._artifact(entry["sdist"]) if "sdist" in entry else None
        index = source.get("registry")
        archive = None
        vcs = None
        if "url" in source or "path" in source:
            # A direct reference: one file, recorded as PEP 751's archive.
            archive = wheels[0] if wheels else sdist
            if archive is not None and archive.url is None and archive.path is None:
                archive = RawArtifact(
                    url=source.get("url"),
                    path=self._path(source.get("path")),
                    sha256=archive.sha256,
                    size=archive.size,
                )
            wheels, sdist = (), None
        elif "git" in source:
            url, _, commit = source["git"].partition("#")
            vcs = {"type": "git", "url": url.split("?")[0], "commit-id": commit}
            wheels, sdist = (), None
        elif index is None:
            kind = ", ".join(source) or "unknown"
            raise PodlockError(
                f"{entry['name']}: a {kind} source cannot be locked",
                hint="local directories and editable installs ship with the project's code",
            )
        if index is not None and "://" not in index:
            index = self._path(index)
        return Resolved(
            name=canonicalize_name(entry["name"]),
            version=entry.get("version"),
            platforms=platforms,
            index=index,
            wheels=wheels,
            sdist=sdist,
            archive=archive,
            vcs=vcs,
        )

    def _artifact(self, a: Mapping[str, Any]) -> RawArtifact:
        digest = a.get("hash")
        upload = a.get("upload-time")
        return RawArtifact(
            url=a.get("url"),
            path=self._path(a.get("path")),
            sha256=digest.split(":", 1)[1]
            if isinstance(digest, str) and digest.startswith("sha256:")
            else None,
            size=a.get("size"),
            upload_time=_parse_time(upload) if isinstance(upload, str) else upload,
        )

    def _path(self, path: str | None) -> str | None:
        if path is None:
            return None
        return str((self.base / path).resolve())


def _name(node: _Node) -> str:
    return canonicalize_name(node.entry["name"])


def _key(entry: Mapping[str, Any]) -> str:
    return json.dumps(
        [canonicalize_name(entry["name"]), entry.get("version"), entry.get("source")],
        sort_keys=True,
    )


@lru_cache(maxsize=4096)
def _marker(text: str) -> Marker:
    return Marker(text)


@lru_cache(maxsize=65536)
def _evaluate(text: str, env: tuple[tuple[str, str], ...]) -> bool:
    return _marker(text).evaluate(dict(env))


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
