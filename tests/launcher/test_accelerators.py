"""The accelerator catalog: names, counts, GKE labels and the naming pitfalls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podlock.launcher.accelerators import UnknownAccelerator, names, parse


@pytest.mark.parametrize(
    ("name", "canonical", "chips", "hosts", "per_host", "topology", "gke"),
    [
        ("tpu-v6e-8", "tpu-v6e-8", 8, 1, 8, "2x4", "tpu-v6e-slice"),
        ("v6e-16", "tpu-v6e-16", 16, 4, 4, "4x4", "tpu-v6e-slice"),
        ("v5litepod-4", "tpu-v5litepod-4", 4, 1, 4, "2x2", "tpu-v5-lite-podslice"),
        ("tpu-v5e-16", "tpu-v5litepod-16", 16, 4, 4, "4x4", "tpu-v5-lite-podslice"),
        # v5p counts TensorCores: v5p-8 is 4 chips on one host, v5p-16 is 8 chips on two.
        ("v5p-8", "tpu-v5p-8", 4, 1, 4, "2x2x1", "tpu-v5p-slice"),
        ("TPU-V5P-16", "tpu-v5p-16", 8, 2, 4, "2x2x2", "tpu-v5p-slice"),
    ],
)
def test_tpu_names_follow_cloud_tpu_types(
    name: str, canonical: str, chips: int, hosts: int, per_host: int, topology: str, gke: str
) -> None:
    spec = parse(name)
    assert (spec.name, spec.kind, spec.chips, spec.hosts, spec.per_host) == (
        canonical, "tpu", chips, hosts, per_host,
    )  # fmt: skip
    assert spec.node_selector == {
        "cloud.google.com/gke-tpu-accelerator": gke,
        "cloud.google.com/gke-tpu-topology": topology,
    }
    assert spec.resource == "google.com/tpu"
    assert spec.variant_accelerator == "tpu"
    assert spec.multi_host == (hosts > 1)


@pytest.mark.parametrize(
    ("name", "canonical", "count", "label"),
    [
        ("l4", "l4x1", 1, "nvidia-l4"),
        ("a100x4", "a100x4", 4, "nvidia-tesla-a100"),
        ("a100-80gbx8", "a100-80gbx8", 8, "nvidia-a100-80gb"),
        ("H100:8", "h100x8", 8, "nvidia-h100-80gb"),
        ("h100x8", "h100x8", 8, "nvidia-h100-80gb"),
        ("h200", "h200x8", 8, "nvidia-h200-141gb"),
    ],
)
def test_gpu_names_and_labels_come_from_a_table(
    name: str, canonical: str, count: int, label: str
) -> None:
    spec = parse(name)
    assert (spec.name, spec.kind, spec.chips, spec.hosts) == (canonical, "gpu", count, 1)
    assert spec.node_selector == {"cloud.google.com/gke-accelerator": label}
    assert spec.resource == "nvidia.com/gpu"
    assert spec.variant_accelerator == "cuda"


def test_cpu_needs_no_selector_and_runs_the_cpu_variant() -> None:
    spec = parse("cpu")
    assert (spec.kind, spec.node_selector, spec.resource, spec.variant_accelerator) == (
        "cpu", {}, None, "cpu",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "close", "said"),
    [
        ("tpu-v6e-7", "tpu-v6e-8", "v6e comes in 1, 4, 8"),
        ("v5p-4", "tpu-v5p-8", "v5p comes in 8, 16"),
        ("l4x3", "l4x2", "l4 nodes have 1, 2, 4, 8 GPUs"),
        ("h10", "h100x8", ""),
        ("tpu-v6-8", "tpu-v6e-8", ""),
    ],
)
def test_unknown_names_list_the_closest_known_ones(name: str, close: str, said: str) -> None:
    with pytest.raises(UnknownAccelerator) as err:
        parse(name)
    assert close in err.value.close
    assert said in err.value.message
    assert close in (err.value.hint or "")


def test_every_catalog_name_parses_back_to_itself() -> None:
    assert all(parse(n).name == n for n in names())


def test_accelerators_command_prints_the_catalog(cli: Any) -> None:
    result = cli("accelerators")
    assert result.code == 0
    rows = {line.split()[0]: line for line in result.out.splitlines() if line.strip()}
    assert "tpu-v5p-8" in rows and "2x2x1" in rows["tpu-v5p-8"]
    assert "gke-tpu-accelerator=tpu-v6e-slice" in rows["tpu-v6e-16"]
    assert "gke-accelerator=nvidia-h100-80gb" in rows["h100x8"]
    assert "TensorCores" in result.out


def test_accelerators_as_json(cli: Any) -> None:
    result = cli("accelerators", "--format", "json")
    assert result.code == 0
    specs = {a["name"]: a for a in json.loads(result.out)["accelerators"]}
    assert specs["tpu-v5p-8"]["topology"] == "2x2x1" and specs["tpu-v5p-8"]["kind"] == "tpu"
    v6e = specs["tpu-v6e-16"]
    assert (v6e["chips"], v6e["hosts"], v6e["per_pod"]) == (16, 4, 4)
    assert v6e["resource"] == "google.com/tpu"
    assert v6e["node_selector"]["cloud.google.com/gke-tpu-accelerator"] == "tpu-v6e-slice"
    assert specs["h100x8"]["node_selector"]["cloud.google.com/gke-accelerator"] == (
        "nvidia-h100-80gb"
    )
    assert specs["cpu"]["resource"] is None and specs["cpu"]["machine_type"] is None
