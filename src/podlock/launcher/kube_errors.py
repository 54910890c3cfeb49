"""Kubernetes API errors as PodlockErrors that say what was refused and what to do."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from podlock.errors import PodlockError

if TYPE_CHECKING:
    from podlock.launcher.kubeconfig import Connection

JOBSET_INSTALL = (
    "install JobSet: kubectl apply --server-side -f "
    "https://github.com/kubernetes-sigs/jobset/releases/latest/download/manifests.yaml"
)


class ClusterError(PodlockError):
    """The API refused or failed; ``status`` is the HTTP status (0: not reached)."""

    exit_code = 2

    def __init__(self, message: str, *, status: int = 0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def api_error(exc: Exception, action: str, connection: Connection) -> PodlockError:
    """``exc`` from the API as an error that says what was refused and what to do."""
    status = status_of(exc)
    where = f"namespace {connection.namespace} (context {connection.context})"
    if isinstance(exc, PodlockError):
        return exc
    if status == 0:
        return ClusterError(
            f"cannot reach the Kubernetes API at {connection.server}: {_first_line(str(exc))}",
            hint="check the network/VPN and that the cluster is up; "
            "`kubectl --context " + connection.context + " version` should answer",
        )
    message = _message(exc)
    if status == 401:
        return ClusterError(
            f"{action}: the cluster did not accept your credentials ({message})",
            status=status,
            hint="refresh them (GKE: `gcloud container clusters get-credentials ...`)",
        )
    if status == 403:
        return ClusterError(
            f"{action} in {where}: forbidden ({message})",
            status=status,
            hint="ask a cluster admin for a Role in this namespace allowing create/get/"
            "list/delete on jobs.batch and jobsets.jobset.x-k8s.io, and get/list on "
            "pods, pods/log and events",
        )
    if status == 404 and "namespaces" in message and "not found" in message:
        return ClusterError(
            f"namespace {connection.namespace} does not exist (context {connection.context})",
            status=status,
            hint=f"create it (`kubectl create namespace {connection.namespace}`) or pass "
            "--namespace NS",
        )
    if status == 404 and "jobset" in action.lower():
        return ClusterError(
            f"{action}: JobSet is not installed in this cluster (multi-host TPU slices "
            "run as JobSets)",
            status=status,
            hint=JOBSET_INSTALL,
        )
    if status == 409:
        return ClusterError(
            f"{action}: already exists in {where}",
            status=status,
            hint="pass another --name, or `podlock jobs cancel NAME` first",
        )
    if status in (400, 422):
        return ClusterError(f"{action}: the API rejected it: {message}", status=status)
    return ClusterError(f"{action}: HTTP {status}: {message}", status=status)


def status_of(exc: Exception) -> int:
    status = getattr(exc, "status", None)
    return int(status) if isinstance(status, int) else 0


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except ValueError:
            pass
        return _first_line(str(body))
    return str(getattr(exc, "reason", "") or exc)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
