"""``preflight(cluster, request)``: can this cluster ever run the job? Asked before anything
is built or pushed, so a missing node pool costs seconds, not a build and a 15-minute wait.

Each check reads only what the API shows the user: the namespace, what RBAC lets them do
(SelfSubjectAccessReview), nodes with the accelerator's labels grouped by node pool (a
multi-host slice needs all its VMs in one pool, and each slice its own pool), the cluster
autoscaler's status (a pool at zero nodes has no Node objects, so when the autoscaler is
visible an empty result is a warning, not a verdict), JobSet, and the Kueue LocalQueue. What
podlock may not read is a warning saying so; what is missing stops the launch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from podlock.errors import PodlockError
from podlock.launcher.accelerators import (
    GPU_ACCELERATOR_LABEL,
    TPU_ACCELERATOR_LABEL,
    TPU_TOPOLOGY_LABEL,
    AcceleratorSpec,
)
from podlock.launcher.cluster import KUEUE_INSTALL, Cluster
from podlock.launcher.kube_errors import JOBSET_INSTALL
from podlock.launcher.manifests import NODEPOOL_LABEL, JobRequest, kind_of
from podlock.reporter import NullReporter, Reporter

Check = Literal["namespace", "rbac", "nodes", "jobset", "queue"]
Severity = Literal["missing", "warning"]  # missing: the job cannot run; warning: can't tell


@dataclass(frozen=True, kw_only=True)
class Finding:
    check: Check
    severity: Severity
    message: str
    hint: str = ""


class PreflightFailed(PodlockError):
    """The cluster lacks something the job needs; ``findings`` says what."""

    exit_code = 2

    def __init__(self, where: str, findings: list[Finding]) -> None:
        lines = [f"  - {f.message}" + (f"\n    fix: {f.hint}" if f.hint else "") for f in findings]
        super().__init__(
            f"{where} cannot run this job; nothing was built or submitted:\n" + "\n".join(lines),
            hint="fix what is listed (or pass --no-preflight to submit anyway)",
        )
        self.findings = findings


def preflight(cluster: Cluster, request: JobRequest) -> list[Finding]:
    """Everything missing or unknowable, in the order a user would fix it."""
    exists = cluster.namespace_exists()
    if exists is False:
        return [
            Finding(
                check="namespace",
                severity="missing",
                message=f"namespace {cluster.namespace} does not exist",
                hint=f"kubectl create namespace {cluster.namespace}, or pass --namespace NS",
            )
        ]
    out: list[Finding] = []
    if exists is None:
        out.append(
            Finding(
                check="namespace",
                severity="warning",
                message=f"you may not read namespace {cluster.namespace}; "
                "podlock cannot tell whether it exists",
            )
        )
    out += _rbac(cluster, request)
    if kind_of(request) == "JobSet" and not cluster.jobset_installed():
        out.append(
            Finding(
                check="jobset",
                severity="missing",
                message="JobSet is not installed (multi-host TPU slices and multi-slice jobs "
                "run as JobSets)",
                hint=JOBSET_INSTALL,
            )
        )
    if request.accelerator.kind != "cpu":
        out += _nodes(cluster, request)
    if request.queue:
        out += _queue(cluster, request.queue)
    return out


def check(cluster: Cluster, request: JobRequest, reporter: Reporter | None = None) -> None:
    """Run the preflight: warnings go to the reporter, anything missing raises."""
    reporter = reporter or NullReporter()
    findings = preflight(cluster, request)
    for f in findings:
        if f.severity == "warning":
            reporter.warn(f"preflight: {f.message}")
    missing = [f for f in findings if f.severity == "missing"]
    if missing:
        where = f"{cluster.connection.context}/{cluster.namespace}"
        raise PreflightFailed(where, missing)


def _rbac(cluster: Cluster, request: JobRequest) -> list[Finding]:
    kind = kind_of(request)
    resource, group = ("jobs", "batch") if kind == "Job" else ("jobsets", "jobset.x-k8s.io")
    # (verb, resource, group, subresource, what it is needed for, fatal)
    needs = [
        ("create", resource, group, "", f"submit the {kind}", True),
        ("get", resource, group, "", f"follow the {kind}", False),
        ("list", "pods", "", "", "follow its pods", False),
        ("get", "pods", "", "log", "stream its logs", False),
    ]
    out = []
    for verb, res, grp, sub, purpose, fatal in needs:
        ok, _reason = cluster.allowed(verb, res, grp, sub)
        if ok:
            continue
        full = f"{res}/{sub}" if sub else res
        qualified = f"{full}.{grp}" if grp else full
        out.append(
            Finding(
                check="rbac",
                severity="missing" if fatal else "warning",
                message=f"you may not {verb} {qualified} in namespace {cluster.namespace}, "
                f"needed to {purpose}",
                hint=f"ask a cluster admin for a Role in {cluster.namespace} allowing {verb} on "
                f"{qualified} (`kubectl auth can-i {verb} {qualified} -n {cluster.namespace}` "
                "checks it)",
            )
        )
    return out


def _nodes(cluster: Cluster, request: JobRequest) -> list[Finding]:
    spec = request.accelerator
    nodes = cluster.nodes(spec.node_selector)
    what = _describe(spec)
    if nodes is None:
        return [
            Finding(
                check="nodes",
                severity="warning",
                message=f"you may not list nodes; podlock cannot tell whether a node pool "
                f"has {what}",
            )
        ]
    pools = Counter(str((n["metadata"].get("labels") or {}).get(NODEPOOL_LABEL, "")) for n in nodes)
    full = sorted(p for p, count in pools.items() if count >= spec.hosts)
    wanted = request.slices
    if len(full) >= wanted:
        return []
    if cluster.autoscaler_status():
        return [
            Finding(
                check="nodes",
                severity="warning",
                message=f"no node pool has {what} right now ({len(full)} of {wanted} needed); "
                "the cluster autoscaler is on, and a pool scaled to zero shows no nodes, so "
                "podlock cannot tell whether one will be added",
            )
        ]
    if not nodes:
        have = _accelerators_present(cluster, spec)
        message = f"no node has {_labels(spec.node_selector)}: no node pool for {what}"
        if have:
            message += f" (this cluster's accelerator nodes: {', '.join(have)})"
    else:
        sizes = ", ".join(f"{p or '?'}: {pools[p]} nodes" for p in sorted(pools))
        slices = f"{wanted} slices need {wanted} such pools" if wanted > 1 else "one is needed"
        message = f"{len(full)} node pool(s) hold a whole slice of {what} ({sizes}); {slices}"
    return [Finding(check="nodes", severity="missing", message=message, hint=_create_hint(spec))]


def _describe(spec: AcceleratorSpec) -> str:
    if spec.kind == "gpu":
        return f"{spec.name} ({spec.machine_type}, {spec.chips} GPUs per node)"
    vms = f"{spec.hosts} VMs" if spec.hosts > 1 else "1 VM"
    return f"{spec.name} (topology {spec.topology}: {vms} of {spec.machine_type})"


def _labels(selector: Mapping[str, str]) -> str:
    return " and ".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _accelerators_present(cluster: Cluster, spec: AcceleratorSpec) -> list[str]:
    label = TPU_ACCELERATOR_LABEL if spec.kind == "tpu" else GPU_ACCELERATOR_LABEL
    seen: set[str] = set()
    for node in cluster.nodes({label: ""}) or []:
        labels: Mapping[str, Any] = node["metadata"].get("labels") or {}
        topology = labels.get(TPU_TOPOLOGY_LABEL)
        seen.add(f"{labels.get(label)} {topology}" if topology else str(labels.get(label)))
    return sorted(seen)


def _create_hint(spec: AcceleratorSpec) -> str:
    pool = "gcloud container node-pools create POOL --cluster CLUSTER --location LOCATION"
    if spec.kind == "gpu":
        gke = spec.node_selector[GPU_ACCELERATOR_LABEL]
        return (
            f"{pool} --machine-type {spec.machine_type} "
            f"--accelerator type={gke},count={spec.chips} --num-nodes 1"
        )
    if spec.placement == "workload-policy":
        return (
            "Ironwood multi-host pools are placed by a workload policy, not --tpu-topology: "
            "gcloud compute resource-policies create workload-policy POLICY "
            f"--type HIGH_THROUGHPUT --accelerator-topology {spec.topology} --region REGION; "
            f"{pool} --machine-type {spec.machine_type} --placement-policy POLICY "
            f"--num-nodes {spec.hosts} (one pool per slice)"
        )
    topology = f" --tpu-topology {spec.topology}" if spec.multi_host else ""
    return f"{pool} --machine-type {spec.machine_type}{topology} --num-nodes {spec.hosts}" + (
        " (one pool per slice)" if spec.multi_host else ""
    )


def _queue(cluster: Cluster, queue: str) -> list[Finding]:
    queues = cluster.local_queues()
    if queues is None:
        return [
            Finding(
                check="queue",
                severity="missing",
                message=f"--queue {queue}: Kueue is not installed in this cluster "
                "(no kueue.x-k8s.io API)",
                hint=KUEUE_INSTALL,
            )
        ]
    if queue in queues:
        return []
    known = f"LocalQueues there: {', '.join(queues)}" if queues else "it has no LocalQueues"
    return [
        Finding(
            check="queue",
            severity="missing",
            message=f"no Kueue LocalQueue {queue} in namespace {cluster.namespace} ({known})",
            hint="pass --queue with one of those, or ask a cluster admin for a LocalQueue "
            "pointing at a ClusterQueue",
        )
    ]
