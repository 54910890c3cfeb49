"""What the cluster serves against what podlock writes, asked by the preflight before a submit.

- **Versions.** Discovery names the JobSet and Kueue versions served. JobSet must serve
  v1alpha2 (what podlock writes); Kueue v1beta2 or v1beta1 (what it reads LocalQueues and
  Workloads through, newest first). A group at another version is a skew, named.
- **Fields.** A served version is not enough: a CRD installed from an older JobSet release
  serves v1alpha2 without ``failurePolicy.rules`` (``--max-restarts``), and the API server
  prunes an undeclared field silently, so a preemption would then count as the job's own
  failure. The rendered JobSet is walked against the CRD's own ``openAPIV3Schema``; every
  field or enum value podlock writes that it lacks is named.
- **Priority.** ``--priority`` names a PriorityClass (scheduling.k8s.io), or when queued a
  Kueue WorkloadPriorityClass, that must exist.
- **Queued provisioning.** flex-start through a queue needs the ProvisioningRequest API
  (``autoscaling.x-k8s.io``) that Kueue's admission check creates requests in.

Each read goes through the user's credentials; what they may not read is a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from podlock.launcher.cluster import KUEUE_GROUP, KUEUE_VERSIONS, Cluster
from podlock.launcher.findings import Finding
from podlock.launcher.kube_errors import api_error, status_of
from podlock.launcher.manifests import JOBSET_API, JobRequest

JOBSET_GROUP, JOBSET_VERSION = JOBSET_API.split("/")
JOBSET_CRD = f"jobsets.{JOBSET_GROUP}"
PROVISIONING_GROUP = "autoscaling.x-k8s.io"  # ProvisioningRequest (cluster autoscaler)
JOBSET_UPGRADE = (
    "upgrade JobSet: kubectl apply --server-side -f "
    "https://github.com/kubernetes-sigs/jobset/releases/latest/download/manifests.yaml"
)


def versions(cluster: Cluster) -> list[str]:
    """What the preflight says it found: ``JobSet v1alpha2, Kueue v1beta2``."""
    groups = cluster.api_groups()
    found = [
        f"{what} {', '.join(groups[group])}" if group in groups else f"{what}: not served"
        for what, group in (("JobSet", JOBSET_GROUP), ("Kueue", KUEUE_GROUP))
    ]
    return [f"serves {'; '.join(found)}"]


def findings(cluster: Cluster, request: JobRequest, manifest: Mapping[str, Any]) -> list[Finding]:
    """Version skews, missing fields, priority classes, ProvisioningRequests."""
    groups = cluster.api_groups()
    out: list[Finding] = []
    if manifest.get("kind") == "JobSet" and JOBSET_GROUP in groups:
        out += _jobset(cluster, groups[JOBSET_GROUP], manifest, request)
    if request.queue and KUEUE_GROUP in groups and not kueue_known(groups):
        out.append(
            Finding(
                check="versions",
                severity="missing",
                message=f"the cluster serves {KUEUE_GROUP} {', '.join(groups[KUEUE_GROUP])}; "
                f"podlock reads Kueue's LocalQueues and Workloads through "
                f"{' or '.join(KUEUE_VERSIONS)}",
                hint="upgrade Kueue (https://kueue.sigs.k8s.io/docs/installation/) or podlock",
            )
        )
    if request.priority and (request.queue is None or KUEUE_GROUP in groups):
        out += _priority(cluster, request.priority, queued=request.queue is not None)
    if request.queued_provisioning and PROVISIONING_GROUP not in groups:
        out.append(
            Finding(
                check="capacity",
                severity="warning",
                message="flex-start through a Kueue queue asks for queued provisioning, but "
                f"the cluster serves no ProvisioningRequest API ({PROVISIONING_GROUP}); "
                "Kueue cannot ask GKE for the nodes, and the pods wait for flex-start nodes "
                "the autoscaler makes",
                hint="create the flex-start node pool with --enable-queued-provisioning and "
                "give the ClusterQueue Kueue's ProvisioningRequest admission check (GKE: "
                '"flex-start with queued provisioning")',
            )
        )
    return out


def kueue_known(groups: Mapping[str, list[str]]) -> bool:
    return any(v in groups.get(KUEUE_GROUP, []) for v in KUEUE_VERSIONS)


def _jobset(
    cluster: Cluster, served: list[str], manifest: Mapping[str, Any], request: JobRequest
) -> list[Finding]:
    if JOBSET_VERSION not in served:
        return [
            Finding(
                check="versions",
                severity="missing",
                message=f"the cluster serves {JOBSET_GROUP} {', '.join(served)}, not "
                f"{JOBSET_VERSION}, which podlock writes",
                hint=JOBSET_UPGRADE,
            )
        ]
    schema = _crd_schema(cluster, JOBSET_CRD, JOBSET_VERSION)
    if schema is None:
        if request.max_restarts is None:
            return []
        return [
            Finding(
                check="versions",
                severity="warning",
                message=f"you may not read the {JOBSET_CRD} CRD; podlock cannot tell whether "
                "this JobSet knows failurePolicy.rules (--max-restarts)",
            )
        ]
    gaps = schema_gaps(manifest, schema)
    if not gaps:
        return []
    why = (
        " (written for --max-restarts: without them a preemption counts as a failure)"
        if any("failurePolicy" in g for g in gaps)
        else ""
    )
    return [
        Finding(
            check="versions",
            severity="missing",
            message=f"the JobSet CRD here ({JOBSET_API}) is older than what podlock writes: it "
            f"does not know {', '.join(gaps)}{why}, and the API server would drop them",
            hint=JOBSET_UPGRADE + (", or leave --max-restarts out" if why else ""),
        )
    ]


def schema_gaps(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Fields of ``value`` a structural schema does not declare, and enum values it does not
    allow, as paths (``spec.failurePolicy.rules``), each once."""
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path.lstrip('.')}={value}")
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        open_ = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or props is None
        for key, item in value.items():
            if props is not None and key in props:
                out += schema_gaps(item, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += schema_gaps(item, extra, f"{path}.{key}")
            elif not open_ and not extra:
                out.append(f"{path}.{key}".lstrip("."))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            out += schema_gaps(item, schema["items"], f"{path}[]")
    return list(dict.fromkeys(out))


def _crd_schema(cluster: Cluster, name: str, version: str) -> Mapping[str, Any] | None:
    """The CRD's openAPIV3Schema for ``version``; None when it may not be read."""
    from kubernetes import client

    api = client.ApiextensionsV1Api(cluster.api_client)
    crd = _read(cluster, lambda: api.read_custom_resource_definition(name, _preload_content=False))
    if crd is None:
        return None
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {}
            return schema if isinstance(schema, dict) else {}
    return None


def _priority(cluster: Cluster, name: str, *, queued: bool) -> list[Finding]:
    from kubernetes import client

    if queued:
        what, where = "Kueue WorkloadPriorityClass", f"workloadpriorityclasses.{KUEUE_GROUP}"
        listed = _read(
            cluster,
            lambda: cluster.custom.list_cluster_custom_object(
                KUEUE_GROUP,
                cluster.kueue_version,
                "workloadpriorityclasses",
                _preload_content=False,
            ),
        )
    else:
        what, where = "PriorityClass", "priorityclasses.scheduling.k8s.io"
        scheduling = client.SchedulingV1Api(cluster.api_client)
        listed = _read(cluster, lambda: scheduling.list_priority_class(_preload_content=False))
    if listed is None:
        message = f"you may not list {where}; podlock cannot tell whether {what} {name} exists"
        return [Finding(check="priority", severity="warning", message=message)]
    names = sorted(str(i["metadata"]["name"]) for i in listed.get("items") or [])
    if name in names:
        return []
    known = f"those here: {', '.join(names)}" if names else f"the cluster has no {what}"
    return [
        Finding(
            check="priority",
            severity="missing",
            message=f"--priority {name}: no {what} {name} ({known})",
            hint=f"pass --priority with one of those, or leave it out; a cluster admin creates "
            f"{where}"
            + (
                " (a queued job's priority is Kueue's, not the pods' PriorityClass)"
                if queued
                else ""
            ),
        )
    ]


def _read(cluster: Cluster, call: Callable[[], Any]) -> dict[str, Any] | None:
    """The JSON an API call answers; None when forbidden or not there (404)."""
    import json

    try:
        resp = call()
    except Exception as exc:
        if status_of(exc) in (403, 404):
            return None
        raise api_error(exc, "read what the cluster serves", cluster.connection) from None
    data = getattr(resp, "data", None)
    if data is None and hasattr(resp, "read"):
        data = resp.read()
    parsed = json.loads(data or b"{}")
    return parsed if isinstance(parsed, dict) else {}
