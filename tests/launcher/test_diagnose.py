"""Pending pods explained in plain words, from the conditions and events a cluster reports."""

from __future__ import annotations

from typing import Any

from podlock.launcher.diagnose import explain

TPU_POD = {
    "metadata": {"name": "train-0"},
    "spec": {
        "nodeSelector": {
            "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
            "cloud.google.com/gke-tpu-topology": "2x4",
        },
        "containers": [{"name": "main", "image": "reg.example/app@sha256:abc"}],
    },
}


def pending(message: str) -> dict[str, Any]:
    return {
        **TPU_POD,
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                }
            ],
        },
    }


def event(reason: str, message: str) -> dict[str, Any]:
    return {"reason": reason, "message": message}


def test_no_matching_node_pool_names_the_selector() -> None:
    [d] = explain(
        pending("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."), []
    )
    assert d.reason == "no-node-pool"
    assert "cloud.google.com/gke-tpu-accelerator=tpu-v6e-slice" in d.message
    assert "cloud.google.com/gke-tpu-topology=2x4" in d.message
    assert not d.fatal


def test_insufficient_tpu_says_the_nodes_are_busy() -> None:
    [d] = explain(pending("0/4 nodes are available: 4 Insufficient google.com/tpu."), [])
    assert d.reason == "insufficient"
    assert "google.com/tpu" in d.message


def test_quota_from_the_autoscaler_is_fatal() -> None:
    diagnoses = explain(
        pending("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."),
        [event("FailedScaleUp", "Node scale up in zones us-east5-a failed: GCE quota exceeded.")],
    )
    assert diagnoses[0].reason == "quota" and diagnoses[0].fatal
    assert "quota" in diagnoses[0].message and "GCE quota exceeded" in diagnoses[0].message


def test_stockout_and_max_size_are_told_apart() -> None:
    [d] = explain(
        pending(""),
        [
            event(
                "NotTriggerScaleUp",
                "pod didn't trigger scale-up: 1 in backoff after failed scale-up",
            )
        ],
    )
    assert d.reason == "stockout"
    [d] = explain(
        pending(""),
        [event("NotTriggerScaleUp", "pod didn't trigger scale-up: 1 max node group size reached")],
    )
    assert d.reason == "max-size"


def test_scale_up_in_progress_is_reassuring() -> None:
    [d] = explain(
        {**TPU_POD, "status": {"phase": "Pending"}},
        [event("TriggeredScaleUp", "pod triggered scale-up")],
    )
    assert d.reason == "scaling-up" and not d.fatal


def image_pull(message: str) -> dict[str, Any]:
    return {
        **TPU_POD,
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "main", "image": "reg.example/app@sha256:abc",
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}}}
            ],
        },
    }  # fmt: skip


def test_missing_image_is_fatal_and_says_push() -> None:
    [d] = explain(image_pull('Back-off pulling image "x": not found'), [])
    assert d.reason == "image-missing" and d.fatal
    assert "reg.example/app@sha256:abc" in d.message and "pushed" in d.message


def test_denied_pull_points_at_registry_permissions() -> None:
    [d] = explain(image_pull("failed to authorize: 403 Forbidden"), [])
    assert d.reason == "image-denied" and d.fatal
    assert "Artifact Registry Reader" in d.message


def test_a_pod_with_no_reason_yet_says_so() -> None:
    [d] = explain({**TPU_POD, "status": {"phase": "Pending"}}, [])
    assert d.reason == "pending"
    assert "no reason reported yet" in d.message
