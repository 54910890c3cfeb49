"""A layer installed on the host goes into the engine as it is: ``docker load`` of a
one-layer image on top of its parent.

A Dockerfile ``ADD layer.tar /`` costs the engine a container and a commit: it stores the
build context, extracts the tar into the container, then commits it, which reads every
file back to tar and hash it. ``docker load`` stores the tarball, then extracts the layer
hashing the same bytes as it goes (no container, no commit), and tags the image only once
it is complete. The image's
filesystem is the one the ``ADD`` gives; its layer's diffID is the sha256 of podlock's own
deterministic tar, the same bytes the daemonless OCI builder writes for that layer.

The tarball is Docker's ``docker save`` format: the layer, the image config, and
``manifest.json``. The parent's layers are named but not sent: the engine has them. The
config is the parent's (from ``docker inspect`` and ``docker history``) plus this layer,
with a fixed creation time, so one parent and one layer always give one image ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from podlock.layers.tarlayer import Entry, entry_chunks, file, nested_chunks, tar_end
from podlock.registry.model import canonical, rfc3339

LAYER = "layer.tar"
CONFIG = "config.json"


def layer_tarball(
    parent: Mapping[str, Any],
    parent_history: Sequence[Mapping[str, Any]],
    entries: Sequence[Entry],
    *,
    tag: str,
    created_by: str,
    mtime: int,
) -> Iterator[bytes]:
    """The ``docker load`` stream of ``parent`` (its ``docker inspect``) plus one layer of
    ``entries`` (normalised), tagged ``tag``. ``parent_history`` is its ``docker history``
    (newest first, as the engine answers)."""
    sha = hashlib.sha256()
    total = 0
    chunks = nested_chunks(LAYER, entries, mtime=mtime)
    header = next(chunks)
    total += len(header)
    yield header
    for chunk in chunks:  # the inner tar, which ends on a block: no padding after it
        sha.update(chunk)
        total += len(chunk)
        yield chunk
    layers = list(parent["RootFS"].get("Layers") or [])
    config = image_config(parent, parent_history, f"sha256:{sha.hexdigest()}", created_by, mtime)
    manifest = [
        {
            "Config": CONFIG,
            "RepoTags": [tag],
            "Layers": [f"parent/{i}/{LAYER}" for i in range(len(layers))] + [LAYER],
        }
    ]
    for name, data in ((CONFIG, config), ("manifest.json", canonical(manifest))):
        for chunk in entry_chunks(file(name, data), mtime=mtime):
            total += len(chunk)
            yield chunk
    yield tar_end(total)


def image_config(
    parent: Mapping[str, Any],
    parent_history: Sequence[Mapping[str, Any]],
    diff_id: str,
    created_by: str,
    mtime: int,
) -> bytes:
    """The image config: ``parent``'s, with ``diff_id`` appended and a history entry for it."""
    layers = list(parent["RootFS"].get("Layers") or [])
    created = rfc3339(mtime)
    config: dict[str, Any] = {
        "architecture": parent.get("Architecture") or "amd64",
        "os": parent.get("Os") or "linux",
        "created": created,
        "config": parent.get("Config") or {},
        "rootfs": {"type": "layers", "diff_ids": [*layers, diff_id]},
        "history": [
            *history(parent_history, len(layers)),
            {"created": created, "created_by": created_by},
        ],
    }
    if parent.get("Variant"):
        config["variant"] = parent["Variant"]
    return canonical(config)


def history(api: Sequence[Mapping[str, Any]], layers: int) -> list[dict[str, Any]]:
    """The image config's history from the engine's ``docker history`` answer (newest
    first), with ``layers`` non-empty entries, one per layer, as the engine pairs them.

    The answer does not say which entries made a layer, only each one's size: an entry
    with a size did; of those without, the oldest are taken as the layers that hold
    nothing, as many as are missing. Entries for layers with no history at all are
    added at the start."""
    entries = [dict(h) for h in reversed(api)]
    missing = layers - sum(1 for h in entries if int(h.get("Size") or 0) > 0)
    out: list[dict[str, Any]] = []
    for _ in range(max(0, missing - sum(1 for h in entries if not h.get("Size")))):
        out.append({"created": rfc3339(0), "comment": "podlock: no history for this layer"})
        missing -= 1
    for h in entries:
        item: dict[str, Any] = {"created": rfc3339(int(h.get("Created") or 0))}
        if h.get("CreatedBy"):
            item["created_by"] = h["CreatedBy"]
        if h.get("Comment"):
            item["comment"] = h["Comment"]
        if not h.get("Size"):
            if missing > 0:
                missing -= 1
            else:
                item["empty_layer"] = True
        out.append(item)
    return out
