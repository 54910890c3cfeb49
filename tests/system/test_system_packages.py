"""System packages locked as .debs against the real bookworm mirror and installed from the
lock by both builders. Live (PyPI and deb.debian.org) and engine tests; bounded."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from podlock.engine import Engine
from podlock.layers.system import deb_cache
from podlock.lock.system import Deb
from testkit import BASE_IMAGE, docker

pytestmark = pytest.mark.live


def project(root: Path, requirements: str, system: str) -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text(requirements)
    (root / "podlock.toml").write_text(
        'python = "3.11"\nvariants = ["cpu"]\n'
        f"system-packages = {system}\n"
        f'[variant.cpu]\nbase-image = "{BASE_IMAGE}"\nplatforms = ["linux/amd64"]\n'
    )
    return root


def debs(root: Path) -> dict[str, str]:
    data = tomllib.loads((root / "pylock.cpu.toml").read_text())
    return {d["name"]: d["version"] for d in data["tool"]["podlock"]["system"]["debs"]}


def test_opencv_with_libgl_locks_debs_and_runs_from_both_builders(
    engine: Engine, base_archive: str, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "cv", "opencv-python\n", '["libgl1", "libglib2.0-0"]')
    locked = cli("lock", "--project", str(root))
    assert locked.code == 0, locked.err
    table = tomllib.loads((root / "pylock.cpu.toml").read_text())["tool"]["podlock"]["system"]
    assert table["distribution"] == "debian 12 (bookworm)"
    names = debs(root)
    # the asked-for packages and dependencies the debootstrap base lacks, not what it has
    assert {"libgl1", "libglib2.0-0", "libglx0", "libglvnd0", "libx11-6"} <= set(names)
    assert "libc6" not in names
    for d in table["debs"]:
        assert d["url"].startswith("http://deb.debian.org/debian/pool/")
        assert len(d["sha256"]) == 64 and d["size"] > 0 and d["architecture"] in ("amd64", "all")
    assert cli("lock", "--project", str(root), "--check").code == 0

    built = cli("build", "--builder", "oci", "--project", str(root), "--variant", "cpu",
                "--base", base_archive, "--load", "--tag", "cvsys:oci")  # fmt: skip
    assert built.code == 0, built.err
    out = docker("run", "--rm", "--network", "none", "cvsys:oci",
                 "python", "-c", "import cv2; print(cv2.__version__)")  # fmt: skip
    assert out.strip()
    query = ["run", "--rm", "--network", "none"]
    fmt = ["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *sorted(names)]
    oci_versions = docker(*query, "cvsys:oci", *fmt)
    assert dict(line.split(" ", 1) for line in oci_versions.splitlines()) == names

    # the same lock elsewhere, with another cache: the same image digest
    other = tmp_path / "elsewhere" / "cv"
    other.parent.mkdir()
    other.mkdir()
    for name in ("requirements.txt", "podlock.toml", "pylock.cpu.toml"):
        (other / name).write_bytes((root / name).read_bytes())
    first = cli("build", "--builder", "oci", "--project", str(root), "--variant", "cpu",
                "--base", base_archive, "--output-dir", str(tmp_path / "l1"), "--tag", "v1")  # fmt: skip
    monkeypatch.setenv("PODLOCK_CACHE_DIR", str(tmp_path / "cache2"))
    second = cli("build", "--builder", "oci", "--project", str(other), "--variant", "cpu",
                 "--base", base_archive, "--output-dir", str(tmp_path / "l2"), "--tag", "v1")  # fmt: skip
    assert first.code == 0 and second.code == 0, first.err + second.err
    assert (tmp_path / "l1" / "index.json").read_bytes() == (
        tmp_path / "l2" / "index.json"
    ).read_bytes()

    # the Docker builder installs the same versions, from the same layer, without apt
    docker_built = cli("build", "--project", str(root), "--variant", "cpu", "--tag", "cvsys:docker")
    assert docker_built.code == 0, docker_built.err
    assert docker(*query, "cvsys:docker", *fmt) == oci_versions
    diff_ids = [
        docker("inspect", "-f", "{{json .RootFS.Layers}}", ref)
        for ref in ("cvsys:oci", "cvsys:docker")
    ]
    assert diff_ids[0].split(",")[1] == diff_ids[1].split(",")[1]  # the system layer

    # a tampered .deb in the cache is refused, naming the package
    entry = next(d for d in table["debs"] if d["name"] == "libgl1")
    deb = Deb.from_dict(entry)
    cached = next(deb_cache().root.glob(f"*/{deb.sha256}/*.deb"), None)
    assert cached is not None
    cached.write_bytes(cached.read_bytes()[:-1] + b"X")
    for memo in (tmp_path / "cache2" / "oci" / "layers").glob("*.json"):
        memo.unlink()  # so the layer is rebuilt from the debs
    tampered = cli("build", "--builder", "oci", "--project", str(other), "--variant", "cpu",
                   "--base", base_archive, "--tag", "v2")  # fmt: skip
    assert tampered.code != 0
    assert "hash mismatch for libgl1" in tampered.err


def test_a_package_that_does_not_exist_is_named_with_the_base(
    engine: Engine, cli: Any, tmp_path: Path
) -> None:
    root = project(tmp_path / "nope", "", '["no-such-package-podlock"]')
    result = cli("lock", "--project", str(root))
    assert result.code != 0
    assert "system package no-such-package-podlock" in result.err
    assert BASE_IMAGE in result.err and "no candidate" in result.err


def test_ffmpeg_locks_its_large_tree_and_runs_without_network(
    engine: Engine, base_archive: str, cli: Any, tmp_path: Path
) -> None:
    root = project(tmp_path / "ff", "", '["ffmpeg"]')
    locked = cli("lock", "--project", str(root))
    assert locked.code == 0, locked.err
    names = debs(root)
    assert len(names) > 100 and {"ffmpeg", "libavcodec59", "libblas3"} <= set(names)
    built = cli("build", "--builder", "oci", "--project", str(root), "--variant", "cpu",
                "--base", base_archive, "--load", "--tag", "ffsys:oci")  # fmt: skip
    assert built.code == 0, built.err
    run = ["run", "--rm", "--network", "none", "ffsys:oci"]
    upstream = names["ffmpeg"].partition(":")[2]  # 7:5.1.9-0+deb12u1: ffmpeg omits the epoch
    assert docker(*run, "ffmpeg", "-version").startswith(f"ffmpeg version {upstream} ")
    # libblas.so.3 is an alternatives link (libblas3's postinst), made by podlock
    link = docker(*run, "readlink", "-f", "/usr/lib/x86_64-linux-gnu/libblas.so.3")
    assert link.startswith("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3")
    got = docker(*run, "dpkg-query", "-W", "-f", "${Version}", "ffmpeg")
    assert got == names["ffmpeg"]


def test_dockerfile_path_adds_the_locked_layer_with_no_apt_and_no_network(
    engine: Engine, cli: Any, tmp_path: Path
) -> None:
    root = project(tmp_path / "jq", "", '["jq"]')
    assert cli("lock", "--project", str(root)).code == 0
    names = debs(root)
    out = tmp_path / "context"
    made = cli("dockerfile", "--project", str(root), "--variant", "cpu", "--output", str(out))
    assert made.code == 0, made.err
    text = (out / "Dockerfile").read_text()
    assert "ADD layers/system.tar /" in text and "apt" not in text
    docker("build", "--network", "none", "-q", "-t", "jqsys:dockerfile", str(out))
    run = ["run", "--rm", "--network", "none", "jqsys:dockerfile"]
    got = docker(*run, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", *sorted(names))
    assert got == "".join(f"{n} {v}\n" for n, v in sorted(names.items()))
    assert docker(*run, "jq", "-n", "1+1").strip() == "2"


def test_a_pinned_version_is_locked_and_a_missing_pin_is_named(
    engine: Engine, cli: Any, tmp_path: Path
) -> None:
    free = project(tmp_path / "free", "", '["jq"]')
    assert cli("lock", "--project", str(free)).code == 0
    version = debs(free)["jq"]
    pinned = project(tmp_path / "pinned", "", f'["jq={version}"]')
    result = cli("lock", "--project", str(pinned))
    assert result.code == 0, result.err
    assert debs(pinned) == debs(free)
    gone = project(tmp_path / "gone", "", '["jq=0.0-1"]')
    result = cli("lock", "--project", str(gone))
    assert result.code != 0
    assert "system package jq=0.0-1: no candidate" in result.err and version in result.err
