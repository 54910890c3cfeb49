"""``docker push`` of an engine-built image: only missing layers travel."""

from __future__ import annotations

from podlock.engine import Engine
from podlock.errors import PodlockError
from podlock.reporter import NullReporter, Reporter


class PushFailed(PodlockError):
    pass


def push(engine: Engine, name: str, tag: str, *, reporter: Reporter | None = None) -> str:
    """``docker push name:tag`` (only missing layers travel); ``name@sha256:...``."""
    reporter = reporter or NullReporter()
    client = engine.client
    pushed = existing = 0
    digest = None
    reporter.info(f"pushing {name}:{tag}")
    try:
        for chunk in client.api.push(name, tag=tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("error") or chunk.get("errorDetail", {}).get("message")
                raise PushFailed(
                    f"push of {name}:{tag} failed: {detail}",
                    hint="check that the registry exists and you are logged in "
                    "(`docker login`, or `gcloud auth configure-docker` for Artifact Registry)",
                )
            status = str(chunk.get("status", ""))
            if status == "Pushed":
                pushed += 1
            elif status == "Layer already exists" or status.startswith("Mounted from"):
                existing += 1
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
    except PushFailed:
        raise
    except Exception as exc:
        raise PushFailed(f"push of {name}:{tag} failed: {exc}") from None
    if digest is None:
        raise PushFailed(f"push of {name}:{tag} reported no digest")
    reporter.info(f"pushed {pushed} layers, {existing} already in the registry: {name}@{digest}")
    return f"{name}@{digest}"
