"""The launcher: run a locked environment locally, in Docker, or on TPU/GPU pods."""
