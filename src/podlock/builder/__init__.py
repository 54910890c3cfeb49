"""Images from locks: ``plan`` (pure) → Dockerfile + context → the Docker engine."""

from podlock.builder.plan import Layer, LayerPlan, Wheel, plan

__all__ = ["Layer", "LayerPlan", "Wheel", "plan"]
