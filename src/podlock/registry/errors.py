"""What the registry client raises; every message names the registry (never a credential)."""

from __future__ import annotations

from podlock.errors import PodlockError


class RegistryError(PodlockError):
    """The registry refused or failed a request; the message names registry and repository."""


class AuthFailed(RegistryError):
    pass


class Unreachable(RegistryError):
    pass
