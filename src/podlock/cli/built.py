"""The ``--format json`` document of ``build`` and ``push``: the image, its digest and its
layers, from either builder (the Docker engine knows less: see the README)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports only the chosen command's modules
    from podlock.builder.build import BuildResult
    from podlock.engine import Engine
    from podlock.oci.layout import Built
    from podlock.oci.push import PushResult


def oci_document(
    image: str,
    built: Built,
    *,
    cached: Collection[str] = (),
    pushed: PushResult | None = None,
) -> dict[str, Any]:
    """``reused``: pushed, the registry already had the blob (skipped or mounted); built,
    the layer came from podlock's layer cache or the base image."""
    layers = []
    for image_ in built.images:
        for name, layer in zip(image_.names, image_.layers, strict=True):
            if pushed is not None:
                reused = layer.digest not in pushed.uploaded
            else:
                reused = name == "base" or name in cached
            layers.append(
                {
                    "name": name,
                    "platform": image_.platform,
                    "digest": layer.digest,
                    "size": layer.size,
                    "reused": reused,
                }
            )
    return {"image": image, "digest": built.digest, "layers": layers}


def docker_document(result: BuildResult, engine: Engine) -> dict[str, Any]:
    """The engine's image ID stands for the digest (a registry digest exists only once
    pushed); layers are the history's steps that added bytes, oldest first."""
    history: Sequence[Mapping[str, Any]] = engine.history(result.image_id)
    layers = [
        {
            "name": str(step.get("CreatedBy", "")).removeprefix("/bin/sh -c ").strip(),
            "digest": None if step.get("Id") in (None, "<missing>") else step["Id"],
            "size": int(step.get("Size", 0)),
            "reused": None,  # the engine does not say which step came from its cache
        }
        for step in reversed(history)
        if int(step.get("Size", 0)) > 0
    ]
    return {
        "image": result.ref,
        "digest": result.image_id,
        "layers": layers,
        "cached_steps": result.cached_steps,
        "steps": result.steps,
    }
