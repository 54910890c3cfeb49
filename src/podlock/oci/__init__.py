"""Daemonless, bit-reproducible OCI images from a LayerPlan, and a registry client to push them.

The pipeline: wheels (verified, cached) → layer trees (``installer``) → deterministic tar
layers → config and manifest (byte-stable JSON) → OCI layout, ``docker load`` tarball or a
registry. Every blob lives in one content-addressed store; outputs only copy from it.
"""
