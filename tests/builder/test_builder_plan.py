"""The pure part: plan → Dockerfile + context, golden files and determinism, no engine."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import testkit
from builder_helpers import (
    HELLO,
    RECORDED,
    RECORDED_URL,
    SYSTEM_TABLE,
    check_golden,
    record_lock,
    recorded_hello,
)
from index_server import IndexServer
from podlock.builder.dockerfile import Context, render, render_runtime_base
from podlock.inputs.discover import discover
from podlock.lock.pylock import LoadedLock, read_lock
from podlock.lock.status import check
from podlock.lock.system import SystemTar
from podlock.plan.codepackage import collect
from podlock.plan.layerplan import Wheel, plan
from testkit import podlock

MIB = 1024 * 1024


def planned(root: Path, variant: str, *, system: bool = False, **kw: Any) -> Any:
    """The plan for ``root``'s lock, with the URL-dependent fingerprint fixed for goldens;
    ``system``: as if the lock had curl locked as .debs (SYSTEM_TABLE, no network)."""
    loaded = read_lock(root / f"pylock.{variant}.toml")
    meta = dataclasses.replace(loaded.meta, fingerprint="sha256:" + "0" * 64)
    if system:
        meta = dataclasses.replace(meta, system_packages=("curl",), system=SYSTEM_TABLE)
    fixed: LoadedLock = dataclasses.replace(loaded, meta=meta)
    inputs = discover(root)
    code = collect(root, name="hello")
    return plan(fixed, inputs.config.variant(variant), code, lock_text="# lock\n", **kw)


def manifest(context: Context, base_url: str) -> str:
    """One line per context file: path and what it holds (port-independent)."""
    lines = []
    for path, source in context.all_files().items():
        if isinstance(source, bytes):
            data = source.replace(base_url.encode(), b"http://index")
            lines.append(f"{path}  bytes sha256:{hashlib.sha256(data).hexdigest()[:16]}")
        elif isinstance(source, Wheel):
            lines.append(f"{path}  wheel {source.package}=={source.version} {source.sha256[:16]}")
        elif isinstance(source, SystemTar):
            debs = " ".join(f"{d.name}={d.version}" for d in source.debs)
            lines.append(f"{path}  system layer {source.platform} on {source.base_image}: {debs}")
        else:
            lines.append(f"{path}  code")  # podlock.toml names the index's port
    return "\n".join(lines) + "\n"


def test_plan_orders_layers_from_stable_to_volatile(tmp_path: Path) -> None:
    p = planned(recorded_hello(tmp_path, "cpu"), "cpu", system=True, heavy_bytes=MIB)
    assert [(layer.kind, layer.name) for layer in p.layers] == [
        ("base", "base"),
        ("system", "system"),
        ("runtime", "runtime"),
        ("heavy", "heavy-bigpkg"),
        ("deps", "deps"),
        ("code", "code"),
        ("config", "config"),
    ]
    runtime = {w.package for w in p.layer("runtime").wheels["linux/amd64"]}
    assert runtime == {"jax", "jaxlib"}
    deps = {w.package for w in p.layer("deps").wheels["linux/arm64"]}
    assert deps == {"flax", "ml-dtypes", "msgpack", "numpy", "optax"}
    (big,) = p.layer("heavy-bigpkg").wheels["linux/amd64"]
    assert big.size > MIB and len(big.sha256) == 64 and big.url.startswith("http")
    assert p.system_packages == ("curl",)
    assert p.default_tag == "hello:cpu-000000000000"
    # Per platform: the arm64 jaxlib is another file than the amd64 one.
    jaxlib = {p: [w.filename for w in p_ if w.package == "jaxlib"] for p, p_ in
              p.layer("runtime").wheels.items()}  # fmt: skip
    assert "x86_64" in jaxlib["linux/amd64"][0] and "aarch64" in jaxlib["linux/arm64"][0]


def test_default_threshold_keeps_small_wheels_together(tmp_path: Path) -> None:
    p = planned(recorded_hello(tmp_path, "cpu"), "cpu")
    assert [layer.name for layer in p.wheel_layers] == ["runtime", "deps"]


def test_cuda_runtime_gets_nvidia_in_the_runtime_layer(tmp_path: Path) -> None:
    root = recorded_hello(tmp_path, "cuda")
    p = planned(root, "cuda")
    runtime = {w.package for w in p.layer("runtime").wheels["linux/amd64"]}
    assert {"jax", "jaxlib", "jax-cuda12-plugin", "nvidia-cublas-cu12"} <= runtime
    assert "flax" not in runtime


@pytest.mark.parametrize(
    ("variant", "mode"), [("cpu", "bundled"), ("cuda", "bundled"), ("cpu", "prebuilt")]
)
def test_dockerfile_golden(tmp_path: Path, variant: str, mode: str) -> None:
    root = recorded_hello(tmp_path, variant)
    p = planned(root, variant, system=variant == "cpu", heavy_bytes=MIB)
    ctx = render(p, "linux/amd64", mode=mode, runtime_base="podlock-runtime/x:y")  # type: ignore[arg-type]
    check_golden(f"{variant}-{mode}.Dockerfile", ctx.dockerfile)
    check_golden(f"{variant}-{mode}.context.txt", manifest(ctx, RECORDED_URL))


def test_runtime_base_golden(tmp_path: Path) -> None:
    p = planned(recorded_hello(tmp_path, "cpu"), "cpu", system=True, heavy_bytes=MIB)
    ctx = render_runtime_base(p, "linux/amd64", ca_cert=b"-----BEGIN CERTIFICATE-----\n")
    check_golden("cpu-runtime-base.Dockerfile", ctx.dockerfile)


def test_dockerfile_needs_no_buildkit_and_copies_code_last(tmp_path: Path) -> None:
    ctx = render(planned(recorded_hello(tmp_path, "cpu"), "cpu", heavy_bytes=MIB), "linux/amd64")
    text = ctx.dockerfile
    assert "--mount" not in text and "# syntax" not in text
    assert text.index("COPY code/") > max(
        text.index(f"--from=podlock-{n}") for n in ("runtime", "deps")
    )
    # Each wheel stage copies its own directory only: a layer's cache key is its inputs.
    for name in ("runtime", "heavy-bigpkg", "deps"):
        assert f"COPY layers/{name}/ /tmp/podlock-layer/" in text
    req = ctx.files["layers/deps/requirements.txt"]
    assert isinstance(req, bytes) and b"--hash=sha256:" in req and b"http" not in req


@pytest.mark.parametrize("variant", ["cpu", "cuda"])
def test_recorded_locks_are_what_podlock_lock_writes(
    hello: Callable[..., Path], index: IndexServer, variant: str
) -> None:
    """The locks the pure tests above read: hello locked now against the fixture index and
    rewritten for http://index (PODLOCK_REGEN_GOLDEN=1 records them again)."""
    root = hello(variants=f'["{variant}"]')
    for name, text in record_lock(root, variant, index.base_url).items():
        testkit.check_golden(RECORDED / variant / name, text)
    inputs = discover(root)
    assert check(inputs, [inputs.config.variant(variant)])[0].ok


def test_same_lock_gives_same_dockerfile_and_context_bytes(
    hello: Callable[..., Path], cli: Any, tmp_path: Path
) -> None:
    root = hello()
    trees = []
    args = ("dockerfile", "--project", str(root), "--variant", "cpu", "--output")
    result = cli(*args, str(tmp_path / "a"))
    assert result.code == 0, result.err
    child = podlock(*args, str(tmp_path / "b"))  # another process, another hash seed
    assert child.returncode == 0, child.stderr
    for out in (tmp_path / "a", tmp_path / "b"):
        tree = {}
        for path in sorted(out.rglob("*")):
            st = path.stat()
            data = path.read_bytes() if path.is_file() else b""
            tree[str(path.relative_to(out))] = (
                data,
                st.st_mode,
                int(st.st_mtime) if path.is_dir() or not path.name.endswith(".whl") else 0,
            )
        trees.append(tree)
    assert trees[0] == trees[1]
    assert (tmp_path / "a" / "Dockerfile").read_text().startswith("# Generated by podlock")


def test_code_change_touches_only_the_code_part_of_the_context(
    hello: Callable[..., Path], cli: Any, tmp_path: Path
) -> None:
    root = hello()

    def context(out: str) -> None:
        result = cli("dockerfile", "--project", str(root), "--variant", "cpu",
                     "--output", str(tmp_path / out))  # fmt: skip
        assert result.code == 0, result.err

    context("a")
    (root / "pkg" / "greeting.py").write_text('GREETING = "changed"\n')
    context("b")
    changed = [
        str(p.relative_to(tmp_path / "a"))
        for p in sorted((tmp_path / "a").rglob("*"))
        if p.is_file()
        and p.read_bytes() != (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes()
    ]
    assert changed == ["code/pkg/greeting.py"]


def test_package_list_shows_files_sizes_and_excluded_secrets(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "proj"
    shutil.copytree(HELLO, root)
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("ignored by .gitignore\n")
    (root / "debug.log").write_text("ignored\n")
    (root / "id_rsa").write_text("key\n")
    (root / ".aws").mkdir()
    (root / ".aws" / "config").write_text("[default]\n")
    (root / "pylock.cpu.toml").write_text("# lock\n")
    result = cli("package", "list", "--project", str(root))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    included = [line.split()[-1] for line in lines if line[:1] == " " or line[:1].isdigit()]
    assert included == [
        ".gitignore",
        "main.py",
        "pkg/__init__.py",
        "pkg/greeting.py",
        "requirements.txt",
    ]
    size = (root / "main.py").stat().st_size
    assert f"{size}  main.py" in result.out
    assert "excluded  .env  (secret: matches .env)" in lines
    assert "excluded  server.pem  (secret: matches *.pem)" in lines
    assert "excluded  id_rsa  (secret: matches id_rsa*)" in lines
    assert "excluded  .aws/config  (secret: inside .aws/)" in lines
    assert any(line.startswith("excluded  pylock.cpu.toml") for line in lines)
    assert "notes/todo.txt" not in result.out and "debug.log" not in result.out


def test_package_list_as_json(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "proj"
    shutil.copytree(HELLO, root)
    (root / "id_rsa").write_text("key\n")
    result = cli("package", "list", "--project", str(root), "--format", "json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    files = {f["path"]: f for f in document["files"]}
    main = (root / "main.py").read_bytes()
    assert files["main.py"]["size"] == len(main)
    assert files["main.py"]["sha256"] == hashlib.sha256(main).hexdigest()
    assert files["main.py"]["executable"] is False
    assert document["size"] == sum(f["size"] for f in document["files"])
    assert document["digest"] == collect(root, name="hello").digest
    assert document["source"] in ("git", "directory")
    assert {"path": "id_rsa", "reason": "secret: matches id_rsa*"} in document["excluded"]


def test_package_in_git_is_what_git_knows_minus_secrets(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(HELLO, root)
    (root / "debug.log").write_text("ignored\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "add", "-f", ".env", "main.py"], check=True, env=env)
    code = collect(root)
    assert code.source == "git"
    paths = [f.path for f in code.files]
    assert "main.py" in paths and "pkg/greeting.py" in paths  # tracked, and untracked-unignored
    assert "debug.log" not in paths and ".env" not in paths  # ignored; secret even if tracked
    assert [e.path for e in code.excluded if e.reason.startswith("secret")] == [
        ".env",
        "server.pem",
    ]
