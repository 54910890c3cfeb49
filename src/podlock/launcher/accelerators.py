"""The accelerator catalog: a name (``v6e-16``, ``h100x8``, ``cpu``) → what a pod needs.

Our naming convention (names disagree between tools, see research/launchers.md):
- TPU names follow Cloud TPU accelerator types, with or without a ``tpu-`` prefix.
  ``v5litepod-N`` (alias ``v5e-N``) and ``v6e-N`` count **chips**; ``v5p-N`` counts
  **TensorCores** (2 per chip), so ``v5p-8`` is 4 chips on one host.
- ``tpu7x-N`` (Ironwood) counts **TensorCores** like v5p (2 per chip; xpk's ``tpu7x-8`` is
  one 4-chip ``tpu7x-standard-4t`` VM, 2x2x1). Every tpu7x VM has 4 chips; its multi-host
  node pools are placed by a GKE workload policy (``--placement-policy``) instead of
  ``--tpu-topology``, but their nodes still carry the ``gke-tpu-topology`` label the pods
  select (GKE docs: concepts/tpu-ironwood; AI-Hypercomputer/xpk system_characteristics.py).
- ``2x4`` (8 chips) is one 8-chip VM (``ct6e-standard-8t`` / ``ct5lp-hightpu-8t``), the
  default GKE single-host node pool; slices above 8 chips are 4-chip VMs, one pod each.
- GPUs are ``l4``, ``a100``, ``a100-80gb``, ``h100``, ``h200``, ``b200``, ``gb200`` and
  ``rtx-pro-6000`` with ``xN`` (``h100x8``) or ``:N`` (``H100:8``); no count means the
  smallest node (1 GPU; 8 for h200 and b200, 4 for gb200). GKE label values are looked up in
  a table, never built by string concatenation (XManager's ``'nvidia-tesla-'+name`` is wrong
  for L4 and H100).
- The 2026 fleet, from Compute Engine's "GPU machine types" and GKE's GPU pages: A4
  (``a4-highgpu-8g``, 8 ``nvidia-b200``), A4X (``a4x-highgpu-4g``, 4 ``nvidia-gb200``: the
  GB200 superchip's host CPU is NVIDIA Grace, so A4X nodes are **arm64**), G4
  (``g4-standard-48/96/192/384``, 1/2/4/8 ``nvidia-rtx-pro-6000``). A spec's ``arch`` is its
  hosts' architecture: an arm64 accelerator's pods select ``kubernetes.io/arch: arm64`` and
  its image must be built for linux/arm64.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from podlock.errors import PodlockError

Kind = Literal["tpu", "gpu", "cpu"]
Arch = Literal["amd64", "arm64"]
# tpu-topology: the node pool is made with --tpu-topology; workload-policy: with a workload
# policy (--placement-policy), as Ironwood's multi-host pools are; none: single VM or GPU.
Placement = Literal["none", "tpu-topology", "workload-policy"]
TPU_ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator"
TPU_TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"
GPU_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
TPU_RESOURCE = "google.com/tpu"
GPU_RESOURCE = "nvidia.com/gpu"
ARCH_LABEL = "kubernetes.io/arch"  # the kubelet's well-known node label
# Which variant's lock runs on each kind of hardware (config.ACCELERATORS values).
VARIANT_ACCELERATOR: Mapping[Kind, str] = {"tpu": "tpu", "gpu": "cuda", "cpu": "cpu"}


class UnknownAccelerator(PodlockError):
    def __init__(self, name: str, close: list[str], *, sizes: str = "") -> None:
        hint = (
            f"did you mean {' or '.join(close)}? `podlock accelerators` lists them all"
            if close
            else "`podlock accelerators` lists the names podlock knows"
        )
        super().__init__(f"unknown accelerator {name!r}{sizes}", hint=hint)
        self.name = name
        self.close = close


@dataclass(frozen=True, kw_only=True)
class AcceleratorSpec:
    """What one slice or GPU node needs: selectors, resources per pod, and pod count."""

    name: str  # canonical: "tpu-v6e-16", "h100x8", "cpu"
    kind: Kind
    chips: int = 0  # TPU chips in the slice, or GPUs on the node
    hosts: int = 1  # pods (one per VM)
    topology: str = ""
    machine_type: str = ""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    placement: Placement = "none"  # how GKE places a multi-host node pool of this slice
    arch: Arch = "amd64"  # the hosts' CPU architecture (A4X's Grace: arm64)

    @property
    def multi_host(self) -> bool:
        return self.hosts > 1

    @property
    def per_host(self) -> int:
        """``google.com/tpu`` / ``nvidia.com/gpu`` requested by each pod."""
        return self.chips // self.hosts

    @property
    def resource(self) -> str | None:
        return {"tpu": TPU_RESOURCE, "gpu": GPU_RESOURCE}.get(self.kind)

    @property
    def variant_accelerator(self) -> str:
        return VARIANT_ACCELERATOR[self.kind]

    @property
    def platform(self) -> str:
        """The image platform its hosts run: ``linux/amd64`` or ``linux/arm64``."""
        return f"linux/{self.arch}"


@dataclass(frozen=True)
class _TpuFamily:
    gke: str  # cloud.google.com/gke-tpu-accelerator value
    cores_per_chip: int  # what the N in the name counts
    slices: Mapping[int, tuple[str, str, int]]  # N -> (topology, machine type, hosts)
    multi_host_placement: Placement = "tpu-topology"


# v5e and v6e slices have the same shapes: up to 8 chips on one VM, larger ones on 4-chip VMs.
_V5E_V6E_TOPOLOGIES = {
    1: "1x1", 4: "2x2", 8: "2x4", 16: "4x4", 32: "4x8", 64: "8x8", 128: "8x16", 256: "16x16",
}  # fmt: skip


def _v5e_v6e_slices(machine: str) -> Mapping[int, tuple[str, str, int]]:
    """The slices of a family whose VMs are ``{machine}-{chips}t``."""
    return {
        n: (topology, f"{machine}-{n}t", 1) if n <= 8 else (topology, f"{machine}-4t", n // 4)
        for n, topology in _V5E_V6E_TOPOLOGIES.items()
    }


_TPUS: Mapping[str, _TpuFamily] = {
    "v5litepod": _TpuFamily("tpu-v5-lite-podslice", 1, _v5e_v6e_slices("ct5lp-hightpu")),
    "v5p": _TpuFamily(
        "tpu-v5p-slice",
        2,
        {
            8: ("2x2x1", "ct5p-hightpu-4t", 1),
            16: ("2x2x2", "ct5p-hightpu-4t", 2),
            32: ("2x2x4", "ct5p-hightpu-4t", 4),
            64: ("2x4x4", "ct5p-hightpu-4t", 8),
            128: ("4x4x4", "ct5p-hightpu-4t", 16),
        },
    ),
    "v6e": _TpuFamily("tpu-v6e-slice", 1, _v5e_v6e_slices("ct6e-standard")),
    # Ironwood: 4 chips per VM, 2 TensorCores per chip; N counts TensorCores, as in xpk.
    "tpu7x": _TpuFamily(
        "tpu7x",
        2,
        {
            8: ("2x2x1", "tpu7x-standard-4t", 1),
            16: ("2x2x2", "tpu7x-standard-4t", 2),
            32: ("2x2x4", "tpu7x-standard-4t", 4),
            64: ("2x4x4", "tpu7x-standard-4t", 8),
            128: ("4x4x4", "tpu7x-standard-4t", 16),
            256: ("4x4x8", "tpu7x-standard-4t", 32),
            512: ("4x8x8", "tpu7x-standard-4t", 64),
        },
        multi_host_placement="workload-policy",
    ),
}
_TPU_ALIASES = {"v5e": "v5litepod", "v5lite": "v5litepod", "v7x": "tpu7x", "ironwood": "tpu7x"}


@dataclass(frozen=True)
class _Gpu:
    gke: str  # cloud.google.com/gke-accelerator value
    machines: Mapping[int, str]  # count -> machine type
    arch: Arch = "amd64"


_GPUS: Mapping[str, _Gpu] = {
    "l4": _Gpu(
        "nvidia-l4",
        {1: "g2-standard-4", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"},
    ),
    "a100": _Gpu(
        "nvidia-tesla-a100",
        {
            1: "a2-highgpu-1g",
            2: "a2-highgpu-2g",
            4: "a2-highgpu-4g",
            8: "a2-highgpu-8g",
            16: "a2-megagpu-16g",
        },
    ),
    "a100-80gb": _Gpu(
        "nvidia-a100-80gb",
        {1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g", 8: "a2-ultragpu-8g"},
    ),
    "h100": _Gpu(
        "nvidia-h100-80gb",
        {1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g", 8: "a3-highgpu-8g"},
    ),
    "h200": _Gpu("nvidia-h200-141gb", {8: "a3-ultragpu-8g"}),
    "b200": _Gpu("nvidia-b200", {8: "a4-highgpu-8g"}),  # A4
    "gb200": _Gpu("nvidia-gb200", {4: "a4x-highgpu-4g"}, arch="arm64"),  # A4X: Grace hosts
    "rtx-pro-6000": _Gpu(  # G4
        "nvidia-rtx-pro-6000",
        {1: "g4-standard-48", 2: "g4-standard-96", 4: "g4-standard-192", 8: "g4-standard-384"},
    ),
}
_GPU_ALIASES = {
    "a100-40gb": "a100", "h100-80gb": "h100", "h200-141gb": "h200", "rtxpro6000": "rtx-pro-6000",
    "rtx-pro6000": "rtx-pro-6000",
}  # fmt: skip

CPU = AcceleratorSpec(name="cpu", kind="cpu")

_TPU_NAME = re.compile(r"^(?:tpu-?)?(v5litepod|v5lite|v5e|v5p|v6e|tpu7x|7x|v7x|ironwood)-(\d+)$")
_GPU_NAME = re.compile(r"^([a-z][a-z0-9]*?(?:-80gb|-40gb|-141gb|-pro-?6000)?)(?:[x:](\d+))?$")


def parse(name: str) -> AcceleratorSpec:
    """The spec for ``name``; an unknown name is an error listing the closest known ones."""
    text = name.strip().lower()
    if text in ("cpu", "none"):
        return CPU
    m = _TPU_NAME.match(text)
    if m:
        alias = "tpu7x" if m.group(1) == "7x" else m.group(1)  # "tpu7x-8" loses its "tpu"
        family_name = _TPU_ALIASES.get(alias, alias)
        family = _TPUS[family_name]
        size = int(m.group(2))
        if size in family.slices:
            topology, machine, hosts = family.slices[size]
            return AcceleratorSpec(
                name=_tpu_name(family_name, size),
                kind="tpu",
                chips=size // family.cores_per_chip,
                hosts=hosts,
                topology=topology,
                machine_type=machine,
                node_selector={TPU_ACCELERATOR_LABEL: family.gke, TPU_TOPOLOGY_LABEL: topology},
                placement=family.multi_host_placement if hosts > 1 else "none",
            )
        sizes = ", ".join(str(n) for n in family.slices)
        close = [_tpu_name(family_name, n) for n in _nearest(size, family.slices)]
        raise UnknownAccelerator(name, close, sizes=f" ({family_name} comes in {sizes})")
    m = _GPU_NAME.match(text)
    gpu_name = _GPU_ALIASES.get(m.group(1), m.group(1)) if m else ""
    gpu = _GPUS.get(gpu_name)
    if m and gpu is not None:
        count = int(m.group(2) or min(gpu.machines))
        if count in gpu.machines:
            return AcceleratorSpec(
                name=f"{gpu_name}x{count}",
                kind="gpu",
                chips=count,
                machine_type=gpu.machines[count],
                node_selector=_with_arch({GPU_ACCELERATOR_LABEL: gpu.gke}, gpu.arch),
                arch=gpu.arch,
            )
        counts = ", ".join(str(n) for n in gpu.machines)
        close = [f"{gpu_name}x{n}" for n in _nearest(count, gpu.machines)]
        raise UnknownAccelerator(name, close, sizes=f" ({gpu_name} nodes have {counts} GPUs)")
    raise UnknownAccelerator(name, difflib.get_close_matches(text, names(), n=3, cutoff=0.5))


def _with_arch(selector: dict[str, str], arch: Arch) -> dict[str, str]:
    """``selector``, pinned to arm64 nodes for an arm64 accelerator (amd64 is left implicit,
    as GKE's x86 node pools are what a selector without it has always meant)."""
    return {**selector, ARCH_LABEL: arch} if arch != "amd64" else selector


def _tpu_name(family: str, size: int | str) -> str:
    """``tpu-v6e-16``; Ironwood keeps Google's own spelling, ``tpu7x-16``."""
    return f"{family}-{size}" if family.startswith("tpu") else f"tpu-{family}-{size}"


def _nearest(n: int, known: Mapping[int, object]) -> list[str]:
    return [str(k) for k in sorted(known, key=lambda k: (abs(k - n), k))[:2]]


def names() -> list[str]:
    """Every canonical name, in catalog order."""
    out = ["cpu"]
    for family_name, family in _TPUS.items():
        out += [_tpu_name(family_name, size) for size in family.slices]
    for gpu_name, gpu in _GPUS.items():
        out += [f"{gpu_name}x{count}" for count in gpu.machines]
    return out


def catalog() -> list[AcceleratorSpec]:
    return [parse(n) for n in names()]


def table() -> str:
    """The catalog as a fixed-width table (what ``podlock accelerators`` prints)."""
    rows = [
        ("NAME", "KIND", "CHIPS", "HOSTS", "PER POD", "TOPOLOGY", "MACHINE", "ARCH", "GKE LABELS")
    ]
    for spec in catalog():
        labels = ",".join(f"{k.rsplit('/', 1)[-1]}={v}" for k, v in spec.node_selector.items())
        rows.append(
            (
                spec.name,
                spec.kind,
                str(spec.chips or "-"),
                str(spec.hosts),
                f"{spec.per_host} {spec.resource}" if spec.resource else "-",
                spec.topology or "-",
                spec.machine_type or "-",
                spec.arch,
                labels or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    notes = [
        "",
        "v5litepod (alias v5e) and v6e names count chips; v5p and tpu7x (Ironwood, alias v7x) "
        "names count TensorCores (v5p-8 = tpu7x-8 = 4 chips).",
        "tpu7x VMs have 4 chips; multi-host tpu7x node pools are placed by a workload policy "
        "(--placement-policy), not --tpu-topology.",
        "A tpu- prefix is optional. GPUs: NAMExN or NAME:N (h100x8, H100:8); no count: the "
        "smallest node.",
        "gb200 (A4X) hosts are arm64 (NVIDIA Grace): its variant must lock and build linux/arm64.",
    ]
    return "\n".join(lines + notes) + "\n"
