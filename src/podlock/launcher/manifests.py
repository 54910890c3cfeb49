"""``render(request) -> manifests``: the Kubernetes objects for one job, pure and deterministic.

Single-host (CPU, one GPU node, one-VM TPU slices) is a ``batch/v1`` Job; a multi-host TPU
slice, several slices, or N GPU nodes (``nodes``) is a JobSet (``jobset.x-k8s.io/v1alpha2``):
one indexed Job of one pod per VM, the whole slice (or all N nodes) in one node pool
(exclusive topology), the headless Service made by JobSet itself
(``network.enableDNSHostnames``), and the worker environment (``rendezvous``) set here rather
than trusted to a webhook. Same request, same bytes: no timestamps, no random names.

Multi-slice (``slices`` > 1) is one replicated job with ``replicas`` = slices, as GKE's
multislice examples write it; each Job lands in its own node pool. A ``queue`` labels the
object for Kueue (``kueue.x-k8s.io/queue-name``); a Job is created suspended, as Kueue
expects, and Kueue unsuspends it at admission. ``capacity`` adds the node selectors,
tolerations and affinity of that kind of capacity (``capacity``), ``max_restarts`` the
failure policies of ``restarts``, ``priority`` a PriorityClass on the pods or, when queued,
Kueue's WorkloadPriorityClass label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from podlock.errors import PodlockError
from podlock.launcher import rendezvous, restarts
from podlock.launcher.accelerators import AcceleratorSpec
from podlock.launcher.capacity import Capacity
from podlock.launcher.rendezvous import GPU_JOB, TPU_JOB

JOBSET_API = "jobset.x-k8s.io/v1alpha2"
EXCLUSIVE_TOPOLOGY = "alpha.jobset.sigs.k8s.io/exclusive-topology"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
MANAGED_BY = "app.kubernetes.io/managed-by"
JOB_LABEL = "podlock.dev/job"
CONTAINER = "main"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"  # a Kueue WorkloadPriorityClass
TTL_SECONDS = 600
# JobSet pod hostnames are <name>-slice-<job>-<pod> and must fit a 63-character label.
MAX_NAME = 40
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# PriorityClass names are DNS subdomains.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRETISH = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """Everything a manifest says; ``keep_entrypoint`` passes CMD as ``args`` so the image's
    entrypoint (prebuilt mode's installer) runs first. ``max_restarts`` None: no restart
    policy (a failure ends the job, as before ``--max-restarts``)."""

    name: str
    image: str
    command: tuple[str, ...]
    accelerator: AcceleratorSpec
    namespace: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    env_from_secrets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    keep_entrypoint: bool = False
    ttl_seconds: int = TTL_SECONDS
    slices: int = 1
    nodes: int = 1  # GPU nodes, one pod each
    queue: str | None = None
    capacity: Capacity | None = None
    max_restarts: int | None = None
    priority: str | None = None

    @property
    def jobset(self) -> bool:
        """A multi-host slice, several slices, or several GPU nodes run as a JobSet."""
        return self.accelerator.multi_host or self.slices > 1 or self.nodes > 1

    @property
    def queued_provisioning(self) -> bool:
        """Flex-start through a Kueue queue: GKE's flex-start with queued provisioning."""
        return self.queue is not None and getattr(self.capacity, "kind", "") == "flex-start"


def job_name(text: str) -> str:
    """``text`` made a valid job name: lower-case DNS label, at most MAX_NAME characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"job-{name}".rstrip("-")
    return name[:MAX_NAME].rstrip("-")


def secret_looking(env: Mapping[str, str]) -> list[str]:
    """Names in ``env`` that look like credentials (they would be readable in the manifest)."""
    return sorted(k for k in env if _SECRETISH.search(k))


def render(request: JobRequest) -> list[dict[str, Any]]:
    """The objects to create, in creation order."""
    _check(request)
    _check_shape(request)
    if request.jobset:
        return [_jobset(request)]
    return [_job(request)]


def to_yaml(manifests: Sequence[Mapping[str, Any]]) -> str:
    """Manifests as one YAML stream (``---`` between objects), keys in the order built."""
    text: str = yaml.safe_dump_all(
        [dict(m) for m in manifests], sort_keys=False, default_flow_style=False, width=100
    )
    return text


def kind_of(request: JobRequest) -> str:
    return "JobSet" if request.jobset else "Job"


def _check(request: JobRequest) -> None:
    if not request.command:
        raise PodlockError(
            "no command to run", hint="put it after `--`, e.g. `-- python -m app.train`"
        )
    if not _NAME.match(request.name) or len(request.name) > MAX_NAME:
        raise PodlockError(
            f"job name {request.name!r} is not a lower-case DNS label of at most {MAX_NAME} "
            "characters",
            hint="use letters, digits and '-', starting with a letter",
        )
    if request.queue is not None and not _LABEL_VALUE.match(request.queue):
        raise PodlockError(
            f"--queue {request.queue!r} is not a Kueue LocalQueue name",
            hint="LocalQueue names are lower-case DNS labels (letters, digits, '-')",
        )
    if request.max_restarts is not None and not 0 <= request.max_restarts <= restarts.MAX_RESTARTS:
        raise PodlockError(
            f"--max-restarts {request.max_restarts}: not a number of restarts",
            hint="0 or more (0: preemptions and lost nodes still restart the job)",
        )
    priority = request.priority
    if priority is not None:
        queued = request.queue is not None
        ok = _LABEL_VALUE.match(priority) if queued else _SUBDOMAIN.match(priority)
        if not ok or len(priority) > 253:
            what = "Kueue WorkloadPriorityClass" if queued else "PriorityClass"
            raise PodlockError(
                f"--priority {priority!r} is not a {what} name",
                hint="lower-case letters, digits and '-' (`kubectl get priorityclasses` "
                "or `kubectl get workloadpriorityclasses` lists them)",
            )
    reserved = _reserved_env(request)
    for key in request.env:
        if not _ENV_NAME.match(key):
            raise PodlockError(f"--env {key!r}: not a valid environment variable name")
        if key in reserved:
            raise PodlockError(f"--env {key}: {reserved[key]}", hint="drop it; podlock sets it")


def _reserved_env(request: JobRequest) -> dict[str, str]:
    """Variables podlock sets for this job, with why."""
    out: dict[str, str] = {}
    if request.accelerator.multi_host:
        out |= dict.fromkeys(rendezvous.TPU_ENV, "podlock sets it for each worker of a slice")
    if request.slices > 1:
        out |= dict.fromkeys(rendezvous.MEGASCALE_ENV, "--slices sets the MEGASCALE_* variables")
    if request.nodes > 1:
        out |= dict.fromkeys(rendezvous.GPU_ENV, "--nodes sets it for each node's worker")
    return out


def _check_shape(request: JobRequest) -> None:
    """Slices are for multi-host TPU slices, nodes for GPUs."""
    spec = request.accelerator
    if request.slices < 1:
        raise PodlockError(f"--slices {request.slices}: a job needs at least one slice")
    if request.slices > 1 and not spec.multi_host:
        raise PodlockError(
            f"--slices {request.slices}: {spec.name} is not a multi-host TPU "
            "slice, and GKE runs multi-slice jobs only on multi-host TPU slice node pools",
            hint="pick a multi-host slice (`podlock accelerators` shows HOSTS > 1), "
            "e.g. --accelerator tpu-v6e-16",
        )
    if request.nodes < 1:
        raise PodlockError(f"--nodes {request.nodes}: a job needs at least one node")
    if request.nodes > 1 and spec.kind != "gpu":
        hint = (
            "a TPU slice's size sets its hosts: pick a larger slice, or --slices N of a "
            "multi-host one"
            if spec.kind == "tpu"
            else "pick a GPU accelerator, e.g. --accelerator h100x8 --nodes 4"
        )
        raise PodlockError(f"--nodes {request.nodes}: {spec.name} is not a GPU node", hint=hint)


def _metadata(request: JobRequest, *, annotations: Mapping[str, str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": request.name}
    if request.namespace:
        meta["namespace"] = request.namespace
    labels = {MANAGED_BY: "podlock", JOB_LABEL: request.name, **request.labels}
    if request.queue:
        labels[QUEUE_LABEL] = request.queue
        if request.priority:
            labels[PRIORITY_LABEL] = request.priority
    meta["labels"] = dict(sorted(labels.items()))
    merged = {**(annotations or {}), **request.annotations}
    if merged:
        meta["annotations"] = dict(sorted(merged.items()))
    return meta


def _ports(request: JobRequest) -> tuple[int, ...]:
    if request.nodes > 1:
        return rendezvous.GPU_PORTS
    if request.accelerator.multi_host:
        tpu = rendezvous.TPU_PORTS
        return (*tpu, rendezvous.MEGASCALE_PORT) if request.slices > 1 else tpu
    return ()


def _container(request: JobRequest, env: list[dict[str, Any]]) -> dict[str, Any]:
    spec = request.accelerator
    container: dict[str, Any] = {"name": CONTAINER, "image": request.image}
    container["args" if request.keep_entrypoint else "command"] = list(request.command)
    if env:
        container["env"] = env
    if request.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in request.env_from_secrets]
    if ports := _ports(request):
        container["ports"] = [{"containerPort": p} for p in ports]
    if spec.resource:
        amount = {spec.resource: str(spec.per_host)}
        container["resources"] = {"requests": dict(amount), "limits": dict(amount)}
    return container


def _pod_template(request: JobRequest, env: list[dict[str, Any]]) -> dict[str, Any]:
    spec, capacity = request.accelerator, request.capacity
    pod: dict[str, Any] = {"restartPolicy": "Never"}
    if request.priority and not request.queue:
        pod["priorityClassName"] = request.priority
    selector = {**spec.node_selector, **(capacity.node_selector if capacity else {})}
    if selector:
        pod["nodeSelector"] = selector
    if capacity is not None and capacity.affinity:
        pod["affinity"] = capacity.affinity
    tolerations = (
        [{"key": spec.resource, "operator": "Exists", "effect": "NoSchedule"}]
        if spec.resource
        else []
    )
    if capacity is not None:
        tolerations += capacity.tolerations(queued=request.queued_provisioning)
    if tolerations:
        pod["tolerations"] = tolerations
    pod["containers"] = [_container(request, env)]
    return {"metadata": {"labels": {JOB_LABEL: request.name}}, "spec": pod}


def _user_env(request: JobRequest) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in sorted(request.env.items())]


def _job(request: JobRequest) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0}
    if request.max_restarts is not None:
        spec |= restarts.job_policy(request.max_restarts)
    spec["ttlSecondsAfterFinished"] = request.ttl_seconds
    if request.queue:
        spec["suspend"] = True  # Kueue starts it when the queue admits it
    spec["template"] = _pod_template(request, _user_env(request))
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _metadata(request), "spec": spec}


def _jobset(request: JobRequest) -> dict[str, Any]:
    if request.nodes > 1:
        hosts, replicated_job = request.nodes, GPU_JOB
        worker_env = rendezvous.gpu_env(request.name, hosts, request.accelerator.per_host)
    else:
        hosts, replicated_job = request.accelerator.hosts, TPU_JOB
        worker_env = rendezvous.tpu_env(request.name, hosts, request.slices)
    job: dict[str, Any] = {
        "completionMode": "Indexed",
        "parallelism": hosts,
        "completions": hosts,
        "backoffLimit": 0,
    }
    failure: dict[str, Any] = {"maxRestarts": 0}
    if request.max_restarts is not None:
        failure = restarts.jobset_policy(request.max_restarts)
        job |= restarts.jobset_job_policy()
    job["template"] = _pod_template(request, [*_user_env(request), *worker_env])
    return {
        "apiVersion": JOBSET_API,
        "kind": "JobSet",
        "metadata": _metadata(request, annotations={EXCLUSIVE_TOPOLOGY: NODEPOOL_LABEL}),
        "spec": {
            "failurePolicy": failure,
            "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
            "replicatedJobs": [
                {"name": replicated_job, "replicas": request.slices, "template": {"spec": job}}
            ],
            "ttlSecondsAfterFinished": request.ttl_seconds,
        },
    }
