"""The images teams ship: multi-GB stacks from the real PyPI, built by both builders, run
offline. Each test locks a project, builds it with the daemonless builder (loaded into the
engine) and with the engine builder, runs both images with ``--network none``, and deletes
what it made (podlock cache, engine images): a CUDA torch image takes ~20 GB while built.

Marked ``heavy`` (and ``engine``): ``-m "not heavy"`` or the fast path leave them out; CI runs
them. Several GB of wheels each, from PyPI: 2-8 minutes a test here (~20 minutes in all).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import services
from podlock.engine import Engine
from testkit import BASE_IMAGE, podlock

pytestmark = pytest.mark.heavy

BUILD_TIMEOUT = 1500


@dataclass(frozen=True)
class Stack:
    name: str
    variant: str
    requirements: str
    check: str  # a Python program whose last output line must match ``expect``
    expect: str  # a regular expression


TORCH_CUDA = "import torch; print(torch.__version__, torch.version.cuda)"
STACKS = [
    # torch 2.7-2.9 pull the CUDA 12.8 nvidia-* wheels, which all ship nvidia/__init__.py.
    Stack("torch-cu12", "cuda", "torch==2.9.1\n", TORCH_CUDA, r"2\.9\.1\+cu128 12\.8$"),
    # A Hugging Face project: torch only through accelerate, so the current release (CUDA 13
    # wheels, which do not ship nvidia/__init__.py).
    Stack(
        "hf-accelerate",
        "cuda",
        "accelerate\nnumpy\n",
        "import accelerate, torch; print(torch.__version__, torch.version.cuda)",
        r"2\.\d+\.\d+\S* 13\.\d+$",
    ),
    Stack(
        "jax-cuda12",
        "cuda",
        "jax\n",
        "import jax, jax_cuda12_plugin; print('jax', jax.__version__)",
        r"jax 0\.\d+",
    ),
    Stack(
        "tpu-cpu-torch",
        "tpu",
        "torch\n",
        "import torch; print(torch.__version__, torch.version.cuda)",
        r"2\.13\.0\+cpu None$",
    ),
]


@pytest.fixture
def clean_engine(engine: Engine) -> Iterator[Engine]:
    """The engine; every image the test adds (tags and layer images) is removed after it."""
    before = {img.id for img in engine.client.images.list(all=True)}
    try:
        yield engine
    finally:
        services.force_remove_since(engine.client, before)


def _project(root: Path, stack: Stack, indexes: str) -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text(stack.requirements)
    (root / "podlock.toml").write_text(
        f'python = "3.11"\nvariants = ["{stack.variant}"]\n'
        f'[variant.{stack.variant}]\nplatforms = ["linux/amd64"]\nbase-image = "{BASE_IMAGE}"\n'
        + indexes
    )
    (root / "check.py").write_text(stack.check + "\n")
    return root


def _ok(done: subprocess.CompletedProcess[str], what: str) -> str:
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return done.stdout


def _run_offline(image: str) -> str:
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, "python", "/app/check.py"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{image}: {done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("stack", STACKS, ids=lambda s: s.name)
def test_a_heavy_stack_builds_with_both_builders_and_imports_offline(
    stack: Stack,
    tmp_path: Path,
    clean_engine: Engine,
    base_archive: str,
    cpu_torch_index: str,
) -> None:
    indexes = f'[indexes]\npytorch-cpu = "{cpu_torch_index}"\n'
    root = _project(tmp_path / stack.name, stack, indexes)
    cache = tmp_path / "podlock-cache"
    env = {"PODLOCK_CACHE_DIR": str(cache)}
    try:
        _ok(podlock("lock", "--project", str(root), env=env, timeout=600), "lock")
        oci_tag = f"podlock-heavy/{stack.name}:oci"
        _ok(
            podlock(
                "build", "--builder", "oci", "--project", str(root), "--variant", stack.variant,
                "--base", base_archive, "--tag", oci_tag, "--load",
                env=env, timeout=BUILD_TIMEOUT,
            ),
            "build --builder oci",
        )  # fmt: skip
        assert re.match(stack.expect, _run_offline(oci_tag))
        clean_engine.client.images.remove(oci_tag, force=True)
        engine_tag = f"podlock-heavy/{stack.name}:engine"
        built = podlock(
            "build", "--project", str(root), "--variant", stack.variant, "--tag", engine_tag,
            env=env, timeout=BUILD_TIMEOUT,
        )  # fmt: skip
        _ok(built, "build (engine)")
        assert re.match(stack.expect, _run_offline(engine_tag))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_podlock_dockerfile_of_cuda_torch_builds_with_docker_build_and_imports_offline(
    tmp_path: Path, clean_engine: Engine
) -> None:
    """The third renderer: `podlock dockerfile`'s context, built by `docker build` (classic
    builder), installs the CUDA 12 nvidia-* wheels in the image (pip, in stages)."""
    stack = STACKS[0]
    root = _project(tmp_path / stack.name, stack, "")
    cache = tmp_path / "podlock-cache"
    env = {"PODLOCK_CACHE_DIR": str(cache)}
    context = tmp_path / "context"
    try:
        _ok(podlock("lock", "--project", str(root), env=env, timeout=600), "lock")
        _ok(
            podlock(
                "dockerfile", "--project", str(root), "--variant", stack.variant,
                "--output", str(context), env=env, timeout=BUILD_TIMEOUT,
            ),
            "dockerfile",
        )  # fmt: skip
        shutil.rmtree(cache)  # the context holds the wheels: the build needs nothing else
        tag = f"podlock-heavy/{stack.name}:dockerfile"
        done = subprocess.run(
            ["docker", "build", "-q", "--network", "none", "-t", tag, str(context)],
            capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        shutil.rmtree(context)
        assert re.match(stack.expect, _run_offline(tag))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(context, ignore_errors=True)
