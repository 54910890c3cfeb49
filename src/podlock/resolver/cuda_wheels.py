"""CUDA wheels in a lock for a host without a GPU (a ``cpu`` or ``tpu`` variant): the chain
of packages that pulled each in, and how to route it to a CPU build or keep it.

PyPI's torch is the CUDA build (15-17 ``nvidia-*`` wheels, ~4 GB for linux/amd64); a CPU
or TPU image that carries it pays for hardware it never has.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from podlock.inputs.config import Config, VariantConfig
from podlock.resolver.model import Resolved

# cuda-toolkit, cuda-bindings, cuda-python...: what torch >= 2.9 pulls in beside nvidia-*.
_CUDA_PREFIXES = ("nvidia-", "cuda-", "jax-cuda", "cupy-cuda")
_CUDA_NAMES = frozenset({"triton", "tensorrt"})
_TORCH = frozenset({"torch", "torchvision", "torchaudio"})


def is_cuda_runtime(name: str) -> bool:
    """Wheels that only a CUDA GPU uses (the CUDA libraries, CUDA plugins, triton)."""
    norm = canonicalize_name(name)
    return norm in _CUDA_NAMES or norm.startswith(_CUDA_PREFIXES)


def cuda_warnings(
    variant: VariantConfig, resolved: Sequence[Resolved], config: Config
) -> list[str]:
    """One warning per package that brings CUDA wheels into a cpu/tpu variant, naming the
    chain (``accelerate → torch → nvidia-cublas-cu12``); none for a ``cuda`` variant, for
    chains through a package in the variant's ``keep-cuda``, or for pure-Python wheels."""
    if variant.accelerator == "cuda":
        return []
    by_name = {r.name: r for r in resolved}
    culprits: dict[str, list[tuple[str, list[str]]]] = {}
    found_cuda = sorted(
        (not n.startswith("nvidia-"), n)
        for n, r in by_name.items()
        if is_cuda_runtime(n) and _binary(r)
    )
    for _, name in found_cuda:
        chain = _chain(name, by_name)
        if set(chain) & set(variant.keep_cuda):
            continue
        culprit = next((n for n in reversed(chain) if not is_cuda_runtime(n)), chain[0])
        culprits.setdefault(culprit, []).append((name, chain))
    table = f"[{'tool.podlock.' if config.file == 'pyproject.toml' else ''}"
    table += f"{config.variants_key}.{variant.name}]"
    out: list[str] = []
    for culprit, found in culprits.items():
        name, chain = found[0]
        more = [n for n, _ in found[1:]]
        also = f" (and {len(more)} more: {', '.join(more)})" if more else ""
        by_url = by_name.get(culprit)
        if by_url is not None and by_url.archive is not None and by_url.index is None:
            # ``torch @ URL``: the user's choice, so the variant's route does not apply.
            route = (
                f"replace the {culprit} URL with a CPU build's (a wheel without +cuXXX may "
                f"still be a CUDA build: PyPI's torch is one), or move the `{culprit} @ URL` "
                f"line to a cuda variant's requirements, so that {table}'s route applies"
            )
        elif culprit in _TORCH:
            route = f"route {culprit} to its CPU build: {table} sources = "
            route += f'{{ {culprit} = "pytorch-cpu" }}'
        elif len(chain) == 1 or chain[0] == culprit:
            route = (
                f"move {culprit} to the inputs of a cuda variant (its own requirements file or "
                "a cuda extra)"
            )
        else:
            route = f"route {culprit} to an index with a CPU build ({table} sources)"
        out.append(
            f"pylock.{variant.name}.toml holds CUDA wheels that a {variant.accelerator} host "
            f"cannot use: {' → '.join(chain)}{also}. To drop them, {route}; to keep them, add "
            f'keep-cuda = ["{culprit}"] to {table}'
        )
    return out


def _binary(resolved: Resolved) -> bool:
    """Whether the package carries binaries (CUDA libraries, kernels): a pure-Python wheel
    named like one (``nvidia-ml-py``: NVML bindings that load the host's driver, if any)
    costs a CPU image nothing. An sdist alone can't tell: it counts."""
    if not resolved.wheels:
        return True
    for wheel in resolved.wheels:
        try:
            tags = parse_wheel_filename(wheel.filename)[3]
        except InvalidWheelFilename:
            return True
        if any(t.platform != "any" for t in tags):
            return True
    return False


def _chain(name: str, by_name: Mapping[str, Resolved]) -> list[str]:
    """The shortest path from a requirement of the user's (a package nothing else in the
    variant requires) down to ``name``; deterministic (parents in name order)."""
    queue = deque([[name]])
    seen = {name}
    while queue:
        path = queue.popleft()
        node = by_name.get(path[0])
        parents = sorted(node.required_by) if node is not None else []
        if not parents:
            return path
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                queue.append([parent, *path])
    return [name]
