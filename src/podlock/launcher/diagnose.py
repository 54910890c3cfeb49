"""Why a pod is still Pending, in plain words, from its conditions and events (pure).

The scheduler and the cluster autoscaler explain themselves in the pod's ``PodScheduled``
condition and in events (``FailedScheduling``, ``NotTriggerScaleUp``, ``FailedScaleUp``,
``TriggeredScaleUp``); the kubelet in container ``waiting`` states and ``Failed`` events.
Users of other launchers complain that pods sit Pending "with no reason": this module turns
those messages into a sentence and a next step. ``fatal`` marks what waiting cannot fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

_RESOURCE = re.compile(r"Insufficient ([\w./-]+)")
_TAINT = re.compile(r"untolerated taint[s]? ?\{?([^}]*)\}?")
_MISSING = ("not found", "manifest unknown", "name unknown", "notfound")
_DENIED = ("unauthorized", "denied", "forbidden", "403", "authentication")

Reason = Literal[
    "no-node-pool", "insufficient", "quota", "stockout", "max-size", "scaling-up",
    "image-missing", "image-denied", "image-pull", "taint", "config", "pending",
]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    reason: Reason
    message: str
    fatal: bool = False


@dataclass(frozen=True, kw_only=True)
class _Waiting:
    """One container's ``waiting`` state, with the pod's ``Failed`` events."""

    reason: str
    message: str  # its message (its reason where it has none)
    image: str  # the container's image (the pod's first one where it does not say)
    pod_image: str  # the pod's first container's image
    detail: str  # the waiting message and the Failed events


@dataclass(frozen=True, kw_only=True)
class _Pod:
    """What the rules read, gathered once from the pod and its events."""

    waiting: tuple[_Waiting, ...]
    by_reason: Mapping[str, list[str]]  # event messages by event reason
    messages: tuple[str, ...]  # every event's message
    unschedulable: str  # PodScheduled=False's message and FailedScheduling events
    wanted: str  # the node selector, as k=v, ...
    autoscaler: str  # NotTriggerScaleUp and FailedScaleUp events

    @property
    def everything(self) -> str:
        return " ".join(self.messages)  # the autoscaler's events among them


@dataclass(frozen=True, kw_only=True)
class _ContainerRule:
    """A container in ``waiting`` for one of ``waiting``, whose detail ``says`` (any)."""

    reason: Reason
    waiting: tuple[str, ...]
    message: Callable[[_Waiting], str]
    says: tuple[str, ...] = ()
    fatal: bool = False


@dataclass(frozen=True, kw_only=True)
class _Rule:
    """``match`` gives what matched (one diagnosis each, none when empty); of the rules of
    one ``chain`` only the first that matches applies; an ``alone`` rule only when nothing
    before it did."""

    reason: Reason
    match: Callable[[_Pod], Sequence[str]]
    message: Callable[[_Pod, str], str]
    fatal: bool = False
    chain: str = ""
    alone: bool = False


_PULL = ("ErrImagePull", "ImagePullBackOff")
# For each waiting container, the first rule that fits.
_CONTAINER_RULES: tuple[_ContainerRule, ...] = (
    _ContainerRule(
        reason="image-missing",
        waiting=_PULL,
        says=_MISSING,
        message=lambda w: (
            f"image {w.image} is not in its registry: it was never pushed, or the "
            "reference is wrong (podlock's bundled mode pushes the image before submitting)"
        ),
        fatal=True,
    ),
    _ContainerRule(
        reason="image-denied",
        waiting=_PULL,
        says=_DENIED,
        message=lambda w: (
            f"the nodes may not pull {w.image}: the registry refused them. Give "
            "the nodes' service account read access (Artifact Registry Reader), or add an "
            "imagePullSecret"
        ),
        fatal=True,
    ),
    _ContainerRule(
        reason="image-pull",
        waiting=_PULL,
        message=lambda w: f"cannot pull image {w.image}: {_short(w.detail.strip()) or 'no detail'}",
    ),
    _ContainerRule(
        reason="image-pull",
        waiting=("InvalidImageName",),
        message=lambda w: f"{w.pod_image!r} is not a valid image reference",
        fatal=True,
    ),
    _ContainerRule(
        reason="config",
        waiting=("CreateContainerConfigError", "CreateContainerError"),
        message=lambda w: (
            f"the container cannot be created: {w.message} "
            "(a Secret or ConfigMap it names may be missing)"
        ),
        fatal=True,
    ),
)


def _no_node_matches(pod: _Pod) -> list[str]:
    text = pod.unschedulable
    return [""] if "didn't match" in text and ("selector" in text or "affinity" in text) else []


def _taint(pod: _Pod) -> list[str]:
    m = _TAINT.search(pod.unschedulable)
    return [m.group(1)] if m else []


def _quota(pod: _Pod) -> list[str]:
    if not re.search(r"quota", pod.everything, re.I):
        return []
    return [next((m for m in pod.messages if re.search("quota", m, re.I)), "")]


def _stockout(pod: _Pod) -> list[str]:
    found = re.search(
        r"stockout|RESOURCE_POOL_EXHAUSTED|backoff after failed scale-up", pod.everything
    )
    return [""] if found else []


# The pod's scheduling, in order (after the containers' rules).
_RULES: tuple[_Rule, ...] = (
    _Rule(
        reason="no-node-pool",
        match=_no_node_matches,
        message=lambda pod, _: (
            f"no node in the cluster matches {pod.wanted}: there is no node "
            "pool with this accelerator and topology (or it is scaled to zero and cannot scale "
            "up). Create one, or enable node auto-provisioning"
        ),
    ),
    _Rule(
        reason="insufficient",
        match=lambda pod: list(dict.fromkeys(_RESOURCE.findall(pod.unschedulable))),
        message=lambda _, resource: (
            f"no node has enough free {resource}: the matching nodes "
            "are busy, or the pool is smaller than the job"
        ),
    ),
    _Rule(
        reason="taint",
        match=_taint,
        message=lambda _, taint: (
            "the candidate nodes carry a taint the pod does not tolerate: " + taint
        ),
    ),
    _Rule(
        reason="quota",
        chain="autoscaler",
        match=_quota,
        message=lambda _, detail: (
            "the autoscaler cannot add a node: Google Cloud quota exceeded"
            + (f" ({_short(detail)})" if detail else "")
            + ". Request more quota for this accelerator in the cluster's region, "
            "or use a reservation"
        ),
        fatal=True,
    ),
    _Rule(
        reason="stockout",
        chain="autoscaler",
        match=_stockout,
        message=lambda _, __: (
            "the autoscaler tried to add a node and failed: the zone has no "
            "capacity for this accelerator right now. Retry later, use a reservation, "
            "or another zone"
        ),
    ),
    _Rule(
        reason="max-size",
        chain="autoscaler",
        match=lambda pod: [""] if "max node group size reached" in pod.autoscaler else [],
        message=lambda _, __: (
            "the node pool with this accelerator is at its maximum size: "
            "raise its autoscaling limit or wait for other jobs to finish"
        ),
    ),
    _Rule(  # a second no-node-pool yields to the scheduler's (the first of a reason stays)
        reason="no-node-pool",
        chain="autoscaler",
        match=lambda pod: [pod.autoscaler] if pod.autoscaler else [],
        message=lambda pod, said: (
            f"the autoscaler will not add a node for {pod.wanted}: " + _short(said)
        ),
    ),
    _Rule(
        reason="scaling-up",
        alone=True,
        match=lambda pod: [""] if pod.by_reason.get("TriggeredScaleUp") else [],
        message=lambda _, __: (
            "the cluster autoscaler is adding a node for it; TPU and GPU "
            "nodes often take several minutes to come up"
        ),
    ),
    _Rule(
        reason="pending",
        alone=True,
        match=lambda pod: [
            pod.unschedulable.strip() or "no reason reported yet (no scheduling events)"
        ],
        message=lambda _, text: f"waiting to be scheduled: {_short(text)}",
    ),
)


def explain(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[Diagnosis]:
    """Every distinct reason this pod is not running, most decisive first."""
    facts = _facts(pod, events)
    out = [d for w in facts.waiting for d in _container(w)]
    chains: set[str] = set()
    for rule in _RULES:
        if (rule.alone and out) or (rule.chain and rule.chain in chains):
            continue
        matched = rule.match(facts)
        if matched and rule.chain:
            chains.add(rule.chain)
        out += [Diagnosis(reason=rule.reason, message=rule.message(facts, m), fatal=rule.fatal)
                for m in matched]  # fmt: skip
    seen: set[str] = set()
    unique = []
    for d in sorted(out, key=lambda d: not d.fatal):
        if d.reason not in seen:
            seen.add(d.reason)
            unique.append(d)
    return unique


def _container(waiting: _Waiting) -> list[Diagnosis]:
    """The first container rule that fits ``waiting`` (none: no diagnosis)."""
    low = waiting.detail.lower()
    for rule in _CONTAINER_RULES:
        if waiting.reason in rule.waiting and (not rule.says or any(s in low for s in rule.says)):
            return [Diagnosis(reason=rule.reason, message=rule.message(waiting), fatal=rule.fatal)]
    return []


def _facts(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> _Pod:
    spec = pod.get("spec", {})
    status = pod.get("status", {})
    image = next((c.get("image", "") for c in spec.get("containers", [])), "")
    by_reason: dict[str, list[str]] = {}
    for event in events:
        by_reason.setdefault(str(event.get("reason", "")), []).append(str(event.get("message", "")))
    waiting = []
    for cs in status.get("containerStatuses") or []:
        state = (cs.get("state") or {}).get("waiting") or {}
        detail = " ".join([str(state.get("message", "")), *by_reason.get("Failed", [])])
        waiting.append(
            _Waiting(
                reason=state.get("reason", ""),
                message=state.get("message", state.get("reason", "")),
                image=cs.get("image") or image,
                pod_image=image,
                detail=detail,
            )
        )
    scheduled = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
    )
    refused = (
        scheduled.get("message", "") if scheduled and scheduled.get("status") == "False" else ""
    )
    selector = spec.get("nodeSelector") or {}
    return _Pod(
        waiting=tuple(waiting),
        by_reason=by_reason,
        messages=tuple(str(e.get("message", "")) for e in events),
        unschedulable=" ".join([str(refused), *by_reason.get("FailedScheduling", [])]),
        wanted=", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "(no node selector)",
        autoscaler=" ".join(
            by_reason.get("NotTriggerScaleUp", []) + by_reason.get("FailedScaleUp", [])
        ),
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
