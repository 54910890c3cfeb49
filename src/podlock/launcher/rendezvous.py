"""How the workers of a multi-host job find each other: the environment each pod gets.

Every worker is a pod of a JobSet, named ``<jobset>-<replicated job>-<job index>-<pod index>``
in the headless Service named after the JobSet (``network.enableDNSHostnames``), so the
leader (job 0, pod 0) has a DNS name known before anything runs; each pod's own rank comes
from its completion index through the downward API. Nothing here trusts a webhook.

- A multi-host TPU slice: ``TPU_WORKER_ID``, ``TPU_WORKER_HOSTNAMES`` and
  ``JAX_COORDINATOR_ADDRESS``; several slices add the ``MEGASCALE_*`` variables JAX's
  multi-slice runtime reads (JobSet does not set them, jobset#787), the slice id from the
  pod's ``jobset.sigs.k8s.io/job-index`` annotation.
- N GPU nodes: ``MASTER_ADDR``/``MASTER_PORT``/``WORLD_SIZE``/``NODE_RANK`` (one process
  per node, as Kubeflow's PyTorchJob sets them), the ``PET_*`` defaults ``torchrun`` reads
  for ``--nnodes``/``--node-rank``/``--nproc-per-node``/``--master-addr``/``--master-port``
  (so ``torchrun train.py`` needs no flags; torchrun then sets each worker process's own
  ``WORLD_SIZE`` and ``RANK``), and ``JAX_COORDINATOR_ADDRESS``/``JAX_NUM_PROCESSES``/
  ``JAX_PROCESS_ID`` for ``jax.distributed.initialize()`` (one JAX process per node).
"""

from __future__ import annotations

from typing import Any

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOB_INDEX = "jobset.sigs.k8s.io/job-index"  # which Job of the replicated job: the slice
TPU_JOB = "slice"  # the replicated job of a TPU JobSet: one Job per slice
GPU_JOB = "node"  # the replicated job of a multi-node GPU JobSet: one Job of N pods
COORDINATOR_PORT = 8476  # JAX's default coordinator port on GKE TPU clusters
MEGASCALE_PORT = 8081  # the port Ray's and dew's multi-slice launchers give MEGASCALE_PORT
TORCH_PORT = 29500  # torch.distributed's default MASTER_PORT
TPU_PORTS = (8471, 8080, COORDINATOR_PORT)  # ICI/megascale, metrics, JAX coordinator
GPU_PORTS = (TORCH_PORT, COORDINATOR_PORT)

TPU_ENV = frozenset({"TPU_WORKER_ID", "TPU_WORKER_HOSTNAMES", "JAX_COORDINATOR_ADDRESS"})
MEGASCALE_ENV = frozenset(
    {
        "MEGASCALE_COORDINATOR_ADDRESS",
        "MEGASCALE_NUM_SLICES",
        "MEGASCALE_SLICE_ID",
        "MEGASCALE_PORT",
    }
)
GPU_ENV = frozenset(
    {
        "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "JAX_COORDINATOR_ADDRESS",
        "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "PET_NNODES", "PET_NODE_RANK",
        "PET_NPROC_PER_NODE", "PET_MASTER_ADDR", "PET_MASTER_PORT",
    }
)  # fmt: skip


def worker_hostnames(
    name: str, hosts: int, *, slice_id: str = "0", replicated_job: str = TPU_JOB
) -> list[str]:
    """The workers of one Job as DNS names: JobSet names them <jobset>-<rjob>-<job>-<index>
    in the headless Service named after the JobSet."""
    return [f"{name}-{replicated_job}-{slice_id}-{i}.{name}" for i in range(hosts)]


def _annotation(key: str) -> dict[str, Any]:
    return {"fieldRef": {"fieldPath": f"metadata.annotations['{key}']"}}


def _value(name: str, value: object) -> dict[str, Any]:
    return {"name": name, "value": str(value)}


def tpu_env(name: str, hosts: int, slices: int) -> list[dict[str, Any]]:
    """The environment of a TPU slice's workers (and of several slices)."""
    coordinator = worker_hostnames(name, hosts)[0]
    env: list[dict[str, Any]] = []
    if slices > 1:
        # Kubernetes expands $(MEGASCALE_SLICE_ID) from the variable defined above it, so one
        # template names each slice's own workers.
        hostnames = worker_hostnames(name, hosts, slice_id="$(MEGASCALE_SLICE_ID)")
        env += [
            {"name": "MEGASCALE_SLICE_ID", "valueFrom": _annotation(JOB_INDEX)},
            _value("MEGASCALE_NUM_SLICES", slices),
            _value("MEGASCALE_COORDINATOR_ADDRESS", f"{coordinator}:{MEGASCALE_PORT}"),
            _value("MEGASCALE_PORT", MEGASCALE_PORT),
        ]
    else:
        hostnames = worker_hostnames(name, hosts)
    return [
        *env,
        _value("JAX_COORDINATOR_ADDRESS", f"{coordinator}:{COORDINATOR_PORT}"),
        _value("TPU_WORKER_HOSTNAMES", ",".join(hostnames)),
        {"name": "TPU_WORKER_ID", "valueFrom": _annotation(COMPLETION_INDEX)},
    ]


def gpu_env(name: str, nodes: int, gpus_per_node: int) -> list[dict[str, Any]]:
    """The environment of N GPU nodes' workers: torch.distributed's, torchrun's, JAX's."""
    leader = worker_hostnames(name, nodes, replicated_job=GPU_JOB)[0]
    return [
        _value("MASTER_ADDR", leader),
        _value("MASTER_PORT", TORCH_PORT),
        _value("WORLD_SIZE", nodes),
        {"name": "NODE_RANK", "valueFrom": _annotation(COMPLETION_INDEX)},
        _value("PET_MASTER_ADDR", leader),
        _value("PET_MASTER_PORT", TORCH_PORT),
        _value("PET_NNODES", nodes),
        _value("PET_NPROC_PER_NODE", gpus_per_node),
        {"name": "PET_NODE_RANK", "valueFrom": _annotation(COMPLETION_INDEX)},
        _value("JAX_COORDINATOR_ADDRESS", f"{leader}:{COORDINATOR_PORT}"),
        _value("JAX_NUM_PROCESSES", nodes),
        {"name": "JAX_PROCESS_ID", "valueFrom": _annotation(COMPLETION_INDEX)},
    ]
