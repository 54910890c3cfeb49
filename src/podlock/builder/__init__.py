"""Images from locks: ``plan`` (pure) → Dockerfile + context → the Docker engine."""

from podlock.plan.layerplan import Layer, LayerPlan, Wheel, plan

__all__ = ["Layer", "LayerPlan", "Wheel", "plan"]
