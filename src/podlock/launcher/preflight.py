"""``preflight(cluster, request)``: can this cluster ever run the job? Asked before anything
is built or pushed, so a missing node pool costs seconds, not a build and a 15-minute wait.

Each check reads only what the API shows the user: the namespace, what RBAC lets them do
(SelfSubjectAccessReview), nodes with the accelerator's labels grouped by node pool (a
multi-host slice needs all its VMs in one pool, and each slice its own pool), the cluster
autoscaler's status (a pool at zero nodes has no Node objects, so when the autoscaler is
visible an empty result is a warning, not a verdict), JobSet, the Kueue LocalQueue, and what
the cluster serves (``served``: API versions, the JobSet CRD's fields, priority classes).
What podlock may not read is a warning saying so; what is missing stops the launch.

Capacity: the nodes are sorted by the kind of capacity they are (Spot, a reservation,
flex-start, on-demand: ``Capacity.matches``); the fallback order is walked and the first kind
with node pools that hold the job is used (``Outcome.capacity``), the pools found for each
kind reported. With none, and the autoscaler visible, the first kind is used with a warning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podlock.launcher import served
from podlock.launcher.accelerators import (
    GPU_ACCELERATOR_LABEL,
    TPU_ACCELERATOR_LABEL,
    TPU_TOPOLOGY_LABEL,
    AcceleratorSpec,
)
from podlock.launcher.capacity import RESERVATION_NAME, Capacity, describe
from podlock.launcher.cluster import KUEUE_GROUP, KUEUE_INSTALL, Cluster
from podlock.launcher.findings import Finding, PreflightFailed
from podlock.launcher.kube_errors import JOBSET_INSTALL
from podlock.launcher.manifests import NODEPOOL_LABEL, JobRequest, kind_of, render
from podlock.reporter import NullReporter, Reporter

__all__ = ["Finding", "Outcome", "PreflightFailed", "check", "preflight", "run"]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What the preflight found, the capacity it chose, and what it reports."""

    findings: list[Finding]
    capacity: Capacity | None = None  # the kind chosen from the fallback order
    report: list[str] = field(default_factory=list)  # per capacity kind: the pools found


def preflight(
    cluster: Cluster, request: JobRequest, capacities: Sequence[Capacity] = ()
) -> list[Finding]:
    """Everything missing or unknowable, in the order a user would fix it."""
    return run(cluster, request, capacities).findings


def run(cluster: Cluster, request: JobRequest, capacities: Sequence[Capacity] = ()) -> Outcome:
    """The preflight; ``capacities`` is the fallback order (default: the request's own)."""
    exists = cluster.namespace_exists()
    if exists is False:
        missing = Finding(
            check="namespace",
            severity="missing",
            message=f"namespace {cluster.namespace} does not exist",
            hint=f"kubectl create namespace {cluster.namespace}, or pass --namespace NS",
        )
        return Outcome(findings=[missing])
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
                message="JobSet is not installed (multi-host TPU slices, multi-slice and "
                "multi-node GPU jobs run as JobSets)",
                hint=JOBSET_INSTALL,
            )
        )
    order = list(capacities) or ([request.capacity] if request.capacity else [])
    walk = _walk(cluster, request, order)
    out += walk.findings
    groups = cluster.api_groups()
    if request.queue and not (KUEUE_GROUP in groups and not served.kueue_known(groups)):
        out += _queue(cluster, request.queue)
    [manifest] = render(request)
    out += served.findings(cluster, request, manifest)
    report = [*served.versions(cluster), *walk.report]
    return Outcome(findings=out, capacity=walk.capacity, report=report)


def check(
    cluster: Cluster,
    request: JobRequest,
    reporter: Reporter | None = None,
    capacities: Sequence[Capacity] = (),
) -> Capacity | None:
    """Run the preflight: what it found goes to the reporter, anything missing raises; the
    capacity chosen from ``capacities`` (None: none was asked for)."""
    reporter = reporter or NullReporter()
    outcome = run(cluster, request, capacities)
    for line in outcome.report:
        reporter.info(f"preflight: {line}")
    for f in outcome.findings:
        if f.severity == "warning":
            reporter.warn(f"preflight: {f.message}")
    missing = [f for f in outcome.findings if f.severity == "missing"]
    if missing:
        where = f"{cluster.connection.context}/{cluster.namespace}"
        raise PreflightFailed(where, missing)
    return outcome.capacity


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


def _walk(cluster: Cluster, request: JobRequest, order: list[Capacity]) -> Outcome:
    """The node pools of each capacity kind in ``order``, and the first kind that holds the
    job (without an order: any node with the accelerator's labels)."""
    spec = request.accelerator
    first = order[0] if order else None
    if spec.kind == "cpu" and not order:
        return Outcome(findings=[])
    nodes = cluster.nodes(spec.node_selector)
    what = _describe(spec, request)
    if nodes is None:
        using = f"; the job asks for {first}" if first else ""
        message = f"you may not list nodes; podlock cannot tell whether a node pool has {what}"
        return Outcome(
            findings=[Finding(check="nodes", severity="warning", message=message + using)],
            capacity=first,
        )
    hosts = request.nodes if request.nodes > 1 else spec.hosts
    report: list[str] = []
    options: list[Capacity | None] = [*order] or [None]
    for cap in options:
        pools = _pools(nodes, cap)
        if cap is not None:
            found = ", ".join(f"{p} ({n} nodes)" for p, n in sorted(pools.items()))
            report.append(f"capacity {cap}: {found or 'no node pool'} for {spec.name}")
        if sum(1 for n in pools.values() if n >= hosts) >= request.slices:
            if len(order) > 1:
                report.append(f"capacity: using {cap}, the first of {describe(order)} with "
                              f"node pools for {what}")  # fmt: skip
            return Outcome(findings=[], capacity=cap, report=report)
    if cluster.autoscaler_status():
        asked = f" for capacity {describe(order)}" if order else ""
        using = f"; using {first}, the first asked for" if len(order) > 1 else ""
        message = (
            f"no node pool has {what}{asked} right now; the cluster autoscaler is on, and a "
            "pool scaled to zero shows no nodes, so podlock cannot tell whether one will be "
            f"added{using}"
        )
        finding = Finding(check="nodes", severity="warning", message=message)
        return Outcome(findings=[finding], capacity=first, report=report)
    finding = Finding(
        check="capacity" if order else "nodes",
        severity="missing",
        message=_no_pool(cluster, request, order, nodes),
        hint=_create_hint(spec, request, first),
    )
    return Outcome(findings=[finding], capacity=first, report=report)


def _labels_of(node: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = node["metadata"].get("labels") or {}
    return labels


def _pools(nodes: list[dict[str, Any]], cap: Capacity | None) -> Counter[str]:
    """Nodes per node pool, of those that are ``cap`` (all of them for None)."""
    return Counter(
        str(_labels_of(n).get(NODEPOOL_LABEL, "") or "?")
        for n in nodes
        if cap is None or cap.matches(_labels_of(n))
    )


def _capacity_of(labels: Mapping[str, str]) -> str:
    """What kind of capacity a node is, as ``--capacity`` spells it."""
    for kind in ("spot", "flex-start"):
        if Capacity(kind=kind).matches(labels):
            return kind
    if labels.get(RESERVATION_NAME):
        return f"reservation:{labels[RESERVATION_NAME]}"
    return "on-demand"


def _no_pool(
    cluster: Cluster, request: JobRequest, order: list[Capacity], nodes: list[dict[str, Any]]
) -> str:
    """Why no node pool holds the job, and what the cluster has instead."""
    spec = request.accelerator
    what = _describe(spec, request)
    wanted = request.slices
    slices = f"{wanted} slices need {wanted} such pools" if wanted > 1 else "one is needed"
    hosts = request.nodes if request.nodes > 1 else spec.hosts
    if not order:
        if not nodes:
            have = _accelerators_present(cluster, spec)
            message = f"no node has {_labels(spec.node_selector)}: no node pool for {what}"
            return message + (
                f" (this cluster's accelerator nodes: {', '.join(have)})" if have else ""
            )
        pools = _pools(nodes, None)
        full = sum(1 for n in pools.values() if n >= hosts)
        sizes = ", ".join(f"{p}: {n} nodes" for p, n in sorted(pools.items()))
        return f"{full} node pool(s) hold a whole slice of {what} ({sizes}); {slices}"
    parts: list[str] = []
    for cap in order:
        pools = _pools(nodes, cap)
        if cap.kind == "reservation" and not pools:
            parts.append(f"no node pool consumes reservation {cap.reservation} (no node has "
                         f"{_labels({**spec.node_selector, **cap.node_selector})})")  # fmt: skip
        elif not pools:
            parts.append(f"no {cap} node pool")
        else:
            sizes = ", ".join(f"{p}: {n} nodes" for p, n in sorted(pools.items()))
            parts.append(f"{cap}: too small ({sizes}; {slices} of {hosts} nodes)")
    kinds = Counter(f"{_labels_of(n).get(NODEPOOL_LABEL, '?')} ({_capacity_of(_labels_of(n))})"
                    for n in nodes)  # fmt: skip
    pools_here = ", ".join(f"{p}, {n} nodes" for p, n in sorted(kinds.items())) or "none"
    return (
        f"no capacity asked for holds {what}: {'; '.join(parts)} "
        f"(its node pools here: {pools_here})"
    )


def _describe(spec: AcceleratorSpec, request: JobRequest) -> str:
    if spec.kind == "gpu":
        nodes = f"{request.nodes} nodes of " if request.nodes > 1 else ""
        return f"{nodes}{spec.name} ({spec.machine_type}, {spec.chips} GPUs per node)"
    if spec.kind == "cpu":
        return "cpu"
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


def _create_hint(spec: AcceleratorSpec, request: JobRequest, cap: Capacity | None) -> str:
    pool = "gcloud container node-pools create POOL --cluster CLUSTER --location LOCATION"
    if spec.kind == "cpu":
        return f"{pool} --machine-type MACHINE{_node_flags(1, cap, request)}"
    if spec.kind == "gpu":
        gke = spec.node_selector[GPU_ACCELERATOR_LABEL]
        return (
            f"{pool} --machine-type {spec.machine_type} "
            f"--accelerator type={gke},count={spec.chips}{_node_flags(request.nodes, cap, request)}"
        )
    nodes = _node_flags(spec.hosts, cap, request)
    if spec.placement == "workload-policy":
        return (
            "Ironwood multi-host pools are placed by a workload policy, not --tpu-topology: "
            "gcloud compute resource-policies create workload-policy POLICY "
            f"--type HIGH_THROUGHPUT --accelerator-topology {spec.topology} --region REGION; "
            f"{pool} --machine-type {spec.machine_type} --placement-policy POLICY"
            f"{nodes} (one pool per slice)"
        )
    topology = f" --tpu-topology {spec.topology}" if spec.multi_host else ""
    return f"{pool} --machine-type {spec.machine_type}{topology}{nodes}" + (
        " (one pool per slice)" if spec.multi_host else ""
    )


def _node_flags(count: int, cap: Capacity | None, request: JobRequest) -> str:
    """``--num-nodes N`` and the flags that make the pool that kind of capacity (gcloud's
    ``--spot``, ``--reservation-affinity specific --reservation R``, ``--flex-start`` with
    autoscaling from zero, as GKE's flex-start pages create it)."""
    if cap is None or cap.kind == "on-demand":
        return f" --num-nodes {count}"
    if cap.kind == "spot":
        return f" --spot --num-nodes {count}"
    if cap.kind == "reservation":
        name = str(cap).removeprefix("reservation:")
        return f" --reservation-affinity specific --reservation {name} --num-nodes {count}"
    queued = " --enable-queued-provisioning" if request.queued_provisioning else ""
    return (
        f" --flex-start{queued} --enable-autoscaling --num-nodes 0 --total-min-nodes 0 "
        f"--total-max-nodes {count} --location-policy ANY --reservation-affinity none"
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
