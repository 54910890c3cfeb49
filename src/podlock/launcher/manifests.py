"""``render(request) -> manifests``: the Kubernetes objects for one job, pure and deterministic.

Single-host (CPU, GPU, one-VM TPU slices) is a ``batch/v1`` Job; a multi-host TPU slice is a
JobSet (``jobset.x-k8s.io/v1alpha2``): one indexed Job of one pod per VM, the whole slice in
one node pool (exclusive topology), the headless Service made by JobSet itself
(``network.enableDNSHostnames``), and the worker environment JAX reads on GKE set here
rather than trusted to a webhook. Same request, same bytes: no timestamps, no random names.

Multi-slice (``slices`` > 1) is one replicated job with ``replicas`` = slices, as GKE's
multislice examples write it; each Job lands in its own node pool (exclusive topology), and
the ``MEGASCALE_*`` variables JAX's multi-slice runtime reads are set here (JobSet does not
set them, jobset#787): the slice id from the pod's ``jobset.sigs.k8s.io/job-index``
annotation (downward API), the coordinator = pod 0 of slice 0 through the JobSet's headless
Service. A ``queue`` labels the object for Kueue (``kueue.x-k8s.io/queue-name``); a Job is
created suspended, as Kueue expects, and Kueue unsuspends it at admission.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from podlock.errors import PodlockError
from podlock.launcher.accelerators import AcceleratorSpec

JOBSET_API = "jobset.x-k8s.io/v1alpha2"
EXCLUSIVE_TOPOLOGY = "alpha.jobset.sigs.k8s.io/exclusive-topology"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
MANAGED_BY = "app.kubernetes.io/managed-by"
JOB_LABEL = "podlock.dev/job"
CONTAINER = "main"
REPLICATED_JOB = "slice"
JOB_INDEX = "jobset.sigs.k8s.io/job-index"  # which Job of the replicated job: the slice
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
COORDINATOR_PORT = 8476  # JAX's default coordinator port on GKE TPU clusters
MEGASCALE_PORT = 8081  # the port Ray's and dew's multi-slice launchers give MEGASCALE_PORT
TPU_PORTS = (8471, 8080, COORDINATOR_PORT)  # ICI/megascale, metrics, JAX coordinator
TTL_SECONDS = 600
# JobSet pod hostnames are <name>-slice-<job>-<pod> and must fit a 63-character label.
MAX_NAME = 40
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_RESERVED_ENV = frozenset({"TPU_WORKER_ID", "TPU_WORKER_HOSTNAMES", "JAX_COORDINATOR_ADDRESS"})
_MEGASCALE_ENV = frozenset(
    {
        "MEGASCALE_COORDINATOR_ADDRESS",
        "MEGASCALE_NUM_SLICES",
        "MEGASCALE_SLICE_ID",
        "MEGASCALE_PORT",
    }
)
_LABEL_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SECRETISH = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """Everything a manifest says; ``keep_entrypoint`` passes CMD as ``args`` so the image's
    entrypoint (prebuilt mode's installer) runs first."""

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
    queue: str | None = None

    @property
    def jobset(self) -> bool:
        """A multi-host slice, or several slices, runs as a JobSet."""
        return self.accelerator.multi_host or self.slices > 1


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
    if request.slices < 1:
        raise PodlockError(f"--slices {request.slices}: a job needs at least one slice")
    if request.slices > 1 and not request.accelerator.multi_host:
        raise PodlockError(
            f"--slices {request.slices}: {request.accelerator.name} is not a multi-host TPU "
            "slice, and GKE runs multi-slice jobs only on multi-host TPU slice node pools",
            hint="pick a multi-host slice (`podlock accelerators` shows HOSTS > 1), "
            "e.g. --accelerator tpu-v6e-16",
        )
    if request.queue is not None and not _LABEL_VALUE.match(request.queue):
        raise PodlockError(
            f"--queue {request.queue!r} is not a Kueue LocalQueue name",
            hint="LocalQueue names are lower-case DNS labels (letters, digits, '-')",
        )
    for key in request.env:
        if not _ENV_NAME.match(key):
            raise PodlockError(f"--env {key!r}: not a valid environment variable name")
        if key in _RESERVED_ENV and request.accelerator.multi_host:
            raise PodlockError(
                f"--env {key}: podlock sets it for each worker of a multi-host slice",
                hint="drop it; each pod gets its own value",
            )
        if key in _MEGASCALE_ENV and request.slices > 1:
            raise PodlockError(
                f"--env {key}: podlock sets it for each slice of a multi-slice job",
                hint="drop it; --slices sets the MEGASCALE_* variables",
            )


def _metadata(request: JobRequest, *, annotations: Mapping[str, str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": request.name}
    if request.namespace:
        meta["namespace"] = request.namespace
    labels = {MANAGED_BY: "podlock", JOB_LABEL: request.name, **request.labels}
    if request.queue:
        labels[QUEUE_LABEL] = request.queue
    meta["labels"] = dict(sorted(labels.items()))
    merged = {**(annotations or {}), **request.annotations}
    if merged:
        meta["annotations"] = dict(sorted(merged.items()))
    return meta


def _pod_template(request: JobRequest, env: list[dict[str, Any]]) -> dict[str, Any]:
    spec = request.accelerator
    container: dict[str, Any] = {"name": CONTAINER, "image": request.image}
    container["args" if request.keep_entrypoint else "command"] = list(request.command)
    if env:
        container["env"] = env
    if request.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in request.env_from_secrets]
    if spec.multi_host:
        ports = (*TPU_PORTS, MEGASCALE_PORT) if request.slices > 1 else TPU_PORTS
        container["ports"] = [{"containerPort": p} for p in ports]
    if spec.resource:
        amount = {spec.resource: str(spec.per_host)}
        container["resources"] = {"requests": dict(amount), "limits": dict(amount)}
    pod: dict[str, Any] = {"restartPolicy": "Never"}
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.resource:
        pod["tolerations"] = [{"key": spec.resource, "operator": "Exists", "effect": "NoSchedule"}]
    pod["containers"] = [container]
    return {"metadata": {"labels": {JOB_LABEL: request.name}}, "spec": pod}


def _user_env(request: JobRequest) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in sorted(request.env.items())]


def _job(request: JobRequest) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0, "ttlSecondsAfterFinished": request.ttl_seconds}
    if request.queue:
        spec["suspend"] = True  # Kueue starts it when the queue admits it
    spec["template"] = _pod_template(request, _user_env(request))
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _metadata(request), "spec": spec}


def worker_hostnames(name: str, hosts: int, *, slice_id: str = "0") -> list[str]:
    """The slice's pods as DNS names: JobSet names them <jobset>-<rjob>-<job>-<index> in the
    headless Service named after the JobSet."""
    return [f"{name}-{REPLICATED_JOB}-{slice_id}-{i}.{name}" for i in range(hosts)]


def _annotation(key: str) -> dict[str, Any]:
    return {"fieldRef": {"fieldPath": f"metadata.annotations['{key}']"}}


def _jobset(request: JobRequest) -> dict[str, Any]:
    hosts = request.accelerator.hosts
    coordinator = worker_hostnames(request.name, hosts)[0]
    env = [*_user_env(request)]
    if request.slices > 1:
        # Kubernetes expands $(MEGASCALE_SLICE_ID) from the variable defined above it, so one
        # template names each slice's own workers.
        hostnames = worker_hostnames(request.name, hosts, slice_id="$(MEGASCALE_SLICE_ID)")
        env += [
            {"name": "MEGASCALE_SLICE_ID", "valueFrom": _annotation(JOB_INDEX)},
            {"name": "MEGASCALE_NUM_SLICES", "value": str(request.slices)},
            {"name": "MEGASCALE_COORDINATOR_ADDRESS", "value": f"{coordinator}:{MEGASCALE_PORT}"},
            {"name": "MEGASCALE_PORT", "value": str(MEGASCALE_PORT)},
        ]
    else:
        hostnames = worker_hostnames(request.name, hosts)
    env += [
        {"name": "JAX_COORDINATOR_ADDRESS", "value": f"{coordinator}:{COORDINATOR_PORT}"},
        {"name": "TPU_WORKER_HOSTNAMES", "value": ",".join(hostnames)},
        {"name": "TPU_WORKER_ID", "valueFrom": _annotation(COMPLETION_INDEX)},
    ]
    return {
        "apiVersion": JOBSET_API,
        "kind": "JobSet",
        "metadata": _metadata(request, annotations={EXCLUSIVE_TOPOLOGY: NODEPOOL_LABEL}),
        "spec": {
            "failurePolicy": {"maxRestarts": 0},
            "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
            "replicatedJobs": [
                {
                    "name": REPLICATED_JOB,
                    "replicas": request.slices,
                    "template": {
                        "spec": {
                            "completionMode": "Indexed",
                            "parallelism": hosts,
                            "completions": hosts,
                            "backoffLimit": 0,
                            "template": _pod_template(request, env),
                        }
                    },
                }
            ],
            "ttlSecondsAfterFinished": request.ttl_seconds,
        },
    }
