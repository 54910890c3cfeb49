"""An in-process fake of the Kubernetes API endpoints podlock's launcher uses.

No API server can run here, so the launcher's real ``kubernetes`` client talks HTTP to this:
create/get/list/delete Jobs and JobSets, list pods by label, follow pod logs (chunked, until
the container ends), list events by ``involvedObject.name``. Pods are made when a job is
created and move through a ``Scenario`` on a ``FakeClock`` (``clock``, which the launcher's
waits move on; tests advance it too): run then exit (with a code), or stay
Pending for a scheduling or image-pull reason, with the conditions and events a real
cluster reports. Deletion removes pods only with Foreground/Background propagation, as the
garbage collector does (a Job deleted with no policy orphans its pods).

For the preflight it also answers namespaces, nodes (labelled as GKE labels TPU/GPU node
pools, and Spot, reservation and flex-start ones; ``add_pool``, ``add_accelerator_pools``),
the cluster autoscaler's status ConfigMap, SelfSubjectAccessReviews (denied for what
``forbidden`` lists), discovery (``/apis``: the JobSet, Kueue and ProvisioningRequest
versions ``served`` lists), the JobSet CRD (the vendored one, or ``jobset_crd`` as a test
ages it), PriorityClasses and Kueue WorkloadPriorityClasses. With Kueue installed, a Job/JobSet labelled
``kueue.x-k8s.io/queue-name`` gets a Workload; its pods are made only when the ``Admission``
scenario admits it (at once, after some seconds, or never), as Kueue unsuspends jobs.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fake_clock import FakeClock
from manifest_schemas import CRD, manifest_errors

TOKEN = "kube-test-token-0123456789"
JOBSET_PREFIX = "/apis/jobset.x-k8s.io/v1alpha2/namespaces/"
BATCH_PREFIX = "/apis/batch/v1/namespaces/"
CORE_PREFIX = "/api/v1/namespaces/"
NODES = "/api/v1/nodes"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
KUEUE_GROUP_PATH = "/apis/kueue.x-k8s.io/"
DISCOVERY = ("/apis", "/apis/")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
PRIORITY_CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
AUTOSCALER_STATUS = "kube-system/cluster-autoscaler-status"


@dataclass
class Scenario:
    """What the pods of the next job do (``run_seconds``: of the fake clock). outcome:
    succeed | fail | forever | unschedulable | insufficient | quota | image-missing |
    image-denied."""

    outcome: str = "succeed"
    logs: list[str] = field(default_factory=lambda: ["hello from the pod", "done"])
    exit_code: int = 3
    run_seconds: float = 0.3


@dataclass
class Admission:
    """What Kueue does with the next queued job: admit it after ``seconds`` of the fake
    clock (None: never), saying ``reason`` while it waits."""

    seconds: float | None = 0.0
    reason: str = (
        "couldn't assign flavors to pod set main: insufficient unused quota for google.com/tpu "
        "in flavor tpu-v6e, 16 more needed"
    )


@dataclass
class Workload:
    namespace: str
    kind: str
    job: str
    uid: str
    queue: str
    created: float
    admission: Admission
    admitted: bool = False


@dataclass
class Pod:
    namespace: str
    name: str
    job: str
    index: int
    body: dict[str, Any]
    started: float
    scenario: Scenario


class FakeKube:
    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.namespaces = {"default", "team"}
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, ns, name)
        self.pods: dict[tuple[str, str], Pod] = {}
        self.events: list[dict[str, Any]] = []
        self.deletes: list[tuple[str, str, str | None]] = []
        self.requests: list[str] = []
        self.scenario = Scenario()
        self.forbidden: set[tuple[str, str]] = set()  # (verb, resource)
        self.jobset_installed = True
        self.nodes: list[dict[str, Any]] = []
        self.autoscaler = False  # publish kube-system/cluster-autoscaler-status
        self.kueue_installed = True
        self.local_queues: set[tuple[str, str]] = {("default", "team-a")}
        self.admission = Admission()
        self.workloads: list[Workload] = []
        self.on_create: Callable[[str, str], None] | None = None
        # API groups served beyond JobSet and Kueue (which follow *_installed), and versions
        self.served: dict[str, list[str]] = {
            "jobset.x-k8s.io": ["v1alpha2"],
            "kueue.x-k8s.io": ["v1beta1"],
        }
        self.jobset_crd: dict[str, Any] = _load_crd()
        self.status_patch: dict[str, dict[str, Any]] = {}  # job name -> status fields
        self.priority_classes = {"high", "low"}
        self.workload_priority_classes = {"team-high"}
        self.invalid: list[str] = []  # what a create was refused for (422, strict validation)
        self.lock = threading.RLock()
        self._counter = 0
        handler = type("Handler", (_Handler,), {"kube": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        # shutdown() waits for the serve loop to look: every 0.5 s by default, per test
        serve = {"poll_interval": 0.02}
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKube:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, *, token: str = TOKEN) -> str:
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            f"users:\n- name: alice\n  user:\n    token: {token}\n"
            "contexts:\n"
            "- name: fake\n  context:\n    cluster: fake\n    user: alice\n    namespace: default\n"
            "- name: other\n  context:\n    cluster: fake\n    user: alice\n    namespace: team\n"
            "current-context: fake\n"
        )

    # --- state ---------------------------------------------------------------------------

    def add_pool(self, pool: str, labels: dict[str, str], count: int) -> None:
        """A node pool of ``count`` nodes carrying GKE's labels."""
        for i in range(count):
            self.nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": f"gke-fake-{pool}-{i}",
                        "labels": {"cloud.google.com/gke-nodepool": pool, **labels},
                    },
                }
            )

    def add_accelerator_pools(
        self,
        accelerator: str,
        pools: int = 1,
        *,
        capacity: str = "",
        nodes: int = 0,
    ) -> None:
        """Node pools that hold one whole ``accelerator`` slice (or ``nodes`` GPU nodes)
        each; ``capacity`` labels them as GKE labels Spot (``spot``), reservation
        (``reservation:NAME``) and flex-start (``flex-start``) nodes."""
        from podlock.launcher.accelerators import parse

        spec = parse(accelerator)
        labels = {**spec.node_selector, **_capacity_labels(capacity)}
        suffix = f"-{capacity.replace(':', '-')}" if capacity else ""
        for n in range(pools):
            self.add_pool(f"{spec.name}{suffix}-{n}", labels, nodes or spec.hosts)

    def discovery(self) -> dict[str, Any]:
        """``/apis``: the groups served and their versions, the first preferred."""
        installed = {
            "jobset.x-k8s.io": self.jobset_installed,
            "kueue.x-k8s.io": self.kueue_installed,
        }
        groups = [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                "preferredVersion": {
                    "groupVersion": f"{name}/{versions[0]}",
                    "version": versions[0],
                },
            }
            for name, versions in sorted(self.served.items())
            if versions and installed.get(name, True)
        ]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def jobs(self, kind: str | None = None) -> list[str]:
        with self.lock:
            return sorted(n for (k, _ns, n) in self.objects if kind in (None, k))

    def pod_names(self) -> list[str]:
        with self.lock:
            return sorted(n for (_ns, n) in self.pods)

    def create(self, kind: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._counter += 1
            name = body["metadata"]["name"]
            body = json.loads(json.dumps(body))
            body["metadata"]["namespace"] = ns
            body["metadata"]["uid"] = f"uid-{self._counter}"
            body["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:{self._counter:02d}Z"
            body["status"] = {}
            self.objects[(kind, ns, name)] = body
            queue = body["metadata"].get("labels", {}).get(QUEUE_LABEL)
            if queue and self.kueue_installed:
                uid = body["metadata"]["uid"]
                wl = Workload(ns, kind, name, uid, queue, self.clock.now(), self.admission)
                self.workloads.append(wl)
                self._admit_due()
            else:
                self._start_pods(kind, ns, body)
            return body

    def _admit_due(self) -> None:
        """Admit the Workloads whose time has come: their pods start, as Kueue unsuspends."""
        with self.lock:
            for wl in self.workloads:
                seconds = wl.admission.seconds
                due = seconds is not None and self.clock.now() - wl.created >= seconds
                body = self.objects.get((wl.kind, wl.namespace, wl.job))
                if not wl.admitted and due and body is not None:
                    wl.admitted = True
                    self._start_pods(wl.kind, wl.namespace, body)

    def workload_json(self, wl: Workload) -> dict[str, Any]:
        if wl.admitted:
            conditions = [
                {"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved"},
                {"type": "Admitted", "status": "True", "reason": "Admitted"},
            ]
        else:
            conditions = [
                {
                    "type": "QuotaReserved",
                    "status": "False",
                    "reason": "Pending",
                    "message": wl.admission.reason,
                }
            ]
        return {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "Workload",
            "metadata": {
                "name": f"{wl.kind.lower()}-{wl.job}-{wl.uid}",
                "namespace": wl.namespace,
                "labels": {"kueue.x-k8s.io/job-uid": wl.uid},
                "ownerReferences": [{"kind": wl.kind, "name": wl.job, "uid": wl.uid}],
            },
            "spec": {"queueName": wl.queue},
            "status": {"conditions": conditions},
        }

    def _start_pods(self, kind: str, ns: str, body: dict[str, Any]) -> None:
        with self.lock:
            name = body["metadata"]["name"]
            if kind == "Job":
                jobs = [(body["spec"], name, 0)]
            else:
                rjob = body["spec"]["replicatedJobs"][0]
                jobs = [
                    (rjob["template"]["spec"], f"{name}-{rjob['name']}-{j}", j)
                    for j in range(int(rjob.get("replicas") or 1))
                ]
            for spec, prefix, job_index in jobs:
                self._job_pods(kind, ns, name, spec, prefix, job_index)

    def _job_pods(
        self, kind: str, ns: str, name: str, spec: dict[str, Any], prefix: str, job_index: int
    ) -> None:
        with self.lock:
            template = spec["template"]
            for i in range(int(spec.get("parallelism") or 1)):
                pod_name = f"{prefix}-{i}-{self._counter:05d}"
                labels = dict(template.get("metadata", {}).get("labels", {}))
                annotations: dict[str, str] = {}
                if spec.get("completionMode") == "Indexed":
                    labels["batch.kubernetes.io/job-completion-index"] = str(i)
                    annotations["batch.kubernetes.io/job-completion-index"] = str(i)
                if kind == "JobSet":
                    labels["jobset.sigs.k8s.io/jobset-name"] = name
                    labels["jobset.sigs.k8s.io/job-index"] = str(job_index)
                    annotations["jobset.sigs.k8s.io/job-index"] = str(job_index)
                pod_body = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": pod_name,
                        "namespace": ns,
                        "labels": labels,
                        "annotations": annotations,
                    },
                    "spec": json.loads(json.dumps(template["spec"])),
                }
                index = job_index * int(spec.get("parallelism") or 1) + i  # 0: the leader
                pod = Pod(ns, pod_name, name, index, pod_body, self.clock.now(), self.scenario)
                self.pods[(ns, pod_name)] = pod
                self.events += _events_for(pod)

    def delete(self, kind: str, ns: str, name: str, policy: str | None) -> bool:
        with self.lock:
            self.deletes.append((kind, name, policy))
            if self.objects.pop((kind, ns, name), None) is None:
                return False
            if policy in ("Foreground", "Background"):
                for key in [k for k, p in self.pods.items() if p.job == name and k[0] == ns]:
                    del self.pods[key]
            return True

    def pod_json(self, pod: Pod) -> dict[str, Any]:
        body = json.loads(json.dumps(pod.body))
        body["status"] = _pod_status(pod, self.clock.now())
        return body

    def job_json(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            if obj is None:
                return None
            obj = json.loads(json.dumps(obj))
            pods = [p for p in self.pods.values() if p.job == name and p.namespace == ns]
        phases = [_pod_status(p, self.clock.now())["phase"] for p in pods]
        conditions = []
        if pods and all(ph in ("Succeeded", "Failed") for ph in phases):
            if "Failed" in phases:
                conditions.append(
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    }
                )
            else:
                conditions.append(
                    {"type": "Complete" if kind == "Job" else "Completed", "status": "True"}
                )
        obj["status"] = {"conditions": conditions, "active": phases.count("Running")}
        obj["status"].update(self.status_patch.get(name, {}))
        return obj


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (Ctrl-C tests do) is not a server error."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def _load_crd() -> dict[str, Any]:
    import yaml

    crd: dict[str, Any] = yaml.load(CRD.read_text(), Loader=yaml.CSafeLoader)
    return crd


def _capacity_labels(capacity: str) -> dict[str, str]:
    """The labels GKE puts on nodes of that capacity (see podlock.launcher.capacity)."""
    if capacity == "spot":
        return {"cloud.google.com/gke-spot": "true"}
    if capacity == "flex-start":
        return {"cloud.google.com/gke-flex-start": "true"}
    if capacity.startswith("reservation:"):
        return {
            "cloud.google.com/reservation-name": capacity.removeprefix("reservation:"),
            "cloud.google.com/reservation-affinity": "specific",
        }
    return {}


def _pod_status(pod: Pod, now: float) -> dict[str, Any]:
    s = pod.scenario
    elapsed = now - pod.started
    image = pod.body["spec"]["containers"][0]["image"]
    if s.outcome in ("succeed", "fail", "forever"):
        if s.outcome == "forever" or elapsed < s.run_seconds:
            return {
                "phase": "Running",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [
                    {"name": "main", "image": image, "state": {"running": {}}, "ready": True}
                ],
            }
        code = s.exit_code if s.outcome == "fail" and pod.index == 0 else 0
        return {
            "phase": "Failed" if code else "Succeeded",
            "containerStatuses": [
                {"name": "main", "image": image, "state": {"terminated": {"exitCode": code}}}
            ],
        }
    if s.outcome in ("image-missing", "image-denied"):
        message = (
            f'Back-off pulling image "{image}": ErrImagePull: rpc error: code = NotFound '
            f"desc = failed to pull and unpack image: {image}: not found"
            if s.outcome == "image-missing"
            else f'Back-off pulling image "{image}": ErrImagePull: failed to authorize: '
            "403 Forbidden"
        )
        return {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "main",
                    "image": image,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}},
                }
            ],
        }
    return {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": _UNSCHEDULABLE[s.outcome],
            }
        ],
    }


_UNSCHEDULABLE = {
    "unschedulable": "0/3 nodes are available: 3 node(s) didn't match Pod's node "
    "affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful "
    "for scheduling.",
    "insufficient": "0/4 nodes are available: 4 Insufficient google.com/tpu. preemption: "
    "0/4 nodes are available: 4 No preemption victims found for incoming pod.",
    "quota": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
}


def _events_for(pod: Pod) -> list[dict[str, Any]]:
    s = pod.scenario
    ref = {"kind": "Pod", "name": pod.name, "namespace": pod.namespace}
    out = []
    if s.outcome in _UNSCHEDULABLE:
        out.append(
            {
                "reason": "FailedScheduling",
                "type": "Warning",
                "message": _UNSCHEDULABLE[s.outcome],
                "involvedObject": ref,
                "lastTimestamp": "2026-01-01T00:00:01Z",
            }
        )
    if s.outcome == "quota":
        out.append(
            {
                "reason": "FailedScaleUp",
                "type": "Warning",
                "message": "Node scale up in zones us-east5-a associated with this pod "
                "failed: GCE quota exceeded. Pod is at risk of not being scheduled.",
                "involvedObject": ref,
                "lastTimestamp": "2026-01-01T00:00:02Z",
            }
        )
    if s.outcome == "image-missing":
        out.append(
            {
                "reason": "Failed",
                "type": "Warning",
                "message": "Failed to pull image: manifest unknown",
                "involvedObject": ref,
                "lastTimestamp": "2026-01-01T00:00:03Z",
            }
        )
    for e in out:
        e["metadata"] = {"name": f"{pod.name}.{e['reason']}", "namespace": pod.namespace}
    return out


def _selector(text: str) -> dict[str, str | None]:
    """``k=v,k2`` as {k: v, k2: None}: a key alone asks only that the label be there."""
    out: dict[str, str | None] = {}
    for part in filter(None, text.split(",")):
        key, eq, value = part.partition("=")
        out[key] = value if eq else None
    return out


def _matches(labels: dict[str, str], selector: dict[str, str | None]) -> bool:
    return all(k in labels if v is None else labels.get(k) == v for k, v in selector.items())


class _Handler(BaseHTTPRequestHandler):
    kube: FakeKube
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing ----------------------------------------------------------------------

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._send(
            code,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            },
        )

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = unquote(parts.path)
        kube = self.kube
        kube.requests.append(f"{method} {path}")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._status(401, "Unauthorized", "Unauthorized")
            return
        body = self._body() if method in ("POST", "DELETE") else {}
        kube._admit_due()
        if path == SSAR and method == "POST":
            self._access_review(body)
        elif path in DISCOVERY:
            self._send(200, kube.discovery())
        elif path.startswith(CRDS):
            self._crd(path[len(CRDS) :])
        elif path == PRIORITY_CLASSES:
            self._names("PriorityClassList", kube.priority_classes, "priorityclasses")
        elif path.startswith(KUEUE_GROUP_PATH) and path.endswith("/workloadpriorityclasses"):
            if not kube.kueue_installed:
                self._page_not_found()
                return
            self._names(
                "WorkloadPriorityClassList", kube.workload_priority_classes,
                "workloadpriorityclasses",
            )  # fmt: skip
        elif path == NODES and ("list", "nodes") in kube.forbidden:
            self._status(403, "Forbidden", 'nodes is forbidden: User "alice" cannot list nodes')
        elif path == NODES:
            selector = query.get("labelSelector", "")
            items = [
                n for n in kube.nodes if _matches(n["metadata"]["labels"], _selector(selector))
            ]
            self._send(200, {"kind": "NodeList", "items": items})
        elif path == CORE_PREFIX + AUTOSCALER_STATUS.replace("/", "/configmaps/"):
            if not kube.autoscaler:
                self._status(404, "NotFound", 'configmaps "cluster-autoscaler-status" not found')
            else:
                status = "Cluster-autoscaler status at 2026-01-01 00:00:00Z:\nNodeGroups:\n"
                self._send(200, {"kind": "ConfigMap", "data": {"status": status}})
        elif path.startswith(KUEUE_GROUP_PATH):
            version, _, rest = path[len(KUEUE_GROUP_PATH) :].partition("/namespaces/")
            if not kube.kueue_installed or version not in kube.served["kueue.x-k8s.io"]:
                self._page_not_found()
                return
            self._kueue(rest)
        elif path.startswith(JOBSET_PREFIX):
            if not kube.jobset_installed:
                self._page_not_found()
                return
            self._objects(method, "JobSet", "jobsets", path[len(JOBSET_PREFIX) :], query, body)
        elif path.startswith(BATCH_PREFIX):
            self._objects(method, "Job", "jobs", path[len(BATCH_PREFIX) :], query, body)
        elif path.startswith(CORE_PREFIX):
            self._core(path[len(CORE_PREFIX) :], query)
        else:
            self._status(404, "NotFound", "the server could not find the requested resource")

    def _crd(self, name: str) -> None:
        kube = self.kube
        if ("get", "customresourcedefinitions") in kube.forbidden:
            self._status(403, "Forbidden", f'customresourcedefinitions "{name}" is forbidden')
        elif name == "jobsets.jobset.x-k8s.io" and kube.jobset_installed:
            self._send(200, kube.jobset_crd)
        else:
            self._status(404, "NotFound", f'customresourcedefinitions "{name}" not found')

    def _names(self, kind: str, names: set[str], resource: str) -> None:
        if ("list", resource) in self.kube.forbidden:
            self._status(403, "Forbidden", f"{resource} is forbidden")
            return
        items = [{"metadata": {"name": n}} for n in sorted(names)]
        self._send(200, {"kind": kind, "items": items})

    def _page_not_found(self) -> None:
        """What the API server answers for a group it does not serve (a CRD not installed)."""
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "18")
        self.end_headers()
        self.wfile.write(b"404 page not found")

    def _access_review(self, body: dict[str, Any]) -> None:
        attrs = body["spec"]["resourceAttributes"]
        resource = attrs["resource"] + (
            f"/{attrs['subresource']}" if attrs.get("subresource") else ""
        )
        allowed = (attrs["verb"], resource) not in self.kube.forbidden
        status: dict[str, Any] = {"allowed": allowed}
        if not allowed:
            status["reason"] = ""  # RBAC denies by saying nothing
        self._send(201, {**body, "status": status})

    def _kueue(self, rest: str) -> None:
        kube = self.kube
        ns, _, tail = rest.partition("/")
        resource, _, name = tail.partition("/")
        if resource == "localqueues":
            names = sorted(q for (n, q) in kube.local_queues if n == ns)
            items = [{"metadata": {"name": q, "namespace": ns}} for q in names]
            if name:
                if name in names:
                    self._send(200, items[names.index(name)])
                else:
                    self._status(404, "NotFound", f'localqueues.kueue.x-k8s.io "{name}" not found')
                return
            self._send(200, {"kind": "LocalQueueList", "items": items})
        elif resource == "workloads":
            with kube.lock:
                wls = [kube.workload_json(w) for w in kube.workloads if w.namespace == ns]
            selector = _selector(self._query().get("labelSelector", ""))
            items = [w for w in wls if _matches(w["metadata"]["labels"], selector)]
            self._send(200, {"kind": "WorkloadList", "items": items})
        else:
            self._status(404, "NotFound", "the server could not find the requested resource")

    def _query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def _objects(
        self,
        method: str,
        kind: str,
        resource: str,
        rest: str,
        query: dict[str, str],
        body: dict[str, Any],
    ) -> None:
        kube = self.kube
        ns, _, tail = rest.partition("/")
        _res, _, name = tail.partition("/")
        group = "batch" if kind == "Job" else "jobset.x-k8s.io"
        verb = {"POST": "create", "DELETE": "delete"}.get(method, "get" if name else "list")
        if (verb, resource) in kube.forbidden:
            self._status(
                403,
                "Forbidden",
                f'{resource}.{group} is forbidden: User "alice@example.com" cannot {verb} '
                f'resource "{resource}" in API group "{group}" in the namespace "{ns}"',
            )
            return
        if ns not in kube.namespaces:
            self._status(404, "NotFound", f'namespaces "{ns}" not found')
            return
        if method == "POST":
            refused = manifest_errors(body)  # as under fieldValidation=Strict
            if refused:
                kube.invalid += refused
                self._status(422, "Invalid", f"{resource}.{group} is invalid: {'; '.join(refused)}")
                return
            with kube.lock:
                exists = (kind, ns, body["metadata"]["name"]) in kube.objects
            if exists:
                self._status(
                    409, "AlreadyExists", f'{resource}.{group} "{body["metadata"]["name"]}" '
                    "already exists",
                )  # fmt: skip
                return
            created = kube.create(kind, ns, body)
            if kube.on_create is not None:
                kube.on_create(kind, created["metadata"]["name"])
            self._send(201, created)
        elif method == "DELETE":
            policy = query.get("propagationPolicy") or body.get("propagationPolicy")
            if kube.delete(kind, ns, name, policy):
                self._send(200, {"kind": "Status", "status": "Success"})
            else:
                self._status(404, "NotFound", f'{resource}.{group} "{name}" not found')
        elif name:
            obj = kube.job_json(kind, ns, name)
            if obj is None:
                self._status(404, "NotFound", f'{resource}.{group} "{name}" not found')
            else:
                self._send(200, obj)
        else:
            selector = _selector(query.get("labelSelector", ""))
            with kube.lock:
                names = [n for (k, s, n) in kube.objects if k == kind and s == ns]
            items = [kube.job_json(kind, ns, n) for n in names]
            items = [i for i in items if i and _matches(i["metadata"].get("labels", {}), selector)]
            self._send(200, {"kind": f"{kind}List", "items": items})

    def _core(self, rest: str, query: dict[str, str]) -> None:
        kube = self.kube
        ns, _, tail = rest.partition("/")
        if ("get", "namespaces") in kube.forbidden and not tail:
            self._status(403, "Forbidden", f'namespaces "{ns}" is forbidden')
            return
        if ns not in kube.namespaces:
            self._status(404, "NotFound", f'namespaces "{ns}" not found')
            return
        if not tail:
            self._send(200, {"kind": "Namespace", "metadata": {"name": ns}})
        elif tail == "pods":
            selector = _selector(query.get("labelSelector", ""))
            with kube.lock:
                pods = [p for p in kube.pods.values() if p.namespace == ns]
            items = [
                kube.pod_json(p)
                for p in pods
                if _matches(p.body["metadata"].get("labels", {}), selector)
            ]
            self._send(200, {"kind": "PodList", "items": items})
        elif tail == "events":
            field_sel = _selector(query.get("fieldSelector", ""))
            with kube.lock:
                events = list(kube.events)
            items = [
                e
                for e in events
                if e["involvedObject"]["namespace"] == ns
                and all(
                    e["involvedObject"].get(k.split(".")[-1]) == v for k, v in field_sel.items()
                )
            ]
            self._send(200, {"kind": "EventList", "items": items})
        elif tail.startswith("pods/") and tail.endswith("/log"):
            self._log(ns, tail[len("pods/") : -len("/log")], query)
        else:
            self._status(404, "NotFound", "the server could not find the requested resource")

    def _log(self, ns: str, pod_name: str, query: dict[str, str]) -> None:
        kube = self.kube
        with kube.lock:
            pod = kube.pods.get((ns, pod_name))
        if pod is None:
            self._status(404, "NotFound", f'pods "{pod_name}" not found')
            return
        if _pod_status(pod, kube.clock.now())["phase"] == "Pending":
            self._status(
                400,
                "BadRequest",
                f'container "main" in pod "{pod_name}" is waiting to start: ContainerCreating',
            )
            return
        follow = query.get("follow") == "true"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        lines = pod.scenario.logs if pod.index == 0 else [f"worker {pod.index} ready"]
        try:
            for line in lines:
                self._chunk(f"{line}\n".encode())
            n = 0
            while follow:
                now = kube.clock.now()
                with kube.lock:
                    gone = (ns, pod_name) not in kube.pods
                if gone or _pod_status(pod, now)["phase"] in ("Succeeded", "Failed"):
                    break
                if pod.scenario.outcome == "forever":
                    n += 1
                    self._chunk(f"step {n}\n".encode())
                kube.clock.wait(now, timeout=0.05)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")
