"""The package layout is the pipeline: each package imports only the packages before it.

Order: leaves < inputs < lock < plan < registry < system < layers < resolver < builder < oci
< launcher < cli. Leaves (the top-level modules: errors, paths, process, ...) import only
leaves. Every import counts, those inside functions too (a lazy import is still an edge).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "podlock"

ORDER = (
    "inputs",
    "lock",
    "plan",
    "registry",
    "system",
    "layers",
    "resolver",
    "builder",
    "oci",
    "launcher",
    "cli",
)
ENTRY_POINTS = {"podlock.__main__"}  # runs the CLI: may import anything


@dataclass(frozen=True)
class Edge:
    module: str  # importing module, e.g. podlock.lock.export
    target: str  # imported module, e.g. podlock.plan.layerplan
    line: int
    path: Path

    def __str__(self) -> str:
        where = f"{self.path.relative_to(SRC.parent)}:{self.line}"
        return f"{where}: {self.module} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.is_dir() or base.with_suffix(".py").is_file()


def imports(path: Path) -> list[Edge]:
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    edges: list[Edge] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from podlock.lock import pylock` imports the module podlock.lock.pylock.
            targets = [
                f"{source}.{a.name}" if is_module(f"{source}.{a.name}") else source
                for a in node.names
            ]
        edges += [
            Edge(module, t, node.lineno, path)
            for t in dict.fromkeys(targets)
            if t == "podlock" or t.startswith("podlock.")
        ]
    return edges


def package_of(module: str) -> str:
    """``inputs`` for podlock.inputs.config; the module itself (a leaf) for podlock.errors."""
    parts = module.split(".")
    if len(parts) == 1:
        return "podlock"  # the package's __init__: __version__ only, a leaf
    if (ROOT / parts[1]).is_dir():
        return parts[1]
    return f"podlock.{parts[1]}"


def rank(package: str) -> int:
    """0 for leaves, then the place in ORDER; -1 for a package the order does not name."""
    if package == "podlock" or package.startswith("podlock."):
        return 0
    return ORDER.index(package) + 1 if package in ORDER else -1


def all_edges() -> list[Edge]:
    return [e for path in sorted(ROOT.rglob("*.py")) for e in imports(path)]


def test_the_order_names_every_package() -> None:
    packages = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name != "__pycache__")
    unknown = [p for p in packages if p not in ORDER and (ROOT / p / "__init__.py").exists()]
    assert not unknown, f"packages missing from the layout order in {__file__}: {unknown}"


def test_the_scan_sees_function_level_imports() -> None:
    edges = {(e.module, e.target) for e in all_edges()}
    assert ("podlock.cli.main", "podlock.cli.progress") in edges
    assert ("podlock.layers.install", "podlock.toolchain") in edges  # inside compiler_for


def test_packages_import_only_packages_before_them() -> None:
    wrong: list[str] = []
    for edge in all_edges():
        if edge.module in ENTRY_POINTS:
            continue
        src, dst = package_of(edge.module), package_of(edge.target)
        if src == dst:
            continue
        if rank(src) == 0 and rank(dst) != 0:
            wrong.append(f"{edge} (a leaf may import only leaves; {dst} is a package)")
        elif rank(dst) >= rank(src) and rank(src) != 0:
            wrong.append(f"{edge} (package {src} may import only packages before it; {dst} is not)")
    order = " < ".join(("leaves", *ORDER))
    assert not wrong, f"imports against the layout ({order}):\n" + "\n".join(wrong)
