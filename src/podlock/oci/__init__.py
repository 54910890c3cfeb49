"""The daemonless builder: bit-reproducible OCI images from a BuildPlan, with no engine.

Layers (``podlock.layers``) → config and manifest (byte-stable JSON, ``image``) → OCI
layout, ``docker load`` tarball (``layout``) or a registry (``push``), with a remote layer
cache and an SBOM. Every blob lives in one content-addressed store; outputs copy from it.
"""
