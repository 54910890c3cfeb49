"""``name @ url`` for a routed package (torch): kept where its wheel can run in the variant,
else replaced by the variant's route with a warning that names the line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from test_lock_variants import load, make, pins

from index_server import IndexServer
from podlock.inputs.config import preset
from podlock.inputs.direct import UrlFit, url_fit
from testkit import PYTHON

CP = f"cp{PYTHON.replace('.', '')}"
AMD64 = "manylinux_2_17_x86_64.manylinux2014_x86_64"
AMD64_ONLY = 'platforms = ["linux/amd64"]\n'


def _wheel(version: str) -> str:
    return f"torch-{version}-{CP}-{CP}-{AMD64}.whl"


def test_a_wheel_fits_by_its_local_version_and_platform_tags() -> None:
    cpu = preset("cpu", name="cpu", python=PYTHON)
    cuda = preset("cuda", name="cuda", python=PYTHON)
    amd64, arm64 = cpu.platforms
    base = "https://download.pytorch.org/whl"
    cu121 = Requirement(f"torch @ {base}/cu121/torch-2.4.0%2Bcu121-{CP}-{CP}-linux_x86_64.whl")
    assert url_fit(cu121, cpu) == UrlFit(
        platforms=(), reason="a CUDA build (+cu121), which a cpu host cannot use"
    )
    assert url_fit(cu121, cuda) == UrlFit(platforms=(amd64,), reason="a wheel for linux/amd64 only")
    plain = Requirement(f"torch @ {base}/cpu/torch-2.10.0%2Bcpu-{CP}-{CP}-linux_x86_64.whl")
    assert url_fit(plain, replace(cpu, platforms=(amd64,))) == UrlFit(platforms=(amd64,))
    mac = Requirement(f"torch @ {base}/torch-2.10.0-{CP}-none-macosx_11_0_arm64.whl")
    assert url_fit(mac, cpu).platforms == ()
    assert "none of the variant's platforms" in (url_fit(mac, cpu).reason or "")
    git = Requirement("torch @ git+https://github.com/pytorch/pytorch")
    assert url_fit(git, cpu) == UrlFit(platforms=(amd64, arm64))


def test_a_direct_url_that_fits_is_kept_and_not_routed(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    url = index.file_url("cpu", _wheel("2.4.0+cpu"))
    extra = 'variants = ["cpu", "cuda"]\n[variant.cpu]\n' + AMD64_ONLY
    extra += '[variant.cuda]\nsources = { torch = "pytorch-cu121" }\n' + AMD64_ONLY
    root = make(tmp_path, index, f"torch @ {url}\n", extra)
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "torch @" not in result.err
    cpu, cuda = load(root, "cpu"), load(root, "cuda")
    (torch,) = [p for p in cpu["packages"] if p["name"] == "torch"]
    assert "index" not in torch  # the URL, not the route
    assert [w["url"] for w in torch.get("wheels", [])] == [url] or torch["archive"]["url"] == url
    assert pins(cuda)["torch"] == "2.4.0+cpu"  # a CPU build runs on a GPU host too: kept


def test_a_cuda_url_in_a_cpu_variant_is_replaced_by_the_route_with_a_warning(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    url = index.file_url("cu121", _wheel("2.4.0+cu121"))
    root = make(tmp_path, index, f"numpy\ntorch @ {url}\n", 'variants = ["cpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert f"requirements.txt:2: 'torch @ {url}' is a CUDA build (+cu121)" in result.err
    assert f"pylock.cpu.toml has torch 2.4.0+cpu from {index.url('cpu')} instead" in result.err
    cpu = load(root, "cpu")
    assert pins(cpu)["torch"] == "2.4.0+cpu"
    assert "nvidia-cublas-cu12" not in pins(cpu)


def test_a_url_to_pypis_cuda_torch_in_a_cpu_variant_is_kept_and_the_hint_fits_a_url(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    """maxdiffusion's case: PyPI's torch by URL (no +cu suffix, yet a CUDA build)."""
    url = index.file_url("pypi", _wheel("2.4.0"))
    extra = 'variants = ["cpu"]\n[variant.cpu]\n' + AMD64_ONLY
    root = make(tmp_path, index, f"torch @ {url}\n", extra)
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "nvidia-cublas-cu12" in pins(load(root, "cpu"))  # the user's choice, kept
    assert "holds CUDA wheels that a cpu host cannot use: torch → nvidia-cublas-cu12" in result.err
    assert "move the `torch @ URL` line to a cuda variant's requirements" in result.err
    assert 'sources = { torch = "pytorch-cpu" }' not in result.err  # the route can't apply


def test_a_url_for_one_of_the_platforms_is_kept_there_and_routed_elsewhere(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    """maxdiffusion's case: an x86_64 CPU torch by URL, locked for linux/amd64 and arm64."""
    url = index.file_url("cpu", _wheel("2.4.0+cpu"))
    root = make(tmp_path, index, f"numpy\ntorch @ {url}\n", 'variants = ["cpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert (
        f"requirements.txt:2: 'torch @ {url}' is a wheel for linux/amd64 only; for linux/arm64, "
        f"pylock.cpu.toml has torch 2.4.0+cpu from {index.url('cpu')} instead"
    ) in result.err
    cpu = load(root, "cpu")
    torches = [p for p in cpu["packages"] if p["name"] == "torch"]
    assert len(torches) == 2
    by_url = [p for p in torches if "index" not in p]
    assert by_url and url in str(by_url[0])
    assert "nvidia-cublas-cu12" not in pins(cpu)
    amd = cli("export", "--project", str(root), "--variant", "cpu", "--platform", "linux/amd64")
    arm = cli("export", "--project", str(root), "--variant", "cpu", "--platform", "linux/arm64")
    assert amd.code == arm.code == 0, amd.err + arm.err
    assert f"torch @ {url} \\\n" in amd.out and "torch==" not in amd.out
    assert "torch==2.4.0+cpu \\\n" in arm.out and "torch @" not in arm.out
