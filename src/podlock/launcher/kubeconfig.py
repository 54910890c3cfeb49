"""Where the Kubernetes API is: a kubeconfig context, or the pod's service account."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podlock.launcher.kube_errors import ClusterError

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True, kw_only=True)
class Connection:
    context: str
    namespace: str
    server: str


def kubeconfig_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def load(
    *, context: str | None = None, kubeconfig: str | None = None, namespace: str | None = None
) -> tuple[Any, Connection]:
    """An API client and where it points: kubeconfig (``--kubeconfig``, ``$KUBECONFIG``,
    ``~/.kube/config``) and its context, or the pod's service account when running in a
    cluster without a kubeconfig."""
    from kubernetes import client
    from kubernetes import config as _config

    from podlock.http import urllib3_retry

    config: Any = _config  # its loaders are unannotated
    path = kubeconfig_path(kubeconfig)
    present = [p for p in path.split(os.pathsep) if p and Path(p).expanduser().is_file()]
    if not present:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException as exc:
                raise ClusterError(f"in-cluster configuration failed: {exc}") from None
            ns = namespace or _read(_SA_NAMESPACE) or "default"
            conn = Connection(context="in-cluster", namespace=ns, server=configuration.host)
            configuration.retries = urllib3_retry()
            return client.ApiClient(configuration), conn
        raise ClusterError(
            f"no kubeconfig found at {path}",
            hint="get credentials for your cluster (GKE: `gcloud container clusters "
            "get-credentials CLUSTER --location LOCATION`), or pass --kubeconfig FILE",
        )
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except config.ConfigException as exc:
        raise ClusterError(f"{path}: not a usable kubeconfig ({exc})") from None
    names = [c["name"] for c in contexts or []]
    if context is not None and context not in names:
        raise ClusterError(
            f"context {context!r} is not in {path}",
            hint=f"known contexts: {', '.join(names) or 'none'}",
        )
    chosen = next((c for c in contexts or [] if c["name"] == context), active)
    if not chosen:
        raise ClusterError(
            f"{path} has no current context",
            hint=f"pass --context (known: {', '.join(names) or 'none'})",
        )
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=path,
            context=chosen["name"],
            client_configuration=configuration,
            persist_config=False,
        )
    except config.ConfigException as exc:
        raise ClusterError(f"{path}: context {chosen['name']!r}: {exc}") from None
    ns = namespace or chosen.get("context", {}).get("namespace") or "default"
    conn = Connection(context=chosen["name"], namespace=ns, server=configuration.host)
    configuration.retries = urllib3_retry()  # 429/5xx and dropped connections, as podlock.http
    return client.ApiClient(configuration), conn


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
