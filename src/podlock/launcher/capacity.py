"""Capacity: the kind of GKE capacity a job's pods run on, and what a pod says to get it.

``--capacity`` takes one kind or a comma-separated fallback order (``reservation:r1,spot``);
``render`` writes the first, ``launch``'s preflight walks the order and uses the first kind
the cluster has node pools for (``choose``). What each kind writes, from GKE's docs:

- ``spot``: nodeSelector ``cloud.google.com/gke-spot: "true"`` (GKE "Spot VMs": the label
  GKE puts on Spot nodes, and what Autopilot's Spot Pods select), and a toleration of the
  ``cloud.google.com/gke-spot=true:NoSchedule`` taint ("Use Spot VMs": the taint GKE
  recommends for Spot node pools and that Autopilot adds itself).
- ``reservation:NAME``: nodeSelector ``cloud.google.com/reservation-name: NAME`` and
  ``cloud.google.com/reservation-affinity: specific`` (GKE "Consuming reserved zonal
  resources", and its A4/B200 tutorials); a shared reservation, written
  ``reservation:projects/OWNER/reservations/NAME``, adds
  ``cloud.google.com/reservation-project: OWNER``.
- ``flex-start``: nodeSelector ``cloud.google.com/gke-flex-start: "true"`` (GKE "flex-start
  provisioning mode"; the cluster autoscaler's ``FlexStartLabel``, a label and optional
  taint, so it is tolerated too). Queued through Kueue on a cluster that serves
  ProvisioningRequests (flex-start with queued provisioning), the pods also tolerate
  ``cloud.google.com/gke-queued=true:NoSchedule``, the taint GKE puts on queued-provisioning
  nodes (GKE "Run a large-scale workload with flex-start with queued provisioning").
- ``on-demand``: required node affinity ``cloud.google.com/gke-spot`` and
  ``cloud.google.com/gke-flex-start`` ``NotIn ["true"]`` (NotIn also matches nodes without
  the label): pods that asked for on-demand never land on an untainted Spot or flex-start
  node. No ``--capacity`` at all writes none of this, as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from podlock.errors import PodlockError

CapacityKind = Literal["on-demand", "spot", "reservation", "flex-start"]
KINDS: tuple[CapacityKind, ...] = ("on-demand", "spot", "reservation", "flex-start")
SPOT_LABEL = "cloud.google.com/gke-spot"
FLEX_START_LABEL = "cloud.google.com/gke-flex-start"
QUEUED_TAINT = "cloud.google.com/gke-queued"
RESERVATION_NAME = "cloud.google.com/reservation-name"
RESERVATION_AFFINITY = "cloud.google.com/reservation-affinity"
RESERVATION_PROJECT = "cloud.google.com/reservation-project"
# Reservation names are RFC 1035 labels (Compute Engine resource names).
_RESOURCE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_SHARED = re.compile(r"^projects/([^/]+)/reservations/([^/]+)$")


@dataclass(frozen=True, kw_only=True)
class Capacity:
    """One kind of capacity; ``reservation`` (and ``project``, for a shared one) name it."""

    kind: CapacityKind
    reservation: str = ""
    project: str = ""  # the owner project of a shared reservation

    def __str__(self) -> str:
        if self.kind != "reservation":
            return self.kind
        name = f"projects/{self.project}/reservations/{self.reservation}"
        return f"reservation:{name if self.project else self.reservation}"

    @property
    def node_selector(self) -> dict[str, str]:
        if self.kind == "spot":
            return {SPOT_LABEL: "true"}
        if self.kind == "flex-start":
            return {FLEX_START_LABEL: "true"}
        if self.kind == "reservation":
            selector = {RESERVATION_NAME: self.reservation, RESERVATION_AFFINITY: "specific"}
            if self.project:
                selector[RESERVATION_PROJECT] = self.project
            return selector
        return {}

    def tolerations(self, *, queued: bool = False) -> list[dict[str, Any]]:
        """The taints of this capacity's nodes the pods tolerate; ``queued``: the job goes
        through Kueue's ProvisioningRequest (flex-start with queued provisioning)."""
        if self.kind == "spot":
            return [_equal(SPOT_LABEL)]
        if self.kind == "flex-start":
            return [_equal(FLEX_START_LABEL), *([_equal(QUEUED_TAINT)] if queued else [])]
        return []

    @property
    def affinity(self) -> dict[str, Any] | None:
        """On-demand's node affinity: not on Spot, not on flex-start nodes."""
        if self.kind != "on-demand":
            return None
        expressions = [
            {"key": key, "operator": "NotIn", "values": ["true"]}
            for key in (SPOT_LABEL, FLEX_START_LABEL)
        ]
        terms = [{"matchExpressions": expressions}]
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": terms
        }}}  # fmt: skip

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with ``labels`` is this capacity (a pod asking for it may run there)."""
        if self.kind == "on-demand":
            return labels.get(SPOT_LABEL) != "true" and labels.get(FLEX_START_LABEL) != "true"
        return all(labels.get(k) == v for k, v in self.node_selector.items())


def _equal(key: str) -> dict[str, Any]:
    return {"key": key, "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def parse(text: str, *, where: str = "--capacity") -> tuple[Capacity, ...]:
    """``on-demand``, ``spot``, ``reservation:NAME``, ``flex-start``, or several of them
    comma-separated (a fallback order); an error names ``where`` and the bad part."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise PodlockError(
            f"{where} {text!r}: an empty capacity kind",
            hint="e.g. --capacity spot, or --capacity reservation:my-res,spot,on-demand",
        )
    out = tuple(_one(p, where) for p in parts)
    seen = [str(c) for c in out]
    if len(set(seen)) != len(seen):
        twice = sorted({s for s in seen if seen.count(s) > 1})
        raise PodlockError(f"{where} {text!r}: {', '.join(twice)} is listed twice")
    return out


def _one(part: str, where: str) -> Capacity:
    kind, sep, name = part.partition(":")
    if kind == "reservation":
        return _reservation(name, part, where)
    if sep or kind not in KINDS:
        raise PodlockError(
            f"{where} {part!r}: not a capacity kind",
            hint="use on-demand, spot, flex-start or reservation:NAME (comma-separated for a "
            "fallback order)",
        )
    return Capacity(kind=kind)  # checked against KINDS above


def _reservation(name: str, part: str, where: str) -> Capacity:
    project = ""
    shared = _SHARED.match(name)
    if shared:
        project, name = shared.groups()
        if not _PROJECT.match(project):
            raise PodlockError(f"{where} {part!r}: {project!r} is not a Google Cloud project ID")
    if not _RESOURCE.match(name):
        raise PodlockError(
            f"{where} {part!r}: {name!r} is not a reservation name" if name else
            f"{where} {part!r}: the reservation has no name",
            hint="reservation:NAME (lower-case letters, digits and '-'), or "
            "reservation:projects/OWNER_PROJECT/reservations/NAME for a shared reservation",
        )  # fmt: skip
    return Capacity(kind="reservation", reservation=name, project=project)


def describe(order: Sequence[Capacity]) -> str:
    """``spot`` or ``reservation:r1, then spot``."""
    return ", then ".join(str(c) for c in order)
