"""The daemonless builder end to end: reproducible digests, an image Docker runs, skopeo/umoci."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oci_helpers import oci_build, run
from podlock.lock.pylock import read_lock
from testkit import blob, layout_manifest, podlock, skip_or_fail


def build(cli: Any, base: str, root: Path, *extra: str) -> str:
    """Build on ``base`` (heavy layers from 1 MiB); the digest it prints."""
    result = oci_build(cli, root, "--base", base, "--heavy-mb", "1", *extra)
    assert result.code == 0, result.err
    return result.out.strip().splitlines()[-1]


def docker_run(image: str, *argv: str) -> str:
    """``argv`` in a fresh container of ``image``, without network; its stdout."""
    return run("docker", "run", "--rm", "--network", "none", image, *argv)


def test_image_runs_in_docker_with_every_locked_package_and_console_scripts(
    hello: Callable[..., Path], cli: Any, base_archive: str, docker_cli: str, tmp_path: Path
) -> None:
    root = hello()
    tarball = tmp_path / "image.tar"
    digest = build(
        cli, base_archive, root, "--output-tar", str(tarball), "--tag", "podlock-oci-test/hello:run"
    )
    print("manifest digest:", digest)
    assert digest.startswith("sha256:")
    loaded = run("docker", "load", "-i", str(tarball))
    assert "podlock-oci-test/hello:run" in loaded
    out = docker_run("podlock-oci-test/hello:run", "python", "main.py")
    assert "hello from the hello fixture, v1" in out
    assert "python=3.11 prefix=/opt/venv" in out
    dists = out.split("dists=", 1)[1].strip().split(",")
    lock = read_lock(root / "pylock.cpu.toml")
    locked = sorted(f"{p.name}=={p.version}" for p in lock.pylock.packages)
    assert sorted(d.lower().replace("_", "-") for d in dists) == locked
    scripts = docker_run(
        "podlock-oci-test/hello:run",
        "sh",
        "-c",
        "flax-hello && optax-hello && head -1 /opt/venv/bin/flax-hello",
    )
    assert "#!/opt/venv/bin/python" in scripts
    pyc = docker_run(
        "podlock-oci-test/hello:run",
        "python",
        "-c",
        "import flax, importlib.util as u; print(u.cache_from_source(flax.__file__))",
    )
    head = docker_run(
        "podlock-oci-test/hello:run",
        "python",
        "-c",
        f"print(open({pyc.strip()!r}, 'rb').read(8)[4:8].hex())",
    )
    assert head.strip() == "01000000"  # flags: hash-based, check_source off (unchecked-hash)
    inspect = json.loads(run("docker", "inspect", "podlock-oci-test/hello:run"))[0]
    assert inspect["Config"]["WorkingDir"] == "/app"
    assert inspect["Config"]["Labels"]["dev.podlock.variant"] == "cpu"


def test_two_builds_in_different_dirs_umasks_and_clocks_give_one_digest(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path, monkeypatch: Any
) -> None:
    first = hello("one")
    second = hello("two")
    os.utime(second / "main.py", (1_800_000_000, 1_800_000_000))
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    d1 = build(cli, base_archive, first, "--output-dir", str(out1))
    # The other side: a child with another umask, hash seed and cache.
    old = os.umask(0o077)
    try:
        child = podlock(
            "build", "--builder", "oci", "--project", str(second), "--variant", "cpu",
            "--base", base_archive, "--heavy-mb", "1", "--output-dir", str(out2),
            env={"PODLOCK_CACHE_DIR": str(tmp_path / "other-cache")},
        )  # fmt: skip
    finally:
        os.umask(old)
    assert child.returncode == 0, child.stderr
    d2 = child.stdout.strip().splitlines()[-1]
    print("manifest digest:", d1)
    assert d1 == d2
    index = json.loads((out1 / "index.json").read_text())
    assert index["manifests"][0]["digest"] == d1
    assert (out1 / "index.json").read_bytes() == (out2 / "index.json").read_bytes()


def test_layout_is_accepted_by_skopeo_and_umoci(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path
) -> None:
    if not (shutil.which("skopeo") and shutil.which("umoci")):
        skip_or_fail("skopeo/umoci missing")
    root = hello()
    out = tmp_path / "layout"
    digest = build(cli, base_archive, root, "--output-dir", str(out), "--tag", "hello:v1")
    info = json.loads(run("skopeo", "inspect", f"oci:{out}:hello:v1"))
    assert info["Digest"] == digest
    assert info["Labels"]["dev.podlock.builder"] == "oci"
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--rootless", "--image", f"{out}:hello:v1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "opt/venv/pyvenv.cfg").read_text().startswith("home = /usr/bin\n")
    assert os.readlink(rootfs / "opt/venv/bin/python") == "/usr/bin/python3.11"
    assert (rootfs / "app/main.py").is_file()
    assert (rootfs / "opt/podlock/pylock.cpu.toml").is_file()
    assert not (rootfs / "app/server.pem").exists()
    manifest = layout_manifest(out)
    config = json.loads(blob(out, manifest["config"]["digest"]))
    assert config["created"] == "1980-01-01T00:00:00Z"
    assert config["config"]["Env"][-4:] == [
        "VIRTUAL_ENV=/opt/venv",
        "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONUNBUFFERED=1",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
    ]


def test_same_wheels_give_the_same_layer_blobs_across_projects(
    hello: Callable[..., Path], base_archive: str, tmp_path: Path
) -> None:
    from testkit import build_oci_at

    one = hello("a")
    other = hello("b")
    (other / "main.py").write_text('print("a different project")\n')
    first = build_oci_at(one, "cpu", base=base_archive, tag="one:v1").built.images[0]
    second = build_oci_at(other, "cpu", base=base_archive, tag="other:v1").built.images[0]
    by_name = lambda image: dict(zip(image.names[1:], image.layers[1:], strict=True))  # noqa: E731
    a, b = by_name(first), by_name(second)
    for name in ("venv", "runtime", "deps"):
        assert a[name].digest == b[name].digest, name
    assert a["code"].digest != b["code"].digest


def test_multi_platform_build_writes_an_image_index(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path
) -> None:
    from podlock.registry.base import open_base
    from podlock.registry.blobs import BlobStore
    from podlock.registry.model import INDEX, MANIFEST, canonical
    from podlock.reporter import NullReporter

    # A two-platform base layout: the real amd64 base, and the same layers labelled arm64
    # (never run; enough for podlock to pick per-platform wheels, bases and interpreters).
    store = BlobStore()
    amd = open_base(base_archive, ["linux/amd64"], store, NullReporter())["linux/amd64"]
    base_dir = tmp_path / "base-layout"
    (base_dir / "blobs" / "sha256").mkdir(parents=True)
    manifests = []
    for arch in ("amd64", "arm64"):
        config = canonical({**amd.config, "architecture": arch})
        cfg = store.put(config)
        body = canonical(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": cfg,
                    "size": len(config),
                },
                "layers": [d.to_dict() for d in amd.layers],
            }
        )
        manifests.append(
            {
                "mediaType": MANIFEST,
                "digest": store.put(body),
                "size": len(body),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
        for digest in (cfg, manifests[-1]["digest"], *(d.digest for d in amd.layers)):
            store.copy_into(digest, base_dir / "blobs" / "sha256" / digest[7:])
    index = canonical({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})
    top = store.put(index)
    store.copy_into(top, base_dir / "blobs" / "sha256" / top[7:])
    (base_dir / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (base_dir / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": INDEX,
                        "digest": top,
                        "size": len(index),
                        "annotations": {"org.opencontainers.image.ref.name": "bookworm"},
                    }
                ],
            }
        )
    )
    root = hello()
    out = tmp_path / "out"
    digest = build(
        cli,
        f"oci-layout:{base_dir}:bookworm",
        root,
        "--platform",
        "linux/amd64,linux/arm64",
        "--output-dir",
        str(out),
        "--tag",
        "multi:v1",
    )
    top_index = json.loads(blob(out, digest))
    assert top_index["mediaType"] == INDEX
    assert [m["platform"]["architecture"] for m in top_index["manifests"]] == ["amd64", "arm64"]
    wheels = {}
    for m in top_index["manifests"]:
        manifest = json.loads(blob(out, m["digest"]))
        config = json.loads(blob(out, manifest["config"]["digest"]))
        assert config["architecture"] == m["platform"]["architecture"]
        wheels[config["architecture"]] = [layer["digest"] for layer in manifest["layers"]]
    assert wheels["amd64"][:2] == wheels["arm64"][:2]  # base and venv layers shared
    assert wheels["amd64"] != wheels["arm64"]  # jaxlib differs per platform
    for arch in ("amd64", "arm64"):
        info = json.loads(run("skopeo", "--override-arch", arch, "inspect", f"oci:{out}:multi:v1"))
        assert info["Architecture"] == arch


def test_zstd_layers_are_written_with_the_zstd_media_type(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path
) -> None:
    import zstandard

    root = hello()
    out = tmp_path / "out"
    build(
        cli, base_archive, root, "--compression", "zstd", "--output-dir", str(out), "--tag", "z:v1"
    )
    manifest = layout_manifest(out)
    ours = manifest["layers"][1:]
    assert {layer["mediaType"] for layer in ours} == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    code = zstandard.ZstdDecompressor().decompressobj().decompress(blob(out, ours[-1]["digest"]))
    assert b"app/main.py" in code
    json.loads(run("skopeo", "inspect", f"oci:{out}:z:v1"))


def test_load_puts_the_image_into_the_engine(
    hello: Callable[..., Path], cli: Any, base_archive: str, docker_cli: str
) -> None:
    root = hello()
    digest = build(cli, base_archive, root, "--load", "--tag", "podlock-oci-test/hello:loaded")
    out = docker_run("podlock-oci-test/hello:loaded", "python", "main.py")
    assert "hello from the hello fixture, v1" in out
    assert digest.startswith("sha256:")


def test_oci_only_options_pick_the_oci_builder_and_docker_refuses_them(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path
) -> None:
    root = hello()
    picked = cli(
        "build",
        "--project",
        str(root),
        "--variant",
        "cpu",
        "--base",
        base_archive,
        "--output-dir",
        str(tmp_path / "out"),
    )
    assert picked.code == 0, picked.err
    assert (tmp_path / "out" / "index.json").is_file()
    refused = cli(
        "build",
        "--builder",
        "docker",
        "--project",
        str(root),
        "--variant",
        "cpu",
        "--output-dir",
        str(tmp_path / "x"),
    )
    assert refused.code != 0 and "add --builder oci" in refused.err
