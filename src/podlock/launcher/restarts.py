"""Restarts: how ``--max-restarts`` is written, and how a job's restarts are read back.

A pod that Kubernetes disrupts (a Spot or flex-start node reclaimed, a node lost, a
preemption by the scheduler) gets the ``DisruptionTarget`` condition; a pod that fails on its
own does not. That is the line between "the job failed" and "the job lost its machines":

- A Job: ``backoffLimit: N`` retries the pod's own failures N times, and a
  ``podFailurePolicy`` rule ``Ignore`` on ``DisruptionTarget`` replaces a disrupted pod
  without counting it (Kubernetes "Pod failure policy", stable since 1.31).
- A JobSet: each Job's ``podFailurePolicy`` fails the Job at once on ``DisruptionTarget``
  (reason ``PodFailurePolicy``), and the JobSet's ``failurePolicy`` rule
  ``RestartJobSetAndIgnoreMaxRestarts`` on that reason restarts the whole slice without
  counting it; any other Job failure falls through to JobSet's default, ``RestartJobSet``,
  which counts towards ``maxRestarts: N`` (JobSet "Failure Policy"; the vendored CRD has
  ``rules``, ``onJobFailureReasons`` and that action).

Read back, a JobSet's ``status.restarts`` counts every restart and
``status.restartsCountTowardsMax`` those its own failures caused; a Job's failed pods say
whether they were disrupted (their ``DisruptionTarget`` reason) or failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DISRUPTION = "DisruptionTarget"
DISRUPTION_RULE = "RestartAfterDisruption"  # JobSet rule names allow no '-'
MAX_RESTARTS = 2**31 - 1  # failurePolicy.maxRestarts and backoffLimit are int32


def _disrupted(action: str) -> dict[str, Any]:
    return {"action": action, "onPodConditions": [{"type": DISRUPTION, "status": "True"}]}


def job_policy(max_restarts: int) -> dict[str, Any]:
    """A single-pod Job's fields: own failures retried ``max_restarts`` times, disruptions
    replaced without counting."""
    return {"backoffLimit": max_restarts, "podFailurePolicy": {"rules": [_disrupted("Ignore")]}}


def jobset_policy(max_restarts: int) -> dict[str, Any]:
    """A JobSet's ``failurePolicy``: restarts after disruption do not count."""
    rule = {
        "name": DISRUPTION_RULE,
        "action": "RestartJobSetAndIgnoreMaxRestarts",
        "onJobFailureReasons": ["PodFailurePolicy"],
    }
    return {"maxRestarts": max_restarts, "rules": [rule]}


def jobset_job_policy() -> dict[str, Any]:
    """Each Job of that JobSet: a disrupted pod fails the Job (reason PodFailurePolicy)."""
    return {"podFailurePolicy": {"rules": [_disrupted("FailJob")]}}


@dataclass(frozen=True, kw_only=True)
class Restarts:
    """How often the job started over, and why."""

    total: int = 0
    counted: int = 0  # after the job's own failures: what max-restarts limits
    limit: int | None = None  # max-restarts (backoffLimit / failurePolicy.maxRestarts)
    reasons: tuple[str, ...] = ()  # the disruptions seen, e.g. "TerminationByKubelet"

    @property
    def disrupted(self) -> int:
        return self.total - self.counted

    def summary(self) -> str:
        """``3 (2 after the nodes were disrupted: PreemptionByScheduler; 1 of 3 after a
        failure)``, or ``0``."""
        if not self.total:
            return "0"
        parts = []
        if self.disrupted:
            why = f": {', '.join(self.reasons)}" if self.reasons else ""
            parts.append(f"{self.disrupted} after the nodes were disrupted (not counted){why}")
        if self.counted:
            limit = f" of {self.limit}" if self.limit is not None else ""
            parts.append(f"{self.counted}{limit} after the job's own failures")
        return f"{self.total} ({'; '.join(parts)})"


def restarts_of(kind: str, obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Restarts:
    """What the job's status (and, for a Job, its failed pods) say about its restarts."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    reasons = tuple(sorted({r for p in pods if (r := _disruption(p))}))
    if kind == "JobSet":
        total = int(status.get("restarts") or 0)
        counted = int(status.get("restartsCountTowardsMax", total) or 0)
        limit = (spec.get("failurePolicy") or {}).get("maxRestarts")
        return Restarts(total=total, counted=counted, limit=limit, reasons=reasons)
    failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
    disrupted = sum(1 for p in failed if _disruption(p))
    counted = int(status.get("failed") or 0)
    if "podFailurePolicy" not in spec:  # nothing replaced a failed pod: no restart was made
        return Restarts(limit=spec.get("backoffLimit"))
    # The job's last failure is not a restart; the replaced pods before it are.
    last = 1 if _failed(obj) and counted else 0
    return Restarts(
        total=disrupted + counted - last,
        counted=counted - last,
        limit=spec.get("backoffLimit"),
        reasons=reasons,
    )


def _disruption(pod: Mapping[str, Any]) -> str:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == DISRUPTION and c.get("status") == "True":
            return str(c.get("reason") or DISRUPTION)
    return ""


def _failed(obj: Mapping[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Failed" and c.get("status") == "True" for c in conditions)
