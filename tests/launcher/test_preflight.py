"""Before the expensive part: the preflight against the in-process API server (no node pool
for the accelerator, RBAC forbidden, namespace, JobSet, Kueue queue), `launch --dry-run`,
Kueue admission (queued then admitted, admitted then running), and what ran (`jobs status`,
`jobs code`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_server import Admission, FakeKube, Scenario
from launcher_helpers import UNREACHABLE_IMAGE

from podlock.launcher.accelerators import parse
from podlock.launcher.cluster import Cluster
from podlock.launcher.job import state_of
from podlock.launcher.launch import submit
from podlock.launcher.manifests import JobRequest
from podlock.launcher.preflight import preflight


def request(accelerator: str, *, slices: int = 1, queue: str | None = None) -> JobRequest:
    return JobRequest(
        name="train", image=UNREACHABLE_IMAGE, command=("python", "t.py"),
        accelerator=parse(accelerator), slices=slices, queue=queue,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text("numpy\n")
    return root


def posts(kube: FakeKube) -> list[str]:
    """What was sent to be created (access reviews create nothing)."""
    return [r for r in kube.requests if r.startswith("POST") and "accessreview" not in r]


def test_dry_run_catches_a_missing_node_pool_before_any_build(
    cli: Any, kube: FakeKube, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bundled mode would build and push to this registry; the preflight stops it first
    monkeypatch.setenv("PODLOCK_REGISTRY", "127.0.0.1:9/team")
    result = cli(
        "launch", "--project", str(project), "--accelerator", "tpu7x-16", "--dry-run",
        "--", "python", "train.py",
    )  # fmt: skip
    assert result.code == 2
    assert "nothing was built or submitted" in result.err
    assert (
        "no node has cloud.google.com/gke-tpu-accelerator=tpu7x and "
        "cloud.google.com/gke-tpu-topology=2x2x2" in result.err
    )
    # it says what the cluster has, and how Ironwood pools are made
    assert "this cluster's accelerator nodes: tpu-v5p-slice 2x2x1, tpu-v6e-slice 2x4" in result.err
    assert "--placement-policy POLICY --num-nodes 2" in result.err
    assert posts(kube) == [] and result.out == ""


def test_dry_run_prints_the_manifests_and_submits_nothing(
    cli: Any, kube: FakeKube, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODLOCK_REGISTRY", "127.0.0.1:9/team")
    result = cli(
        "launch", "--project", str(project), "--accelerator", "tpu-v6e-16", "--slices", "2",
        "--queue", "team-a", "--dry-run", "--", "python", "train.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    [jobset] = yaml.safe_load_all(result.out)
    assert jobset["spec"]["replicatedJobs"][0]["replicas"] == 2
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    image = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == "127.0.0.1:9/team/proj"  # stands for the image a launch would push
    assert "can run it" in result.err and posts(kube) == [] and kube.jobs() == []


def test_two_slices_need_two_node_pools(kube: FakeKube) -> None:
    kube.nodes = []
    kube.add_accelerator_pools("tpu-v6e-16", 1)
    kube.add_pool("small", dict(parse("tpu-v6e-16").node_selector), 2)  # half a slice
    [finding] = preflight(Cluster.connect(), request("tpu-v6e-16", slices=2))
    assert finding.severity == "missing"
    assert finding.message.startswith("1 node pool(s) hold a whole slice of tpu-v6e-16")
    assert "small: 2 nodes" in finding.message and "2 slices need 2 such pools" in finding.message
    assert "--tpu-topology 4x4 --num-nodes 4 (one pool per slice)" in finding.hint


def test_an_autoscaler_makes_an_empty_pool_a_warning_not_a_verdict(kube: FakeKube) -> None:
    kube.nodes = []
    kube.autoscaler = True
    [finding] = preflight(Cluster.connect(), request("h100x8"))
    assert finding.severity == "warning"
    assert "a pool scaled to zero shows no nodes" in finding.message


def test_what_podlock_may_not_read_is_a_warning(kube: FakeKube) -> None:
    kube.forbidden |= {("list", "nodes"), ("get", "namespaces")}
    findings = preflight(Cluster.connect(), request("tpu-v6e-8"))
    assert [(f.check, f.severity) for f in findings] == [
        ("namespace", "warning"),
        ("nodes", "warning"),
    ]


def test_rbac_forbidden_is_caught_before_the_build(cli: Any, kube: FakeKube, project: Path) -> None:
    kube.forbidden |= {("create", "jobsets"), ("get", "pods/log")}
    result = cli(
        "launch", "--project", str(project), "--mode", "custom", "--image", UNREACHABLE_IMAGE,
        "--accelerator", "tpu-v6e-16", "--", "python", "train.py",
    )  # fmt: skip
    assert result.code == 2
    assert (
        "you may not create jobsets.jobset.x-k8s.io in namespace default, needed to submit "
        "the JobSet" in result.err
    )
    assert "kubectl auth can-i create jobsets.jobset.x-k8s.io -n default" in result.err
    # not fatal, but said: logs could not be streamed
    assert "warning: preflight: you may not get pods/log in namespace default" in result.err
    assert posts(kube) == []


def test_a_missing_namespace_and_jobset_and_queue_are_named(kube: FakeKube) -> None:
    kube.jobset_installed = False
    findings = preflight(Cluster.connect(), request("tpu-v6e-16", queue="team-b"))
    assert [f.check for f in findings] == ["jobset", "queue"]
    assert "no Kueue LocalQueue team-b in namespace default (LocalQueues there: team-a)" in (
        findings[1].message
    )
    kube.kueue_installed = False
    [_, queue] = preflight(Cluster.connect(), request("tpu-v6e-16", queue="team-a"))
    assert "Kueue is not installed" in queue.message and "kueue.sigs.k8s.io" in queue.hint
    [missing] = preflight(Cluster.connect(namespace="nope"), request("cpu"))
    assert missing.message == "namespace nope does not exist"


def test_queued_then_admitted_is_reported_as_queued_not_as_a_failure(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    kube.admission = Admission(seconds=0.5)
    result = cli(
        "launch", "--project", str(project), "--mode", "custom", "--image", UNREACHABLE_IMAGE,
        "--accelerator", "tpu-v6e-16", "--slices", "2", "--queue", "team-a", "--all-logs",
        "--explain-after", "0", "--pending-timeout", "0.2", "--", "python", "train.py",
    )  # fmt: skip
    # queued for longer than the pending timeout, yet not cancelled: the clock starts at admission
    assert result.code == 0, result.err
    assert "is queued in team-a: couldn't assign flavors to pod set main: insufficient" in (
        result.err
    )
    assert "was admitted by Kueue" in result.err
    [name] = kube.jobs("JobSet")
    # both slices ran: 4 workers each, one leader
    pods = kube.pod_names()
    assert len(pods) == 8
    assert {p.rsplit("-", 2)[0] for p in pods} == {f"{name}-slice-0", f"{name}-slice-1"}
    assert result.out.count("hello from the pod") == 1


def test_jobs_status_says_why_a_job_waits_for_admission(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    kube.admission = Admission(seconds=None, reason="quota exhausted in ClusterQueue tpu")
    result = cli(
        "launch", "--project", str(project), "--mode", "custom", "--image", UNREACHABLE_IMAGE,
        "--accelerator", "cpu", "--queue", "team-a", "--detach", "--", "python", "train.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    name = result.out.strip()
    status = cli("jobs", "status", name)
    assert status.code == 0, status.err
    assert f"Job {name}: Queued" in status.out
    assert "queue: team-a" in status.out
    assert "waiting for admission: quota exhausted in ClusterQueue tpu" in status.out
    listing = cli("jobs", "list")
    assert "Queued" in listing.out and kube.pod_names() == []


def test_admitted_then_running(kube: FakeKube) -> None:
    kube.scenario = Scenario(outcome="forever")
    handle = submit(Cluster.connect(), request("tpu-v6e-8", queue="team-a"))
    cluster = handle.cluster
    obj = cluster.get("Job", "train")
    assert obj is not None and obj["spec"]["suspend"] is True
    workload = cluster.workload(obj)
    assert workload is not None

    state = state_of("Job", obj, cluster.pods("train"), workload)
    assert state.phase == "Running" and state.queue == "team-a"
    assert handle.cancel() and kube.jobs() == []


def test_jobs_status_and_code_show_what_ran(
    cli: Any, kube: FakeKube, hello: Callable[..., Path]
) -> None:
    root = hello()
    (root / "app_extra.py").write_text("print('extra')\n")
    result = cli(
        "launch", "--project", str(root), "--image", UNREACHABLE_IMAGE, "--accelerator", "cpu",
        "--detach", "--", "python", "-m", "hello",
    )  # fmt: skip
    assert result.code == 0, result.err
    name = result.out.strip()
    status = cli("jobs", "status", name)
    assert f"image: {UNREACHABLE_IMAGE}" in status.out
    assert "variant: cpu" in status.out
    lock = (root / "pylock.cpu.toml").read_text()
    fingerprint = next(
        line.split('"')[1] for line in lock.splitlines() if line.startswith("fingerprint")
    )
    assert f"lock fingerprint: {fingerprint}" in status.out
    package = cli("package", "list", "--project", str(root))
    [digest] = [
        line.removeprefix("files digest: ")
        for line in package.out.splitlines()
        if line.startswith("files digest: ")
    ]
    assert digest.startswith("sha256:") and f"code files digest: {digest}" in status.out
    code = cli("jobs", "code", name)
    assert code.code == 0, code.err
    assert "app_extra.py" in code.out and f"files digest {digest}" in code.out
    assert "requirements.txt" in code.out
    assert "server.pem" not in code.out  # the secret kept out of the image is not listed


def test_jobs_code_of_a_custom_image_says_there_is_none(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    result = cli(
        "launch", "--project", str(project), "--mode", "custom", "--image", UNREACHABLE_IMAGE,
        "--accelerator", "cpu", "--detach", "--", "true",
    )  # fmt: skip
    code = cli("jobs", "code", result.out.strip())
    assert code.code == 2 and "has no code package recorded" in code.err


def test_the_config_names_the_default_queue_and_queue_overrides_it(
    cli: Any, kube: FakeKube, hello: Callable[..., Path]
) -> None:
    kube.local_queues.add(("default", "team-b"))
    root = hello(extra='[launch]\nqueue = "team-b"\n', lock=False)
    args = ("--image", UNREACHABLE_IMAGE, "--accelerator", "cpu", "--dry-run", "--", "true")
    result = cli("launch", "--project", str(root), *args)
    assert result.code == 0, result.err
    labels = yaml.safe_load(result.out)["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "team-b"
    result = cli("launch", "--project", str(root), "--queue", "team-a", *args)
    assert yaml.safe_load(result.out)["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    (root / "podlock.toml").write_text(
        (root / "podlock.toml").read_text().replace("queue =", "queu =")
    )
    result = cli("launch", "--project", str(root), *args)
    assert result.code == 2 and "unknown config key 'launch.queu'" in result.err
