"""The Docker-engine builder: a BuildPlan → Dockerfile + context → layers built and cached
step by step by the local engine (``build``, ``chain``, ``dockerfile``), and pushed by it."""
