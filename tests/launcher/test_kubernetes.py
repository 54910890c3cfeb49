"""The launcher's Kubernetes side, through the real ``kubernetes`` client against an
in-process API server: submit, follow logs, exit codes, Pending explained, cancel, Ctrl-C,
and the bad inputs (no kubeconfig, unknown context, missing namespace, RBAC, no JobSet)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_server import TOKEN, FakeKube, Scenario
from launcher_helpers import UNREACHABLE_IMAGE

from podlock.launcher.accelerators import parse
from podlock.launcher.cluster import Cluster
from podlock.launcher.job import JobHandle, JobPending
from podlock.launcher.kube_errors import ClusterError
from podlock.launcher.launch import follow, submit
from podlock.launcher.manifests import JobRequest
from podlock.reporter import ListReporter


def request(accelerator: str = "cpu", name: str = "train") -> JobRequest:
    return JobRequest(
        name=name,
        image=UNREACHABLE_IMAGE,
        command=("python", "train.py"),
        accelerator=parse(accelerator),
    )


def launch(cli: Any, project: Path, *args: str) -> Any:
    return cli(
        "launch", "--project", str(project), "--mode", "custom", "--image", UNREACHABLE_IMAGE,
        *args,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with every variant (custom mode reads only its config)."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text("numpy\n")
    return root


def test_launch_streams_the_leaders_logs_and_returns_zero(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    result = launch(cli, project, "--accelerator", "cpu", "--", "python", "train.py")
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["hello from the pod", "done"]
    [name] = kube.jobs("Job")
    assert name.startswith("proj-cpu-")
    assert "submitted Job " + name in result.err and "exit code 0" in result.err
    assert TOKEN not in result.out + result.err


def test_a_failing_command_returns_its_exit_code(cli: Any, kube: FakeKube, project: Path) -> None:
    kube.scenario = Scenario(outcome="fail", exit_code=3, logs=["Traceback ...", "ValueError"])
    result = launch(cli, project, "--accelerator", "h100x8", "--", "python", "train.py")
    assert result.code == 3
    assert "ValueError" in result.out
    assert "failed: Job has reached the specified backoff limit" in result.err


def test_multi_host_tpu_runs_as_a_jobset_with_every_pods_logs(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    result = launch(
        cli, project, "--accelerator", "tpu-v6e-16", "--all-logs", "--", "python", "train.py"
    )
    assert result.code == 0, result.err
    [name] = kube.jobs("JobSet")
    assert kube.jobs("Job") == []
    lines = result.out.splitlines()
    assert f"[{name}-slice-0-0-00001] hello from the pod" in lines
    assert {line.split("]")[0] for line in lines} == {
        f"[{name}-slice-0-{i}-00001" for i in range(4)
    }
    assert f"[{name}-slice-0-3-00001] worker 3 ready" in lines


def test_detach_prints_the_name_and_returns(cli: Any, kube: FakeKube, project: Path) -> None:
    kube.scenario = Scenario(outcome="forever")
    result = launch(cli, project, "--accelerator", "cpu", "--detach", "--", "sleep", "1000")
    assert result.code == 0
    assert kube.jobs() == [result.out.strip()]


@pytest.mark.parametrize(
    ("outcome", "accelerator", "said", "fatal"),
    [
        (
            "unschedulable",
            "tpu-v6e-8",
            "no node in the cluster matches cloud.google.com/gke-tpu-accelerator=tpu-v6e-slice",
            False,
        ),
        ("insufficient", "tpu-v6e-8", "no node has enough free google.com/tpu", False),
        ("quota", "h100x8", "Google Cloud quota exceeded (Node scale up in zones us-east5-a", True),
        ("image-missing", "cpu", f"image {UNREACHABLE_IMAGE} is not in its registry", True),
        ("image-denied", "cpu", "the nodes may not pull", True),
    ],
)
def test_pending_pods_are_explained_then_the_job_is_cancelled(
    cli: Any, kube: FakeKube, project: Path, outcome: str, accelerator: str, said: str, fatal: bool
) -> None:
    kube.scenario = Scenario(outcome=outcome)
    timeout = "30" if fatal else "0.3"  # a fatal cause gives up at once
    result = launch(
        cli, project, "--accelerator", accelerator, "--explain-after", "0",
        "--pending-timeout", timeout, "--", "python", "train.py",
    )  # fmt: skip
    assert result.code == 1, result.err
    assert said in result.err
    assert "did not start after" in result.err and "it was cancelled" in result.err
    # polled every 2 s of the fake clock: a fatal cause gives up at the first look, not
    # after waiting out its 30 s; another after the 0.3 s timeout, at the second
    polls = [r for r in kube.requests if r.startswith("GET ") and r.endswith("/pods")]
    assert len(polls) == (1 if fatal else 2), polls
    assert kube.jobs() == [] and kube.pod_names() == []
    assert [policy for _, _, policy in kube.deletes] == ["Foreground"]


@pytest.fixture
def ctrl_c() -> Iterator[Callable[[], None]]:
    """``ctrl_c()``: SIGINT to the main thread, from any thread, raising KeyboardInterrupt
    there even when the runner started with SIGINT ignored (a shell's background jobs do;
    the test would then wait forever). Only the first call sends: a log follower still
    running after the test must not interrupt the runner."""
    main = threading.main_thread().ident
    assert main is not None
    sent = threading.Lock()

    def send() -> None:
        if sent.acquire(blocking=False):
            signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield send
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_following_asks_then_cancels_with_foreground_deletion(
    kube: FakeKube, ctrl_c: Callable[[], None]
) -> None:
    kube.scenario = Scenario(outcome="forever")
    cluster = Cluster.connect()
    handle = submit(cluster, request())
    asked: list[str] = []
    lines: list[str] = []

    def shown(line: str) -> None:  # the user presses Ctrl-C once the job prints a step
        lines.append(line)
        if line.startswith("step "):
            ctrl_c()

    code = follow(handle, shown, confirm=lambda q: asked.append(q) or True)
    assert code == 130
    assert asked == ["cancel Job train? [y/N] "]
    assert any(line.startswith("step ") for line in lines)
    assert kube.jobs() == [] and kube.pod_names() == []
    assert kube.deletes == [("Job", "train", "Foreground")]


def test_ctrl_c_declined_leaves_the_job_running(kube: FakeKube, ctrl_c: Callable[[], None]) -> None:
    kube.scenario = Scenario(outcome="forever")
    handle = submit(Cluster.connect(), request())
    reporter = ListReporter()
    code = follow(handle, lambda _line: ctrl_c(), confirm=lambda _q: False, reporter=reporter)
    assert code == 130
    assert kube.jobs() == ["train"] and kube.deletes == []
    assert "podlock jobs cancel train" in reporter.infos[-1]


def test_ctrl_c_during_submission_leaves_nothing_behind(
    kube: FakeKube, ctrl_c: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    undone = threading.Event()
    delete = kube.delete

    def delete_then_answer_the_create(*args: Any) -> bool:
        deleted = delete(*args)
        undone.set()
        return deleted

    def interrupt_mid_request(kind: str, name: str) -> None:
        ctrl_c()  # the object exists; its answer comes only after the client undid it
        undone.wait(timeout=10)

    monkeypatch.setattr(kube, "delete", delete_then_answer_the_create)
    kube.on_create = interrupt_mid_request
    with pytest.raises(KeyboardInterrupt):
        submit(Cluster.connect(), request("tpu-v6e-16"))
    assert kube.jobs() == [] and kube.pod_names() == []
    assert kube.deletes == [("JobSet", "train", "Foreground")]


def test_a_name_that_exists_is_refused_and_the_other_job_untouched(kube: FakeKube) -> None:
    kube.scenario = Scenario(outcome="forever")
    cluster = Cluster.connect()
    submit(cluster, request())
    with pytest.raises(ClusterError, match="already exists") as err:
        submit(cluster, request())
    assert err.value.status == 409
    assert kube.jobs() == ["train"] and kube.deletes == []


def test_the_fake_api_server_refuses_an_undeclared_field_as_strict_validation_does(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    import podlock.launcher.launch as launch_module

    real = launch_module.render

    def render_with_a_typo(request: JobRequest) -> list[dict[str, Any]]:
        [jobset] = real(request)
        jobset["spec"]["replicatedJobs"][0]["replicaz"] = 1
        return [jobset]

    monkeypatch.setattr(launch_module, "render", render_with_a_typo)
    with pytest.raises(ClusterError) as err:
        submit(Cluster.connect(), request("tpu-v6e-16"))
    assert err.value.status == 422 and "replicaz" in str(err.value)
    assert kube.jobs() == [] and any("replicaz" in e for e in kube.invalid)
    kube.invalid.clear()  # seen: the fixture's check at teardown passes


def test_rbac_forbidden_at_submit_says_which_permission(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    kube.forbidden.add(("create", "jobs"))  # the preflight (test_preflight.py) is skipped
    result = launch(cli, project, "--accelerator", "cpu", "--no-preflight", "--", "true")
    assert result.code == 2
    assert "forbidden" in result.err and 'cannot create resource "jobs"' in result.err
    assert "ask a cluster admin for a Role" in result.err


def test_missing_namespace_at_submit_is_named(cli: Any, kube: FakeKube, project: Path) -> None:
    result = launch(
        cli, project, "--accelerator", "cpu", "--namespace", "nope", "--no-preflight", "--", "true"
    )
    assert result.code == 2
    assert "namespace nope does not exist (context fake)" in result.err
    assert "kubectl create namespace nope" in result.err


def test_context_namespace_is_used(cli: Any, kube: FakeKube, project: Path) -> None:
    result = launch(cli, project, "--accelerator", "cpu", "--context", "other", "--", "true")
    assert result.code == 0, result.err
    assert "to other/team" in result.err


def test_unknown_context_lists_the_known_ones(cli: Any, kube: FakeKube, project: Path) -> None:
    result = launch(cli, project, "--accelerator", "cpu", "--context", "prod", "--", "true")
    assert result.code == 2
    assert "context 'prod' is not in" in result.err and "known contexts: fake, other" in result.err


def test_no_kubeconfig_says_how_to_get_one(
    cli: Any, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = launch(cli, project, "--accelerator", "cpu", "--", "true")
    assert result.code == 2
    assert "no kubeconfig found" in result.err and "get-credentials" in result.err


def test_rejected_credentials_are_explained_without_showing_them(
    cli: Any, kube: FakeKube, project: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text(kube.kubeconfig(token="wrong-token-zzz"))
    result = launch(cli, project, "--accelerator", "cpu", "--kubeconfig", str(bad), "--", "true")
    assert result.code == 2
    assert "did not accept your credentials" in result.err
    assert "wrong-token-zzz" not in result.err + result.out


def test_jobset_not_installed_says_how_to_install_it(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    kube.jobset_installed = False
    result = launch(cli, project, "--accelerator", "tpu-v6e-16", "--", "true")
    assert result.code == 2
    assert "JobSet is not installed" in result.err and "kubectl apply --server-side" in result.err


def test_accelerator_and_variant_must_match(cli: Any, kube: FakeKube, project: Path) -> None:
    result = launch(cli, project, "--accelerator", "h100", "--variant", "tpu", "--", "true")
    assert result.code == 2
    assert "variant tpu is a tpu lock, but h100x1 is a gpu accelerator" in result.err
    assert "--variant cuda" in result.err
    assert kube.requests == []


def test_no_command_is_an_error_before_anything_is_sent(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    result = launch(cli, project, "--accelerator", "cpu", "--")
    assert result.code == 2 and "no command to run" in result.err
    assert kube.requests == []


def test_jobs_list_status_logs_cancel(cli: Any, kube: FakeKube, project: Path) -> None:
    kube.scenario = Scenario(outcome="forever")
    name = launch(cli, project, "--accelerator", "tpu-v6e-16", "--detach", "--", "x").out.strip()
    kube.scenario = Scenario(outcome="insufficient")
    pending = launch(cli, project, "--accelerator", "v5p-8", "--detach", "--", "x").out.strip()

    listed = cli("jobs", "list")
    assert listed.code == 0
    rows = {line.split()[0]: line.split() for line in listed.out.splitlines()[1:]}
    assert rows[name][1:3] == ["JobSet", "tpu-v6e-16"]
    assert rows[pending][1:3] == ["Job", "tpu-v5p-8"]

    status = cli("jobs", "status", pending)
    assert status.code == 0
    assert f"Job {pending}: Pending" in status.out
    assert "no node has enough free google.com/tpu" in status.out

    logs = cli("jobs", "logs", name, "--all")
    assert logs.code == 0
    assert f"[{name}-slice-0-2-00001] worker 2 ready" in logs.out.splitlines()

    cancelled = cli("jobs", "cancel", name)
    assert cancelled.code == 0 and f"cancelled JobSet {name}" in cancelled.out
    assert kube.jobs() == [pending]
    assert not any(p.startswith(name) for p in kube.pod_names())
    assert ("JobSet", name, "Foreground") in kube.deletes

    missing = cli("jobs", "status", "nope")
    assert missing.code == 2 and "no job 'nope' in namespace default" in missing.err


def test_wait_reports_a_job_deleted_under_it(kube: FakeKube) -> None:
    kube.scenario = Scenario(outcome="forever")
    handle = submit(Cluster.connect(), request())
    kube.clock.after(0.3, lambda: kube.delete("Job", "default", "train", "Foreground"))
    with pytest.raises(ClusterError, match="was deleted while running"):
        handle.wait(lambda _l: None)


def test_pending_timeout_raises_with_every_reason(kube: FakeKube) -> None:
    kube.scenario = Scenario(outcome="unschedulable")
    handle: JobHandle = submit(Cluster.connect(), request("tpu-v6e-8"))
    reporter = ListReporter()
    with pytest.raises(JobPending) as err:
        handle.wait(lambda _l: None, explain_after=0, pending_timeout=0.2, reporter=reporter)
    assert [d.reason for d in err.value.diagnoses] == ["no-node-pool"]
    assert len(reporter.warnings) == 1  # explained once, not at every poll


def test_launch_detach_and_jobs_as_json(cli: Any, kube: FakeKube, project: Path) -> None:
    kube.scenario = Scenario(outcome="insufficient")
    result = launch(
        cli, project, "--accelerator", "v5p-8", "--detach", "--format", "json", "--", "x"
    )
    assert result.code == 0, result.err
    launched = json.loads(result.out)
    assert launched["kind"] == "Job" and launched["accelerator"] == "tpu-v5p-8"
    assert launched["namespace"] == "default" and launched["queue"] is None
    name = launched["name"]
    assert kube.jobs() == [name]

    listed = cli("jobs", "list", "--format", "json")
    assert listed.code == 0
    (job,) = json.loads(listed.out)["jobs"]
    assert (job["name"], job["kind"], job["accelerator"]) == (name, "Job", "tpu-v5p-8")
    assert job["state"] == "Pending" and job["created"]

    status = cli("jobs", "status", name, "--format", "json")
    assert status.code == 0, status.err
    document = json.loads(status.out)
    assert (document["name"], document["kind"], document["phase"]) == (name, "Job", "Pending")
    assert document["exit_code"] is None and document["ran"]["image"] == launched["image"]
    (pod,) = document["pods"]
    assert pod["phase"] == "Pending"
    assert any("no node has enough free google.com/tpu" in m for m in pod["pending"])


def test_launch_json_without_detach_is_refused_before_anything_is_sent(
    cli: Any, kube: FakeKube, project: Path
) -> None:
    result = launch(cli, project, "--accelerator", "cpu", "--format", "json", "--", "x")
    assert result.code == 2 and "--format json goes with --detach" in result.err
    assert kube.requests == []
