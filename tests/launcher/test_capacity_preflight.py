"""The preflight with capacity, versions and priorities, against the in-process API server:
node pools labelled as GKE labels Spot, reservation and flex-start nodes; the fallback order
walked; a missing reservation named; a JobSet CRD too old for failurePolicy named; Kueue's
served version used; restarts read back for `jobs status`; an arm64 accelerator's lock
checked before anything is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_server import FakeKube
from launcher_helpers import UNREACHABLE_IMAGE

from podlock.launcher import capacity
from podlock.launcher.accelerators import parse
from podlock.launcher.cluster import Cluster
from podlock.launcher.job import state_of
from podlock.launcher.manifests import JobRequest
from podlock.launcher.preflight import run
from podlock.launcher.restarts import Restarts, restarts_of


def request(accelerator: str, **kw: Any) -> JobRequest:
    return JobRequest(
        name="train", image=UNREACHABLE_IMAGE, command=("python", "t.py"),
        accelerator=parse(accelerator), **kw,
    )  # fmt: skip


def custom_launch(cli: Any, accelerator: str, *extra: str) -> Any:
    return cli(
        "launch", "--mode", "custom", "--image", UNREACHABLE_IMAGE, "--accelerator",
        accelerator, *extra, "--dry-run", "--", "python", "train.py",
    )  # fmt: skip


def test_the_fallback_order_is_walked_to_the_first_kind_with_node_pools(
    cli: Any, kube: FakeKube
) -> None:
    kube.add_accelerator_pools("tpu-v6e-16", 1, capacity="spot")
    kube.add_accelerator_pools("tpu-v6e-16", 1, capacity="reservation:res-a")
    result = custom_launch(cli, "tpu-v6e-16", "--capacity", "reservation:res-x,spot,on-demand")
    assert result.code == 0, result.err
    [jobset] = yaml.safe_load_all(result.out)
    pod = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
    assert "cloud.google.com/reservation-name" not in pod["nodeSelector"]
    # per capacity kind, the node pools found
    assert "capacity reservation:res-x: no node pool for tpu-v6e-16" in result.err
    assert "capacity spot: tpu-v6e-16-spot-0 (4 nodes) for tpu-v6e-16" in result.err
    assert "capacity: using spot, the first of reservation:res-x, then spot, then on-demand" in (
        result.err
    )


def test_a_missing_reservation_is_named_with_what_the_cluster_has(kube: FakeKube) -> None:
    kube.nodes = []
    kube.add_accelerator_pools("tpu-v6e-8", 1, capacity="reservation:res-a")
    kube.add_accelerator_pools("tpu-v6e-8", 1, capacity="spot")
    order = capacity.parse("reservation:res-x")
    outcome = run(Cluster.connect(), request("tpu-v6e-8", capacity=order[0]), order)
    [finding] = outcome.findings
    assert (finding.check, finding.severity) == ("capacity", "missing")
    assert "no node pool consumes reservation res-x" in finding.message
    assert "tpu-v6e-8-reservation-res-a-0 (reservation:res-a), 1 nodes" in finding.message
    assert "tpu-v6e-8-spot-0 (spot), 1 nodes" in finding.message
    assert "--reservation-affinity specific --reservation res-x" in finding.hint


def test_flex_start_pools_scaled_to_zero_are_a_warning_with_the_autoscaler(
    kube: FakeKube,
) -> None:
    kube.autoscaler = True
    order = capacity.parse("flex-start")
    outcome = run(Cluster.connect(), request("h100x8", capacity=order[0]), order)
    [finding] = outcome.findings
    assert finding.severity == "warning" and "for capacity flex-start right now" in finding.message
    assert outcome.capacity == order[0]


def test_a_missing_flex_start_pool_says_how_gke_makes_one(kube: FakeKube) -> None:
    order = capacity.parse("flex-start")
    req = request("h100x8", capacity=order[0], queue="team-a")
    findings = run(Cluster.connect(), req, order).findings
    [finding] = [f for f in findings if f.severity == "missing"]
    assert "no flex-start node pool" in finding.message
    assert "--flex-start --enable-queued-provisioning --enable-autoscaling" in finding.hint


def test_queued_flex_start_without_provisioning_requests_is_a_warning(kube: FakeKube) -> None:
    kube.add_accelerator_pools("h100x8", 1, capacity="flex-start")
    order = capacity.parse("flex-start")
    req = request("h100x8", capacity=order[0], queue="team-a")
    [finding] = run(Cluster.connect(), req, order).findings
    assert finding.severity == "warning" and "no ProvisioningRequest API" in finding.message
    kube.served["autoscaling.x-k8s.io"] = ["v1"]
    assert run(Cluster.connect(), req, order).findings == []


def test_four_gpu_nodes_need_a_pool_of_four(kube: FakeKube) -> None:
    [finding] = run(Cluster.connect(), request("h100x8", nodes=4)).findings
    assert finding.message.startswith("0 node pool(s) hold a whole slice of 4 nodes of h100x8")
    assert "--accelerator type=nvidia-h100-80gb,count=8 --num-nodes 4" in finding.hint
    kube.add_accelerator_pools("h100x8", 1, nodes=4)
    assert run(Cluster.connect(), request("h100x8", nodes=4)).findings == []


def test_a_jobset_crd_too_old_for_failure_policy_rules_is_named(cli: Any, kube: FakeKube) -> None:
    version = kube.jobset_crd["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    del spec["failurePolicy"]["properties"]["rules"]  # as JobSet releases before KEP-262
    result = custom_launch(cli, "tpu-v6e-16", "--max-restarts", "3")
    assert result.code == 2
    assert "the JobSet CRD here (jobset.x-k8s.io/v1alpha2) is older than what podlock writes" in (
        result.err
    )
    assert "does not know spec.failurePolicy.rules (written for --max-restarts" in result.err
    assert "nothing was built or submitted" in result.err and result.out == ""
    assert custom_launch(cli, "tpu-v6e-16").code == 0  # without the field, nothing is missing


def test_a_jobset_serving_another_version_is_a_skew(kube: FakeKube) -> None:
    kube.served["jobset.x-k8s.io"] = ["v1alpha1"]
    [finding] = run(Cluster.connect(), request("tpu-v6e-16")).findings
    assert "serves jobset.x-k8s.io v1alpha1, not v1alpha2, which podlock writes" in finding.message


def test_an_unreadable_crd_is_a_warning_only_when_it_matters(kube: FakeKube) -> None:
    kube.forbidden.add(("get", "customresourcedefinitions"))
    assert run(Cluster.connect(), request("tpu-v6e-16")).findings == []
    [finding] = run(Cluster.connect(), request("tpu-v6e-16", max_restarts=2)).findings
    assert finding.severity == "warning" and "failurePolicy.rules" in finding.message


def test_kueue_is_read_through_the_version_it_serves(kube: FakeKube) -> None:
    kube.served["kueue.x-k8s.io"] = ["v1beta2", "v1beta1"]
    cluster = Cluster.connect()
    assert cluster.kueue_version == "v1beta2"
    outcome = run(cluster, request("tpu-v6e-8", queue="team-a"))
    assert outcome.findings == [] and "serves JobSet v1alpha2; Kueue v1beta2, v1beta1" in (
        outcome.report
    )
    assert any("/kueue.x-k8s.io/v1beta2/namespaces/default/localqueues" in r for r in kube.requests)
    kube.served["kueue.x-k8s.io"] = ["v1alpha9"]
    [finding] = run(Cluster.connect(), request("tpu-v6e-8", queue="team-a")).findings
    assert "serves kueue.x-k8s.io v1alpha9; podlock reads" in finding.message


@pytest.mark.parametrize(
    ("queue", "priority", "expected"),
    [
        (None, "nope", "no PriorityClass nope (those here: high, low)"),
        ("team-a", "nope", "no Kueue WorkloadPriorityClass nope (those here: team-high)"),
        (None, "high", ""),
        ("team-a", "team-high", ""),
    ],
)
def test_the_priority_class_must_exist(
    kube: FakeKube, queue: str | None, priority: str, expected: str
) -> None:
    findings = run(Cluster.connect(), request("tpu-v6e-8", queue=queue, priority=priority)).findings
    assert [f.message for f in findings] == (
        [f"--priority {priority}: {expected}"] if expected else []
    )


def test_jobs_status_shows_restarts_and_why(cli: Any, kube: FakeKube) -> None:
    kube.add_accelerator_pools("tpu-v6e-16", 1, capacity="spot")
    result = cli(
        "launch", "--mode", "custom", "--image", UNREACHABLE_IMAGE, "--accelerator",
        "tpu-v6e-16", "--capacity", "spot", "--max-restarts", "3", "--name", "train",
        "--detach", "--", "python", "train.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    kube.status_patch["train"] = {"restarts": 3, "restartsCountTowardsMax": 1}
    status = cli("jobs", "status", "train")
    assert status.code == 0, status.err
    assert (
        "restarts: 3 (2 after the nodes were disrupted (not counted); "
        "1 of 3 after the job's own failures)" in status.out
    )
    document = cli("jobs", "status", "train", "--format", "json")
    assert '"counted": 1' in document.out and '"limit": 3' in document.out


def test_a_jobs_disrupted_pods_are_restarts_that_do_not_count() -> None:
    job = {
        "metadata": {"name": "t"},
        "spec": {"backoffLimit": 2, "podFailurePolicy": {"rules": []}},
        "status": {"failed": 1, "conditions": []},
    }
    disrupted = {
        "metadata": {"name": "t-a"},
        "status": {
            "phase": "Failed",
            "conditions": [
                {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
            ],
        },
    }
    failed = {"metadata": {"name": "t-b"}, "status": {"phase": "Failed"}}
    restarts = restarts_of("Job", job, [disrupted, failed])
    assert restarts == Restarts(total=2, counted=1, limit=2, reasons=("PreemptionByScheduler",))
    assert state_of("Job", job, [disrupted, failed]).restarts.disrupted == 1
    assert restarts_of("Job", {"spec": {"backoffLimit": 0}}, []).summary() == "0"


def test_an_arm64_accelerator_needs_a_lock_for_linux_arm64(
    cli: Any, kube: FakeKube, hello: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODLOCK_REGISTRY", "127.0.0.1:9/team")
    root: Path = hello(variants='["cuda"]', platforms='["linux/amd64"]')
    kube.add_accelerator_pools("gb200x4", 1)
    result = cli(
        "launch", "--project", str(root), "--accelerator", "gb200x4", "--dry-run",
        "--", "python", "train.py",
    )  # fmt: skip
    assert result.code != 0
    assert "pylock.cuda.toml has no linux/arm64, and gb200x4 runs on arm64 hosts" in result.err
    assert 'add "linux/arm64" to platforms in [variants.cuda] of' in result.err
    assert "podlock lock --variant cuda" in result.err and "Traceback" not in result.err
    arm: Path = hello("arm", variants='["cuda"]', platforms='["linux/amd64", "linux/arm64"]')
    result = cli(
        "launch", "--project", str(arm), "--accelerator", "gb200x4", "--dry-run",
        "--", "python", "train.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    [job] = yaml.safe_load_all(result.out)
    assert job["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"] == "arm64"
