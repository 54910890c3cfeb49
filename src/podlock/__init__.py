"""podlock: from requirements to reproducible runs on TPU/GPU pods."""

__version__ = "0.1.0"
