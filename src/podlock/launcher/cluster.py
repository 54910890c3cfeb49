"""Kubernetes access, through the ``kubernetes`` client: the only module that calls the API.

Objects come back as plain JSON dicts (the API's own shape, ``_preload_content=False``), so
what the rest of the launcher reads is exactly what ``kubectl get -o json`` shows. Where
the API is: ``kubeconfig``; its errors, explained: ``kube_errors``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from podlock.clock import SYSTEM, Clock
from podlock.errors import PodlockError
from podlock.launcher.kube_errors import ClusterError, api_error, status_of
from podlock.launcher.kubeconfig import Connection, load
from podlock.launcher.manifests import JOB_LABEL, JOBSET_API, MANAGED_BY

_GROUP, _VERSION = JOBSET_API.split("/")
_PLURAL = "jobsets"
KUEUE_GROUP, KUEUE_VERSION = "kueue.x-k8s.io", "v1beta1"
# The Kueue versions podlock reads LocalQueues and Workloads through, newest first: the
# fields it reads (names, labels, status.conditions) are the same in both.
KUEUE_VERSIONS = ("v1beta2", "v1beta1")
KUEUE_INSTALL = "install Kueue (https://kueue.sigs.k8s.io/docs/installation/) or leave --queue out"
# GKE's cluster autoscaler publishes its node groups here when autoscaling is on.
AUTOSCALER_STATUS = ("kube-system", "cluster-autoscaler-status")


class Cluster:
    """One cluster and namespace; ``Cluster.connect`` reads kubeconfig or in-cluster config.
    ``clock`` is the time the launcher watches it by (polls, retries, pending timeouts)."""

    clock: Clock = SYSTEM

    def __init__(
        self, api_client: Any, connection: Connection, *, clock: Clock | None = None
    ) -> None:
        from kubernetes import client

        self.clock = clock or self.clock  # the class's default, bound now
        self.api_client = api_client
        self.connection = connection
        self.namespace = connection.namespace
        # Any: with _preload_content=False the client returns raw responses, not the
        # models its annotations promise.
        self.batch: Any = client.BatchV1Api(api_client)
        self.core: Any = client.CoreV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)
        self.authz: Any = client.AuthorizationV1Api(api_client)
        self._groups: dict[str, list[str]] | None = None

    @classmethod
    def connect(
        cls,
        *,
        context: str | None = None,
        kubeconfig: str | None = None,
        namespace: str | None = None,
        clock: Clock | None = None,
    ) -> Cluster:
        """Kubeconfig (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``) and its context,
        or the pod's service account when running in a cluster without a kubeconfig."""
        api_client, connection = load(context=context, kubeconfig=kubeconfig, namespace=namespace)
        return cls(api_client, connection, clock=clock)

    # --- objects -----------------------------------------------------------------------

    def create(self, manifest: Mapping[str, Any]) -> None:
        kind = manifest["kind"]
        body = dict(manifest)
        body.setdefault("metadata", {})
        body["metadata"] = {**body["metadata"], "namespace": self.namespace}
        try:
            if kind == "Job":
                self.batch.create_namespaced_job(self.namespace, body, _preload_content=False)
            elif kind == "JobSet":
                self.custom.create_namespaced_custom_object(
                    _GROUP, _VERSION, self.namespace, _PLURAL, body, _preload_content=False
                )
            else:
                raise PodlockError(f"podlock does not create {kind} objects")
        except Exception as exc:
            raise self._error(exc, f"create {kind} {manifest['metadata']['name']}") from None

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist (or JobSet is not installed)."""
        try:
            if kind == "Job":
                resp = self.batch.read_namespaced_job(name, self.namespace, _preload_content=False)
            else:
                resp = self.custom.get_namespaced_custom_object(
                    _GROUP, _VERSION, self.namespace, _PLURAL, name, _preload_content=False
                )
        except Exception as exc:
            if status_of(exc) == 404:
                return None
            raise self._error(exc, f"read {kind} {name}") from None
        return _json(resp)

    def find(self, name: str) -> tuple[str, dict[str, Any]]:
        """``(kind, object)`` for a job podlock made, whichever kind it is."""
        for kind in ("Job", "JobSet"):
            obj = self.get(kind, name)
            if obj is not None:
                return kind, obj
        raise ClusterError(
            f"no job {name!r} in namespace {self.namespace} (context {self.connection.context})",
            status=404,
            hint="`podlock jobs list` shows podlock's jobs; pass --namespace if it is elsewhere",
        )

    def jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """podlock's Jobs and JobSets (not the Jobs a JobSet owns), by creation time."""
        selector = f"{MANAGED_BY}=podlock"
        out: list[tuple[str, dict[str, Any]]] = []
        try:
            resp = self.batch.list_namespaced_job(
                self.namespace, label_selector=selector, _preload_content=False
            )
        except Exception as exc:
            raise self._error(exc, "list jobs") from None
        for item in _json(resp).get("items", []):
            owners = item.get("metadata", {}).get("ownerReferences") or []
            if not any(o.get("kind") == "JobSet" for o in owners):
                out.append(("Job", item))
        try:
            resp = self.custom.list_namespaced_custom_object(
                _GROUP, _VERSION, self.namespace, _PLURAL, label_selector=selector,
                _preload_content=False,
            )  # fmt: skip
            out += [("JobSet", item) for item in _json(resp).get("items", [])]
        except Exception as exc:
            if status_of(exc) != 404:  # 404: JobSet not installed, so there are none
                raise self._error(exc, "list jobsets") from None
        return sorted(out, key=lambda ko: (_created(ko[1]), ko[1]["metadata"]["name"]))

    def delete(self, kind: str, name: str) -> bool:
        """Delete with foreground propagation (pods go first); False if it was not there."""
        try:
            if kind == "Job":
                self.batch.delete_namespaced_job(
                    name, self.namespace, propagation_policy="Foreground", _preload_content=False
                )
            else:
                self.custom.delete_namespaced_custom_object(
                    _GROUP, _VERSION, self.namespace, _PLURAL, name,
                    propagation_policy="Foreground", _preload_content=False,
                )  # fmt: skip
        except Exception as exc:
            if status_of(exc) == 404:
                return False
            raise self._error(exc, f"delete {kind} {name}") from None
        return True

    # --- pods ----------------------------------------------------------------------------

    def pods(self, job: str) -> list[dict[str, Any]]:
        try:
            resp = self.core.list_namespaced_pod(
                self.namespace, label_selector=f"{JOB_LABEL}={job}", _preload_content=False
            )
        except Exception as exc:
            raise self._error(exc, f"list pods of {job}") from None
        return list(_json(resp).get("items", []))

    def events(self, pod: str) -> list[dict[str, Any]]:
        try:
            resp = self.core.list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.name={pod}", _preload_content=False
            )
        except Exception as exc:
            if status_of(exc) == 403:  # events are a diagnosis aid, not a requirement
                return []
            raise self._error(exc, f"list events of {pod}") from None
        items = list(_json(resp).get("items", []))
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    def logs(self, pod: str, *, container: str, follow: bool) -> Iterator[str]:
        """The container's log, line by line; with ``follow`` until the container exits. A
        stream that breaks (a dropped connection) is opened again and the lines already
        given are skipped: the API serves the log from its start."""
        from podlock.http import BODY_ERRORS, Policy

        policy = Policy()
        given = failures = 0
        while True:
            skip = given
            try:
                for line in self._log_lines(pod, container=container, follow=follow):
                    if skip:
                        skip -= 1
                        continue
                    given, failures = given + 1, 0
                    yield line
                return
            except BODY_ERRORS as exc:
                failures += 1
                if failures > policy.retries:
                    raise ClusterError(
                        f"the log stream of {pod} broke {failures} times in a row "
                        f"({type(exc).__name__})",
                        hint="`podlock jobs logs` reads it again; the job itself is unaffected",
                    ) from None
                self.clock.sleep(policy.wait(failures))

    def _log_lines(self, pod: str, *, container: str, follow: bool) -> Iterator[str]:
        try:
            resp = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, follow=follow, _preload_content=False
            )
        except Exception as exc:
            raise self._error(exc, f"read logs of {pod}") from None
        raw = getattr(resp, "response", resp)  # urllib3 response under the client's wrapper
        pending = b""
        try:
            for chunk in raw.stream(8192, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", errors="replace")
            if pending:
                yield pending.decode("utf-8", errors="replace")
        finally:
            raw.release_conn()

    # --- what the cluster has (preflight) and what Kueue says ---------------------------

    def namespace_exists(self) -> bool | None:
        """Whether the namespace exists; None when reading it is forbidden."""
        try:
            self.core.read_namespace(self.namespace, _preload_content=False)
        except Exception as exc:
            if status_of(exc) == 404:
                return False
            if status_of(exc) == 403:
                return None
            raise self._error(exc, f"read namespace {self.namespace}") from None
        return True

    def allowed(
        self, verb: str, resource: str, group: str = "", subresource: str = ""
    ) -> tuple[bool, str]:
        """A SelfSubjectAccessReview: may the current user ``verb`` ``resource`` here, and
        the authorizer's reason."""
        attributes = {
            "namespace": self.namespace,
            "verb": verb,
            "group": group,
            "resource": resource,
        }
        if subresource:
            attributes["subresource"] = subresource
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        try:
            resp = self.authz.create_self_subject_access_review(body, _preload_content=False)
        except Exception as exc:
            raise self._error(exc, f"ask whether you may {verb} {resource}") from None
        status = _json(resp).get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")

    def nodes(self, selector: Mapping[str, str]) -> list[dict[str, Any]] | None:
        """Nodes with all of ``selector``'s labels (an empty value: the label is there);
        None when listing nodes is forbidden."""
        text = ",".join(f"{k}={v}" if v else k for k, v in sorted(selector.items()))
        try:
            resp = self.core.list_node(label_selector=text, _preload_content=False)
        except Exception as exc:
            if status_of(exc) == 403:
                return None
            raise self._error(exc, "list nodes") from None
        return list(_json(resp).get("items", []))

    def autoscaler_status(self) -> str | None:
        """The cluster autoscaler's status text, when the cluster publishes it and it can be
        read (its node groups can grow from zero nodes)."""
        ns, name = AUTOSCALER_STATUS
        try:
            resp = self.core.read_namespaced_config_map(name, ns, _preload_content=False)
        except Exception as exc:
            if status_of(exc) in (403, 404):
                return None
            raise self._error(exc, f"read configmap {ns}/{name}") from None
        return str((_json(resp).get("data") or {}).get("status") or "") or None

    def api_groups(self) -> dict[str, list[str]]:
        """The API groups the cluster serves and their versions, preferred first (discovery,
        which every authenticated user may read); asked once."""
        if self._groups is None:
            from kubernetes import client

            try:
                resp = client.ApisApi(self.api_client).get_api_versions(_preload_content=False)
            except Exception as exc:
                if status_of(exc) not in (403, 404):
                    raise self._error(exc, "list the API groups the cluster serves") from None
                resp = None  # discovery withheld: nothing is known to be served
            groups: dict[str, list[str]] = {}
            for group in (_json(resp) if resp is not None else {}).get("groups") or []:
                preferred = (group.get("preferredVersion") or {}).get("version")
                versions = [str(v.get("version")) for v in group.get("versions") or []]
                groups[str(group.get("name"))] = sorted(versions, key=lambda v: v != preferred)
            self._groups = groups
        return self._groups

    @property
    def kueue_version(self) -> str:
        """The Kueue API version to read through: the newest the cluster serves that podlock
        knows (v1beta1 when discovery shows none: the cluster then has no Kueue)."""
        served = self.api_groups().get(KUEUE_GROUP, [])
        return next((v for v in KUEUE_VERSIONS if v in served), KUEUE_VERSION)

    def jobset_installed(self) -> bool:
        try:
            self.custom.list_namespaced_custom_object(
                _GROUP, _VERSION, self.namespace, _PLURAL, limit=1, _preload_content=False
            )
        except Exception as exc:
            if status_of(exc) == 404:
                return False
            if status_of(exc) == 403:
                return True  # the API answers for the resource, so it exists
            raise self._error(exc, "list jobsets") from None
        return True

    def local_queues(self) -> list[str] | None:
        """The Kueue LocalQueues in the namespace; None when Kueue is not installed."""
        try:
            resp = self.custom.list_namespaced_custom_object(
                KUEUE_GROUP, self.kueue_version, self.namespace, "localqueues",
                _preload_content=False,
            )  # fmt: skip
        except Exception as exc:
            if status_of(exc) == 404:
                return None
            raise self._error(exc, "list Kueue LocalQueues") from None
        return sorted(i["metadata"]["name"] for i in _json(resp).get("items", []))

    def workload(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Kueue Workload of a Job/JobSet (Kueue labels it with the owner's UID); None
        when there is none, Kueue is not installed, or Workloads may not be read."""
        uid = (obj.get("metadata") or {}).get("uid")
        if not uid:
            return None
        try:
            resp = self.custom.list_namespaced_custom_object(
                KUEUE_GROUP, self.kueue_version, self.namespace, "workloads",
                label_selector=f"kueue.x-k8s.io/job-uid={uid}", _preload_content=False,
            )  # fmt: skip
        except Exception as exc:
            if status_of(exc) in (403, 404):
                return None
            raise self._error(exc, "list Kueue Workloads") from None
        items = list(_json(resp).get("items", []))
        return items[0] if items else None

    # --- errors --------------------------------------------------------------------------

    def _error(self, exc: Exception, action: str) -> PodlockError:
        return api_error(exc, action, self.connection)


def _json(resp: Any) -> dict[str, Any]:
    data = getattr(resp, "data", None)
    if data is None and hasattr(resp, "read"):
        data = resp.read()
    parsed = json.loads(data or b"{}")
    return parsed if isinstance(parsed, dict) else {}


def _created(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("creationTimestamp") or "")
