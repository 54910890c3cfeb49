"""Why a pod is still Pending, in plain words, from its conditions and events (pure).

The scheduler and the cluster autoscaler explain themselves in the pod's ``PodScheduled``
condition and in events (``FailedScheduling``, ``NotTriggerScaleUp``, ``FailedScaleUp``,
``TriggeredScaleUp``); the kubelet in container ``waiting`` states and ``Failed`` events.
Users of other launchers complain that pods sit Pending "with no reason": this module turns
those messages into a sentence and a next step. ``fatal`` marks what waiting cannot fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_RESOURCE = re.compile(r"Insufficient ([\w./-]+)")
_TAINT = re.compile(r"untolerated taint[s]? ?\{?([^}]*)\}?")


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    reason: str  # no-node-pool | insufficient | quota | stockout | max-size | scaling-up |
    #              image-missing | image-denied | image-pull | taint | config | pending
    message: str
    fatal: bool = False


def explain(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[Diagnosis]:
    """Every distinct reason this pod is not running, most decisive first."""
    out: list[Diagnosis] = []
    spec = pod.get("spec", {})
    status = pod.get("status", {})
    image = next((c.get("image", "") for c in spec.get("containers", [])), "")
    messages = [str(e.get("message", "")) for e in events]
    by_reason: dict[str, list[str]] = {}
    for event in events:
        by_reason.setdefault(str(event.get("reason", "")), []).append(str(event.get("message", "")))

    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        detail = " ".join([str(waiting.get("message", "")), *by_reason.get("Failed", [])])
        if reason in ("ErrImagePull", "ImagePullBackOff"):
            out.append(_image_pull(cs.get("image") or image, detail))
        elif reason == "InvalidImageName":
            out.append(
                Diagnosis(
                    reason="image-pull",
                    message=f"{image!r} is not a valid image reference",
                    fatal=True,
                )
            )
        elif reason in ("CreateContainerConfigError", "CreateContainerError"):
            out.append(
                Diagnosis(
                    reason="config",
                    message=f"the container cannot be created: {waiting.get('message', reason)} "
                    "(a Secret or ConfigMap it names may be missing)",
                    fatal=True,
                )
            )

    scheduled = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
    )
    unschedulable = " ".join(
        [
            str(scheduled.get("message", ""))
            if scheduled and scheduled.get("status") == "False"
            else "",
            *by_reason.get("FailedScheduling", []),
        ]
    )
    selector = spec.get("nodeSelector") or {}
    wanted = ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "(no node selector)"
    if "didn't match" in unschedulable and (
        "selector" in unschedulable or "affinity" in unschedulable
    ):
        out.append(
            Diagnosis(
                reason="no-node-pool",
                message=f"no node in the cluster matches {wanted}: there is no node pool with "
                "this accelerator and topology (or it is scaled to zero and cannot scale up). "
                "Create one, or enable node auto-provisioning",
            )
        )
    for resource in dict.fromkeys(_RESOURCE.findall(unschedulable)):
        out.append(
            Diagnosis(
                reason="insufficient",
                message=f"no node has enough free {resource}: the matching nodes are busy, "
                "or the pool is smaller than the job",
            )
        )
    m = _TAINT.search(unschedulable)
    if m:
        out.append(
            Diagnosis(
                reason="taint",
                message="the candidate nodes carry a taint the pod does not tolerate: "
                + m.group(1),
            )
        )

    autoscaler = " ".join(
        by_reason.get("NotTriggerScaleUp", []) + by_reason.get("FailedScaleUp", [])
    )
    everything = " ".join(messages)  # the autoscaler's events among them
    if re.search(r"quota", everything, re.I):
        detail = next((m for m in messages if re.search("quota", m, re.I)), "")
        out.append(
            Diagnosis(
                reason="quota",
                message="the autoscaler cannot add a node: Google Cloud quota exceeded"
                + (f" ({_short(detail)})" if detail else "")
                + ". Request more quota for this accelerator in the cluster's region, "
                "or use a reservation",
                fatal=True,
            )
        )
    elif re.search(r"stockout|RESOURCE_POOL_EXHAUSTED|backoff after failed scale-up", everything):
        out.append(
            Diagnosis(
                reason="stockout",
                message="the autoscaler tried to add a node and failed: the zone has no "
                "capacity for this accelerator right now. Retry later, use a reservation, "
                "or another zone",
            )
        )
    elif "max node group size reached" in autoscaler:
        out.append(
            Diagnosis(
                reason="max-size",
                message="the node pool with this accelerator is at its maximum size: raise "
                "its autoscaling limit or wait for other jobs to finish",
            )
        )
    elif autoscaler and not any(d.reason == "no-node-pool" for d in out):
        out.append(
            Diagnosis(
                reason="no-node-pool",
                message=f"the autoscaler will not add a node for {wanted}: " + _short(autoscaler),
            )
        )
    if by_reason.get("TriggeredScaleUp") and not out:
        out.append(
            Diagnosis(
                reason="scaling-up",
                message="the cluster autoscaler is adding a node for it; TPU and GPU nodes "
                "often take several minutes to come up",
            )
        )
    if not out:
        text = unschedulable.strip() or "no reason reported yet (no scheduling events)"
        out.append(Diagnosis(reason="pending", message=f"waiting to be scheduled: {_short(text)}"))
    seen: set[str] = set()
    unique = []
    for d in sorted(out, key=lambda d: not d.fatal):
        if d.reason not in seen:
            seen.add(d.reason)
            unique.append(d)
    return unique


def _image_pull(image: str, detail: str) -> Diagnosis:
    low = detail.lower()
    if any(s in low for s in ("not found", "manifest unknown", "name unknown", "notfound")):
        return Diagnosis(
            reason="image-missing",
            message=f"image {image} is not in its registry: it was never pushed, or the "
            "reference is wrong (podlock's bundled mode pushes the image before submitting)",
            fatal=True,
        )
    if any(s in low for s in ("unauthorized", "denied", "forbidden", "403", "authentication")):
        return Diagnosis(
            reason="image-denied",
            message=f"the nodes may not pull {image}: the registry refused them. Give the "
            "nodes' service account read access (Artifact Registry Reader), or add an "
            "imagePullSecret",
            fatal=True,
        )
    return Diagnosis(
        reason="image-pull",
        message=f"cannot pull image {image}: {_short(detail.strip()) or 'no detail'}",
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
