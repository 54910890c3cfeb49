"""A submitted job: its state, its pods' logs, waiting for its exit code, cancelling it.

The exit code is the leader's (index 0) container's, or the first failing worker's when the
leader succeeded but the job failed. Logs are followed in background threads (one per pod
followed) while the caller's thread polls state, so Pending pods can be explained and a
Ctrl-C lands in the caller, never in a log read. Waits and timeouts go by the cluster's
clock (``Cluster.clock``), so tests run them on the fake cluster's fake time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from podlock.errors import PodlockError
from podlock.launcher.cluster import Cluster
from podlock.launcher.diagnose import Diagnosis, explain
from podlock.launcher.kube_errors import ClusterError
from podlock.launcher.manifests import CONTAINER, QUEUE_LABEL
from podlock.launcher.rendezvous import COMPLETION_INDEX, JOB_INDEX
from podlock.launcher.restarts import Restarts, restarts_of
from podlock.reporter import NullReporter, Reporter

Output = Callable[[str], None]
# Queued: Kueue has not admitted it yet (no pods exist); Pending: pods wait to start.
Phase = Literal["Queued", "Pending", "Running", "Succeeded", "Failed"]


class JobPending(PodlockError):
    """The job's pods could not start; ``diagnoses`` says why. The job was cancelled."""

    exit_code = 1

    def __init__(self, name: str, diagnoses: list[Diagnosis], *, waited: float) -> None:
        reasons = "\n".join(f"  - {d.message}" for d in diagnoses)
        super().__init__(
            f"job {name} did not start after {waited:.0f} s; it was cancelled:\n{reasons}",
            hint="fix the cause above and launch again (`--pending-timeout` waits longer)",
        )
        self.diagnoses = diagnoses


@dataclass(frozen=True, kw_only=True)
class JobState:
    name: str
    kind: str
    phase: Phase
    pods: Mapping[str, str] = field(default_factory=dict)  # pod -> phase
    exit_code: int | None = None
    message: str = ""  # why it failed, or why Kueue has not admitted it
    queue: str | None = None
    restarts: Restarts = field(default_factory=Restarts)

    @property
    def done(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def queue_of(obj: Mapping[str, Any]) -> str | None:
    """The Kueue LocalQueue the job was submitted to, if any."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(QUEUE_LABEL)


def admission(workload: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether Kueue admitted the Workload, and if not, why (its conditions' message)."""
    if workload is None:
        return True, ""
    conditions = {c.get("type"): c for c in (workload.get("status") or {}).get("conditions") or []}
    admitted = conditions.get("Admitted") or {}
    if admitted.get("status") == "True":
        return True, ""
    for key in ("QuotaReserved", "Admitted", "Evicted", "Pending"):
        c = conditions.get(key) or {}
        if c.get("message") and c.get("status") == ("True" if key == "Evicted" else "False"):
            return False, str(c["message"])
    return False, "waiting for Kueue to admit it"


def state_of(
    kind: str,
    obj: Mapping[str, Any],
    pods: list[dict[str, Any]],
    workload: Mapping[str, Any] | None = None,
) -> JobState:
    """The job's phase from its conditions, its Kueue Workload (when queued), pods' phases,
    and the exit code when finished."""
    name = obj["metadata"]["name"]
    status = obj.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    ordered = sorted(pods, key=_pod_order)
    phases = {
        p["metadata"]["name"]: (p.get("status") or {}).get("phase", "Pending") for p in ordered
    }
    failed = conditions.get("Failed")
    admitted, why = admission(workload)
    phase: Phase
    if failed is not None:
        phase = "Failed"
    elif conditions.get("Complete") or conditions.get("Completed"):
        phase = "Succeeded"
    elif any(v == "Running" for v in phases.values()):
        phase = "Running"
    elif not admitted:
        phase = "Queued"
    else:
        phase = "Pending"
    exit_code = None
    if phase in ("Succeeded", "Failed"):
        codes = [_exit_code(p) for p in ordered]
        if codes and codes[0]:
            exit_code = codes[0]
        elif phase == "Failed":
            exit_code = next((c for c in codes if c), 1)
        else:
            exit_code = 0
    message = str((failed or {}).get("message") or (failed or {}).get("reason") or "")
    if phase == "Queued":
        message = why
    return JobState(
        name=name,
        kind=kind,
        phase=phase,
        pods=phases,
        exit_code=exit_code,
        message=message,
        queue=queue_of(obj),
        restarts=restarts_of(kind, obj, pods),
    )


def _pod_order(pod: Mapping[str, Any]) -> tuple[int, int, str]:
    meta = pod.get("metadata") or {}
    labels = {**(meta.get("annotations") or {}), **(meta.get("labels") or {})}
    return (
        int(labels.get(JOB_INDEX, 0)),
        int(labels.get(COMPLETION_INDEX, 0)),
        str(meta.get("name", "")),
    )


def _exit_code(pod: Mapping[str, Any]) -> int | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == CONTAINER:
            terminated = (cs.get("state") or {}).get("terminated")
            if terminated is not None:
                return int(terminated.get("exitCode", 1))
    return None


def _started(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") in ("Running", "Succeeded", "Failed"):
        return True
    return any(
        "running" in (cs.get("state") or {}) or "terminated" in (cs.get("state") or {})
        for cs in status.get("containerStatuses") or []
    )


class JobHandle:
    """``kind``/``name`` in ``cluster``: logs, wait, cancel."""

    def __init__(self, cluster: Cluster, kind: str, name: str) -> None:
        self.cluster = cluster
        self.kind = kind
        self.name = name

    def cancel(self) -> bool:
        """Delete the job; its pods go first (foreground propagation)."""
        return self.cluster.delete(self.kind, self.name)

    def print_logs(self, out: Output, *, all_pods: bool = False, follow: bool = False) -> None:
        """Logs of the leader (or of every pod, each line prefixed with its pod's name)."""
        pods = sorted(self.cluster.pods(self.name), key=_pod_order)
        if not pods:
            raise PodlockError(f"job {self.name} has no pods yet", hint="try again shortly")
        chosen = pods if all_pods else pods[:1]
        failed: list[PodlockError] = []

        def follow_one(pod: str) -> None:
            try:
                self._follow_once(pod, out, all_pods, follow)
            except PodlockError as exc:
                failed.append(exc)

        threads = [
            threading.Thread(target=follow_one, args=(p["metadata"]["name"],), daemon=True)
            for p in chosen
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
        if failed:
            raise failed[0]  # here, where the CLI reports it, not as a thread's traceback

    def _follow_once(self, pod: str, out: Output, prefix: bool, follow: bool) -> None:
        for line in self.cluster.logs(pod, container=CONTAINER, follow=follow):
            out(f"[{pod}] {line}" if prefix else line)

    def wait(
        self,
        out: Output,
        *,
        all_logs: bool = False,
        poll: float = 2.0,
        explain_after: float = 60.0,
        pending_timeout: float = 900.0,
        reporter: Reporter | None = None,
    ) -> int:
        """Stream logs until the job finishes; its exit code. Pods Pending for
        ``explain_after`` s are explained; after ``pending_timeout`` s (or at once when the
        cause is one waiting cannot fix) the job is cancelled and JobPending raised."""
        reporter, clock = reporter or NullReporter(), self.cluster.clock
        start = clock.now()
        followers: dict[str, threading.Thread] = {}
        explained: set[str] = set()
        queued_reasons: set[str] = set()
        admitted = False
        while True:
            obj = self.cluster.get(self.kind, self.name)
            if obj is None:
                raise ClusterError(f"{self.kind} {self.name} was deleted while running", status=404)
            pods = sorted(self.cluster.pods(self.name), key=_pod_order)
            workload = self.cluster.workload(obj) if queue_of(obj) else None
            state = state_of(self.kind, obj, pods, workload)
            if state.phase == "Queued":
                # Waiting for admission is not a failure: the pending clock starts at admission.
                if state.message not in queued_reasons:
                    queued_reasons.add(state.message)
                    reporter.info(f"{self.name} is queued in {state.queue}: {state.message}")
                start = clock.now()
                clock.sleep(poll)
                continue
            if queued_reasons and not admitted:
                admitted = True
                reporter.info(f"{self.name} was admitted by Kueue")
            for pod in pods if all_logs else pods[:1]:
                pod_name = pod["metadata"]["name"]
                if pod_name not in followers and _started(pod):
                    followers[pod_name] = self._start_follower(pod_name, out, all_logs)
            if state.done:
                for thread in followers.values():
                    thread.join(timeout=10)
                if state.phase == "Failed" and state.message:
                    reporter.warn(f"{self.kind} {self.name} failed: {state.message}")
                return state.exit_code if state.exit_code is not None else 1
            waited = clock.now() - start
            pending = [p for p in pods if not _started(p)]
            if pending and not followers and waited >= explain_after:
                leader = pending[0]
                diagnoses = explain(leader, self.cluster.events(leader["metadata"]["name"]))
                for d in diagnoses:
                    if d.message not in explained:
                        explained.add(d.message)
                        reporter.warn(f"{leader['metadata']['name']} is Pending: {d.message}")
                if waited >= pending_timeout or any(d.fatal for d in diagnoses):
                    self.cancel()
                    raise JobPending(self.name, diagnoses, waited=waited)
            clock.sleep(poll)

    def _start_follower(self, pod: str, out: Output, prefix: bool) -> threading.Thread:
        def run() -> None:
            # A container that is still being created answers 400; try again until it runs.
            for _ in range(150):
                try:
                    self._follow_once(pod, out, prefix, True)
                    return
                except ClusterError as exc:
                    if exc.status not in (400, 404):
                        out(f"podlock: log stream of {pod} ended: {exc.message}")
                        return
                    self.cluster.clock.sleep(1)

        thread = threading.Thread(target=run, name=f"logs-{pod}", daemon=True)
        thread.start()
        return thread
