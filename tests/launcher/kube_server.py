"""An in-process fake of the Kubernetes API endpoints podlock's launcher uses.

No API server can run here, so the launcher's real ``kubernetes`` client talks HTTP to this:
create/get/list/delete Jobs and JobSets, list pods by label, follow pod logs (chunked, until
the container ends), list events by ``involvedObject.name``. Pods are made when a job is
created and move through a ``Scenario`` on the clock: run then exit (with a code), or stay
Pending for a scheduling or image-pull reason, with the conditions and events a real
cluster reports. Deletion removes pods only with Foreground/Background propagation, as the
garbage collector does (a Job deleted with no policy orphans its pods).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "kube-test-token-0123456789"
JOBSET_PREFIX = "/apis/jobset.x-k8s.io/v1alpha2/namespaces/"
BATCH_PREFIX = "/apis/batch/v1/namespaces/"
CORE_PREFIX = "/api/v1/namespaces/"


@dataclass
class Scenario:
    """What the pods of the next job do. outcome: succeed | fail | forever | unschedulable |
    insufficient | quota | image-missing | image-denied."""

    outcome: str = "succeed"
    logs: list[str] = field(default_factory=lambda: ["hello from the pod", "done"])
    exit_code: int = 3
    run_seconds: float = 0.3


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
    def __init__(self) -> None:
        self.namespaces = {"default", "team"}
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, ns, name)
        self.pods: dict[tuple[str, str], Pod] = {}
        self.events: list[dict[str, Any]] = []
        self.deletes: list[tuple[str, str, str | None]] = []
        self.requests: list[str] = []
        self.scenario = Scenario()
        self.forbidden: set[tuple[str, str]] = set()  # (verb, resource)
        self.jobset_installed = True
        self.on_create: Callable[[str, str], None] | None = None
        self.lock = threading.RLock()
        self._counter = 0
        handler = type("Handler", (_Handler,), {"kube": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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
            if kind == "Job":
                spec = body["spec"]
                prefix = name
            else:
                spec = body["spec"]["replicatedJobs"][0]["template"]["spec"]
                prefix = f"{name}-{body['spec']['replicatedJobs'][0]['name']}-0"
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
                    labels["jobset.sigs.k8s.io/job-index"] = "0"
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
                pod = Pod(ns, pod_name, name, i, pod_body, time.monotonic(), self.scenario)
                self.pods[(ns, pod_name)] = pod
                self.events += _events_for(pod)
            return body

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
        body["status"] = _pod_status(pod)
        return body

    def job_json(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            if obj is None:
                return None
            obj = json.loads(json.dumps(obj))
            pods = [p for p in self.pods.values() if p.job == name and p.namespace == ns]
        phases = [_pod_status(p)["phase"] for p in pods]
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
        return obj


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (Ctrl-C tests do) is not a server error."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def _pod_status(pod: Pod) -> dict[str, Any]:
    s = pod.scenario
    elapsed = time.monotonic() - pod.started
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


def _selector(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def _matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


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
        if path.startswith(JOBSET_PREFIX):
            if not kube.jobset_installed:
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "18")
                self.end_headers()
                self.wfile.write(b"404 page not found")
                return
            self._objects(method, "JobSet", "jobsets", path[len(JOBSET_PREFIX) :], query, body)
        elif path.startswith(BATCH_PREFIX):
            self._objects(method, "Job", "jobs", path[len(BATCH_PREFIX) :], query, body)
        elif path.startswith(CORE_PREFIX):
            self._core(path[len(CORE_PREFIX) :], query)
        else:
            self._status(404, "NotFound", "the server could not find the requested resource")

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
        if ns not in kube.namespaces:
            self._status(404, "NotFound", f'namespaces "{ns}" not found')
            return
        if tail == "pods":
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
        if _pod_status(pod)["phase"] == "Pending":
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
                time.sleep(0.01)
            n = 0
            while follow:
                with kube.lock:
                    gone = (ns, pod_name) not in kube.pods
                if gone or _pod_status(pod)["phase"] in ("Succeeded", "Failed"):
                    break
                if pod.scenario.outcome == "forever":
                    n += 1
                    self._chunk(f"step {n}\n".encode())
                time.sleep(0.05)
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
