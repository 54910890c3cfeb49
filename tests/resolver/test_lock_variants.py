"""``podlock lock`` on the fixture index: variants, runtime stripping, routing, pruning."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from packaging.pylock import Pylock

from index_server import IndexServer
from testkit import PYTHON, fixture_config


def make(tmp_path: Path, index: IndexServer, requirements: str, extra: str = "") -> Path:
    root = tmp_path / "proj"
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    (root / "podlock.toml").write_text(fixture_config(index, extra))
    return root


def load(root: Path, variant: str) -> dict[str, Any]:
    data = tomllib.loads((root / f"pylock.{variant}.toml").read_text())
    Pylock.from_dict(data)
    return data


def pins(data: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in data["packages"]}


def wheel_names(data: dict[str, Any], name: str) -> list[str]:
    (pkg,) = [p for p in data["packages"] if p["name"] == name]
    return [w["name"] for w in pkg.get("wheels", [])]


def test_three_variants_each_get_their_runtime(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "flax\njax==0.6.2\n")
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "requirements.txt:2: 'jax==0.6.2' stripped" in result.err
    cpu, cuda, tpu = (load(root, v) for v in ("cpu", "cuda", "tpu"))
    # The stripped pin no longer decides: each variant gets the newest matching runtime.
    assert pins(cpu)["jax"] == pins(tpu)["jax"] == pins(cuda)["jax"] == "0.7.0"
    assert pins(tpu)["libtpu"] == "0.0.20"
    assert "libtpu" not in pins(cpu) and "libtpu" not in pins(cuda)
    assert {"jax-cuda12-plugin", "jax-cuda12-pjrt", "nvidia-cublas-cu12"} <= set(pins(cuda))
    assert "jax-cuda12-plugin" not in pins(cpu)
    for data, variant in ((cpu, "cpu"), (cuda, "cuda"), (tpu, "tpu")):
        assert data["created-by"] == "podlock"
        assert data["requires-python"] == f"=={PYTHON}.*"
        tool = data["tool"]["podlock"]
        assert tool["variant"] == variant
        assert tool["stripped"] == [{"file": "requirements.txt", "line": 2, "text": "jax==0.6.2"}]
        assert tool["fingerprint"].startswith("sha256:")
        for pkg in data["packages"]:
            for art in [*pkg.get("wheels", []), *([pkg["sdist"]] if "sdist" in pkg else [])]:
                assert art["url"].startswith(index.base_url)
                assert art["size"] > 0
                assert len(art["hashes"]["sha256"]) == 64
    assert tpu["tool"]["podlock"]["runtime"] == ["jax[tpu]"]
    assert "libtpu" in tpu["tool"]["podlock"]["runtime-packages"]
    assert tpu["environments"] == ["sys_platform == 'linux' and platform_machine == 'x86_64'"]


def test_kn_keep_pins_jax_and_the_runtime_follows(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "flax\njax==0.6.2  # kn:keep\n")
    assert cli("lock", "--project", str(root), "--variant", "tpu").code == 0
    tpu = load(root, "tpu")
    assert pins(tpu)["jax"] == "0.6.2"
    assert pins(tpu)["jaxlib"] == "0.6.2"
    assert pins(tpu)["libtpu"] == "0.0.17"  # the libtpu that jax 0.6.2 needs
    assert tpu["tool"]["podlock"]["kept"] == [
        {"file": "requirements.txt", "line": 2, "text": "jax==0.6.2"}
    ]
    assert not (root / "pylock.cpu.toml").exists()


def test_kn_keep_with_extras_keeps_the_flavour_in_a_cuda_variant(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "flax\njax[cpu]  # kn:keep\n", 'variants = ["cuda"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "stripped" not in result.err
    cuda = load(root, "cuda")
    assert "jax" in pins(cuda)
    assert not {"jax-cuda12-plugin", "jax-cuda12-pjrt", "nvidia-cublas-cu12"} & set(pins(cuda))
    assert cuda["tool"]["podlock"]["kept"] == [
        {"file": "requirements.txt", "line": 2, "text": "jax[cpu]"}
    ]


def test_runtime_is_added_when_jax_arrives_indirectly(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "flax\n")
    assert cli("lock", "--project", str(root)).code == 0
    assert "libtpu" in pins(load(root, "tpu"))
    assert "jax-cuda12-plugin" in pins(load(root, "cuda"))
    assert load(root, "tpu")["tool"]["podlock"]["runtime"] == ["jax[tpu]"]
    assert load(root, "tpu")["tool"]["podlock"]["stripped"] == []


def test_torch_is_routed_per_variant(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    extra = '[variant.cuda]\nsources = { torch = "pytorch-cu121" }\n'
    root = make(tmp_path, index, "torchvision\n", 'variants = ["cpu", "cuda"]\n' + extra)
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    cpu, cuda = load(root, "cpu"), load(root, "cuda")
    assert pins(cpu)["torch"] == "2.4.0+cpu"
    assert pins(cuda)["torch"] == "2.4.0+cu121"
    (torch_cpu,) = [p for p in cpu["packages"] if p["name"] == "torch"]
    assert torch_cpu["index"] == index.url("cpu")
    assert "nvidia-cublas-cu12" in pins(cuda) and "nvidia-cublas-cu12" not in pins(cpu)
    assert index.url("cu121") in cuda["tool"]["podlock"]["indexes"]


def test_wheels_are_kept_only_for_the_variants_platforms(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    extra = '[variant.cpu]\nplatforms = ["linux/amd64", "darwin/arm64"]\n'
    root = make(tmp_path, index, "numpy\nmdpkg\n", 'variants = ["cpu", "tpu"]\n' + extra)
    assert cli("lock", "--project", str(root)).code == 0
    cpu, tpu = load(root, "cpu"), load(root, "tpu")
    cp = f"cp{PYTHON.replace('.', '')}"
    assert sorted(wheel_names(tpu, "numpy")) == [
        f"numpy-2.1.0-{cp}-{cp}-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    ]
    assert sorted(wheel_names(cpu, "numpy")) == [
        f"numpy-2.1.0-{cp}-{cp}-macosx_11_0_arm64.whl",
        f"numpy-2.1.0-{cp}-{cp}-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]
    # Markers: colorama is win32-only (absent), appnope only on the mac platform.
    assert "colorama" not in pins(cpu)
    (appnope,) = [p for p in cpu["packages"] if p["name"] == "appnope-fake"]
    assert appnope["marker"] == "(sys_platform == 'darwin' and platform_machine == 'arm64')"
    assert "appnope-fake" not in pins(tpu)
    assert "marker" not in next(p for p in cpu["packages"] if p["name"] == "uvloop-fake")


def test_a_package_without_a_wheel_for_a_platform_is_a_clear_error(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "libtpu  # kn:keep\n", 'variants = ["cpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 2
    assert "a package has no wheel for one of the variant's platforms" in result.err
    assert "all versions of libtpu have no `linux/arm64`-compatible wheels" in result.err
    assert "remove the platform from the variant's platforms" in result.err
    assert "podlock-resolve" not in result.err
    assert not (root / "pylock.cpu.toml").exists()


def test_sdist_only_yanked_and_prereleases(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    root = make(tmp_path, index, "sdistonly\nyankee\nprerel\n", 'variants = ["tpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    tpu = load(root, "tpu")
    assert pins(tpu)["yankee"] == "1.0"
    assert pins(tpu)["prerel"] == "1.0"
    (sdist_only,) = [p for p in tpu["packages"] if p["name"] == "sdistonly"]
    assert sdist_only["sdist"]["name"] == "sdistonly-1.0.tar.gz"
    assert "wheels" not in sdist_only
    root2 = make(tmp_path / "b", index, "prerel>=2.0b1\n", 'variants = ["tpu"]\n')
    assert cli("lock", "--project", str(root2)).code == 0
    assert pins(load(root2, "tpu"))["prerel"] == "2.0b1"


def test_pyproject_projects_with_config_keep(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    root = tmp_path / "pp"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "pp"\nversion = "1"\ndependencies = ["jax==0.6.2", "optax"]\n'
        "[tool.podlock]\n"
        + fixture_config(index, 'keep = ["jax"]\nvariants = ["tpu"]\n').replace(
            "[indexes]", "[tool.podlock.indexes]"
        )
    )
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert pins(load(root, "tpu"))["libtpu"] == "0.0.17"
