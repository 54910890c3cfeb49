"""Capacity, restarts, priority, multi-node GPUs and the 2026 GPU fleet in rendered manifests:
golden files (each checked as the API server checks it, strict), the labels GKE's docs give
each kind of capacity, and clear errors for bad flags and config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from launcher_helpers import DIGEST, check_golden
from manifest_schemas import manifest_errors

from podlock.errors import PodlockError
from podlock.launcher import capacity
from podlock.launcher.accelerators import parse
from podlock.launcher.manifests import JobRequest, render

IMAGE = f"us-docker.pkg.dev/proj/repo/hello@{DIGEST}"
# (golden file, accelerator, extra render arguments)
GOLDEN = [
    ("capacity-spot-tpu-v6e-16.yaml", "tpu-v6e-16", ("--capacity", "spot")),
    ("capacity-reservation-tpu-v6e-8.yaml", "tpu-v6e-8", ("--capacity", "reservation:res-a")),
    (
        "capacity-shared-reservation-b200x8.yaml",
        "b200x8",
        ("--capacity", "reservation:projects/owner-proj/reservations/res-b"),
    ),
    ("capacity-flex-start-h100x8.yaml", "h100x8", ("--capacity", "flex-start")),
    (
        "capacity-flex-start-queued-h100x8.yaml",
        "h100x8",
        ("--capacity", "flex-start", "--queue", "dws-local-queue"),
    ),
    ("capacity-on-demand-h100x8.yaml", "h100x8", ("--capacity", "on-demand")),
    ("max-restarts-tpu-v6e-16.yaml", "tpu-v6e-16", ("--max-restarts", "3")),
    ("max-restarts-h100x8.yaml", "h100x8", ("--max-restarts", "2", "--capacity", "spot")),
    ("priority-h100x8.yaml", "h100x8", ("--priority", "high")),
    ("priority-queued-tpu-v6e-16.yaml", "tpu-v6e-16", ("--priority", "team-high", "--queue", "team-a")),
    ("h100x8-4-nodes.yaml", "h100x8", ("--nodes", "4", "--max-restarts", "1")),
    ("gb200x4.yaml", "gb200x4", ()),
    ("rtx-pro-6000x8-spot.yaml", "rtx-pro-6000x8", ("--capacity", "spot")),
]  # fmt: skip


def rendered(cli: Any, accelerator: str, *extra: str) -> str:
    result = cli(
        "render", "--accelerator", accelerator, "--image", IMAGE, *extra,
        "--", "python", "-m", "app.train",
    )  # fmt: skip
    assert result.code == 0, result.err
    for manifest in yaml.safe_load_all(result.out):
        assert manifest_errors(manifest) == []
    return str(result.out)


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["kind"] == "JobSet":
        job = manifest["spec"]["replicatedJobs"][0]["template"]["spec"]
    else:
        job = manifest["spec"]
    spec: dict[str, Any] = job["template"]["spec"]
    return spec


@pytest.mark.parametrize(("golden", "accelerator", "extra"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_capacity_restart_priority_and_fleet_manifests_match_golden_files(
    cli: Any, golden: str, accelerator: str, extra: tuple[str, ...]
) -> None:
    check_golden(golden, rendered(cli, accelerator, *extra))  # rendered() validates


def test_spot_selects_spot_nodes_and_tolerates_their_taint(cli: Any) -> None:
    [jobset] = yaml.safe_load_all(rendered(cli, "tpu-v6e-16", "--capacity", "spot"))
    pod = pod_spec(jobset)
    assert pod["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
    assert {
        "key": "cloud.google.com/gke-spot",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in pod["tolerations"]


def test_a_reservation_is_named_with_specific_affinity(cli: Any) -> None:
    [job] = yaml.safe_load_all(rendered(cli, "tpu-v6e-8", "--capacity", "reservation:res-a"))
    selector = pod_spec(job)["nodeSelector"]
    assert selector["cloud.google.com/reservation-name"] == "res-a"
    assert selector["cloud.google.com/reservation-affinity"] == "specific"
    shared = "reservation:projects/owner-proj/reservations/res-b"
    [job] = yaml.safe_load_all(rendered(cli, "b200x8", "--capacity", shared))
    assert pod_spec(job)["nodeSelector"]["cloud.google.com/reservation-project"] == "owner-proj"


def test_flex_start_asks_for_flex_start_nodes_and_queued_provisioning_when_queued(
    cli: Any,
) -> None:
    [job] = yaml.safe_load_all(rendered(cli, "h100x8", "--capacity", "flex-start"))
    pod = pod_spec(job)
    assert pod["nodeSelector"]["cloud.google.com/gke-flex-start"] == "true"
    assert not any(t["key"] == "cloud.google.com/gke-queued" for t in pod["tolerations"])
    [job] = yaml.safe_load_all(
        rendered(cli, "h100x8", "--capacity", "flex-start", "--queue", "dws-local-queue")
    )
    assert any(t["key"] == "cloud.google.com/gke-queued" for t in pod_spec(job)["tolerations"])
    assert job["spec"]["suspend"] is True


def test_on_demand_keeps_pods_off_spot_and_flex_start_nodes(cli: Any) -> None:
    [job] = yaml.safe_load_all(rendered(cli, "h100x8", "--capacity", "on-demand"))
    terms = pod_spec(job)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    [term] = terms["nodeSelectorTerms"]
    assert {e["key"]: e["operator"] for e in term["matchExpressions"]} == {
        "cloud.google.com/gke-spot": "NotIn",
        "cloud.google.com/gke-flex-start": "NotIn",
    }


def test_a_fallback_order_renders_its_first_kind_and_says_so(cli: Any) -> None:
    result = cli(
        "render", "--accelerator", "tpu-v6e-16", "--image", IMAGE,
        "--capacity", "reservation:res-a,spot", "--", "x",
    )  # fmt: skip
    assert result.code == 0, result.err
    [jobset] = yaml.safe_load_all(result.out)
    assert pod_spec(jobset)["nodeSelector"]["cloud.google.com/reservation-name"] == "res-a"
    assert "rendered for reservation:res-a, the first of reservation:res-a, then spot" in (
        result.err
    )


def test_max_restarts_gives_a_failure_policy_that_ignores_disruptions(cli: Any) -> None:
    [jobset] = yaml.safe_load_all(rendered(cli, "tpu-v6e-16", "--max-restarts", "3"))
    policy = jobset["spec"]["failurePolicy"]
    assert policy["maxRestarts"] == 3
    assert policy["rules"] == [
        {
            "name": "RestartAfterDisruption",
            "action": "RestartJobSetAndIgnoreMaxRestarts",
            "onJobFailureReasons": ["PodFailurePolicy"],
        }
    ]
    job = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert job["podFailurePolicy"]["rules"][0]["action"] == "FailJob"
    assert job["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["type"] == "DisruptionTarget"
    [single] = yaml.safe_load_all(rendered(cli, "h100x8", "--max-restarts", "2"))
    assert single["spec"]["backoffLimit"] == 2
    assert single["spec"]["podFailurePolicy"]["rules"][0]["action"] == "Ignore"


def test_priority_is_a_priority_class_or_kueues_label_when_queued(cli: Any) -> None:
    [job] = yaml.safe_load_all(rendered(cli, "h100x8", "--priority", "high"))
    assert pod_spec(job)["priorityClassName"] == "high"
    assert "kueue.x-k8s.io/priority-class" not in job["metadata"]["labels"]
    [queued] = yaml.safe_load_all(
        rendered(cli, "tpu-v6e-16", "--priority", "team-high", "--queue", "team-a")
    )
    assert queued["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "team-high"
    assert "priorityClassName" not in pod_spec(queued)


def test_four_gpu_nodes_are_one_jobset_with_the_rendezvous_environment(cli: Any) -> None:
    [jobset] = yaml.safe_load_all(rendered(cli, "h100x8", "--nodes", "4", "--name", "train"))
    assert jobset["kind"] == "JobSet"
    assert jobset["metadata"]["annotations"]["alpha.jobset.sigs.k8s.io/exclusive-topology"] == (
        "cloud.google.com/gke-nodepool"
    )  # all four nodes in one node pool
    [rjob] = jobset["spec"]["replicatedJobs"]
    job = rjob["template"]["spec"]
    assert (rjob["name"], rjob["replicas"], job["parallelism"], job["completions"]) == (
        "node", 1, 4, 4,
    )  # fmt: skip
    container = job["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "8"}  # a whole node each
    env = {e["name"]: e for e in container["env"]}
    assert env["MASTER_ADDR"]["value"] == "train-node-0-0.train"
    assert env["MASTER_PORT"]["value"] == "29500"
    assert env["WORLD_SIZE"]["value"] == "4"
    assert env["PET_NPROC_PER_NODE"]["value"] == "8"
    assert env["JAX_COORDINATOR_ADDRESS"]["value"] == "train-node-0-0.train:8476"
    assert env["JAX_NUM_PROCESSES"]["value"] == "4"
    index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    for name in ("NODE_RANK", "JAX_PROCESS_ID", "PET_NODE_RANK"):
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == index


def test_gb200_pins_arm64_nodes(cli: Any) -> None:
    [job] = yaml.safe_load_all(rendered(cli, "gb200x4"))
    selector = pod_spec(job)["nodeSelector"]
    assert selector == {
        "cloud.google.com/gke-accelerator": "nvidia-gb200",
        "kubernetes.io/arch": "arm64",
    }


def test_accelerators_json_lists_the_2026_gpu_fleet(cli: Any) -> None:
    result = cli("accelerators", "--format", "json")
    assert result.code == 0, result.err
    by_name = {a["name"]: a for a in json.loads(result.out)["accelerators"]}
    assert (by_name["b200x8"]["machine_type"], by_name["b200x8"]["arch"]) == (
        "a4-highgpu-8g", "amd64",
    )  # fmt: skip
    gb200 = by_name["gb200x4"]
    assert (gb200["machine_type"], gb200["arch"], gb200["platform"], gb200["per_pod"]) == (
        "a4x-highgpu-4g", "arm64", "linux/arm64", 4,
    )  # fmt: skip
    assert gb200["node_selector"]["cloud.google.com/gke-accelerator"] == "nvidia-gb200"
    assert {n: by_name[f"rtx-pro-6000x{n}"]["machine_type"] for n in (1, 2, 4, 8)} == {
        1: "g4-standard-48", 2: "g4-standard-96", 4: "g4-standard-192", 8: "g4-standard-384",
    }  # fmt: skip
    assert parse("RTX-PRO-6000:4").name == "rtx-pro-6000x4"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--capacity", "spto"), "--capacity 'spto': not a capacity kind"),
        (("--capacity", "reservation:"), "the reservation has no name"),
        (("--capacity", "reservation:Bad_Name"), "is not a reservation name"),
        (("--capacity", "spot,,on-demand"), "an empty capacity kind"),
        (("--capacity", "spot,spot"), "spot is listed twice"),
        (("--max-restarts", "-1"), "--max-restarts -1: not a number of restarts"),
        (("--priority", "High_Prio"), "is not a PriorityClass name"),
        (("--priority", "a.b", "--queue", "q"), "is not a Kueue WorkloadPriorityClass name"),
        (("--nodes", "4", "--accelerator", "tpu-v6e-8"), "tpu-v6e-8 is not a GPU node"),
        (("--nodes", "0"), "--nodes 0: a job needs at least one node"),
        (("--nodes", "2", "--env", "MASTER_ADDR=x"), "--env MASTER_ADDR: --nodes sets it"),
    ],
)
def test_bad_capacity_restart_priority_and_node_flags_are_clear_errors(
    cli: Any, extra: tuple[str, ...], expected: str
) -> None:
    args = ["render", "--accelerator", "h100x8", "--image", IMAGE, *extra, "--", "x"]
    result = cli(*args)
    assert result.code == 2, result.out
    assert expected in result.err and "Traceback" not in result.err


def test_launch_config_gives_capacity_restarts_and_priority_defaults(
    cli: Any, tmp_path: Path
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "podlock.toml").write_text(
        'variants = ["cpu"]\npython = "3.12"\n\n[launch]\nqueue = "team-a"\n'
        'capacity = "reservation:res-a,spot"\nmax-restarts = 2\npriority = "team-high"\n'
    )
    (root / "requirements.txt").write_text("numpy\n")
    [jobset] = yaml.safe_load_all(rendered(cli, "tpu-v6e-16", "--project", str(root)))
    assert pod_spec(jobset)["nodeSelector"]["cloud.google.com/reservation-name"] == "res-a"
    assert jobset["spec"]["failurePolicy"]["maxRestarts"] == 2
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "team-high"
    # flags win over the config
    [jobset] = yaml.safe_load_all(
        rendered(cli, "tpu-v6e-16", "--project", str(root), "--capacity", "spot")
    )
    assert pod_spec(jobset)["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
    (root / "podlock.toml").write_text('variants = ["cpu"]\n[launch]\ncapacity = "spott"\n')
    result = cli(
        "render", "--accelerator", "cpu", "--image", IMAGE, "--project", str(root), "--", "x"
    )
    assert (
        result.code == 2 and "[launch] capacity in " in result.err and "podlock.toml" in result.err
    )
    (root / "podlock.toml").write_text('variants = ["cpu"]\n[launch]\nmax-restarts = "3"\n')
    result = cli(
        "render", "--accelerator", "cpu", "--image", IMAGE, "--project", str(root), "--", "x"
    )
    assert result.code == 2 and "launch.max-restarts must be a whole number" in result.err


def test_capacity_parse_and_node_matching() -> None:
    spot, res = capacity.parse("spot, reservation:r1")
    assert (str(spot), str(res)) == ("spot", "reservation:r1")
    assert spot.matches({"cloud.google.com/gke-spot": "true"})
    assert not spot.matches({})
    on_demand = capacity.Capacity(kind="on-demand")
    assert on_demand.matches({}) and not on_demand.matches({"cloud.google.com/gke-spot": "true"})
    labels = {
        "cloud.google.com/reservation-name": "r1",
        "cloud.google.com/reservation-affinity": "specific",
    }
    assert res.matches(labels) and not res.matches({"cloud.google.com/reservation-name": "r2"})


def test_the_same_request_renders_the_same_bytes() -> None:
    request = JobRequest(
        name="t", image=IMAGE, command=("true",), accelerator=parse("h100x8"), nodes=3,
        capacity=capacity.parse("flex-start")[0], max_restarts=1, priority="high",
    )  # fmt: skip
    assert render(request) == render(request)
    with pytest.raises(PodlockError, match="a job needs at least one slice"):
        render(
            JobRequest(name="t", image=IMAGE, command=("x",), accelerator=parse("cpu"), slices=0)
        )
