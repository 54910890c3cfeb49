"""Layers, for both builders: wheels fetched and verified (``fetch``, ``wheels``), installed
into trees (``install``, ``installed``), written as deterministic tars (``tarlayer``) and
compressed (``compress``); the system packages' layer from locked .debs (``system``, ``debs``)."""
