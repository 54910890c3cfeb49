"""Registry credentials, looked up at use time and never written or shown.

Sources, first match wins: Docker's ``config.json`` (``auths``, ``credHelpers``,
``credsStore``), then, for Google registries (``*-docker.pkg.dev``, ``gcr.io``), an access
token from Application Default Credentials (``google-auth``), sent as Google documents:
user ``oauth2accesstoken``, the token as password.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podlock.errors import PodlockError

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)
    source: str = "docker config"


def is_google(registry: str) -> bool:
    host = registry.split(":", 1)[0]
    return host.endswith("-docker.pkg.dev") or host == "gcr.io" or host.endswith(".gcr.io")


def lookup(registry: str) -> Credential | None:
    """Credentials for ``registry`` (``host[:port]``), or None for anonymous access."""
    found = _docker_config(registry)
    if found is None and is_google(registry):
        found = Credential("oauth2accesstoken", google_token(), source="Google ADC")
    return found


def google_credentials() -> Any:
    """Application Default Credentials for the cloud-platform scope (not yet refreshed)."""
    try:
        import google.auth
        import google.auth.exceptions
    except ImportError:
        raise PodlockError(
            "Google registries need the google-auth package",
            hint="pip install 'podlock[gcp]'",
        ) from None
    try:
        credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM])
    except google.auth.exceptions.DefaultCredentialsError:
        raise PodlockError(
            "no Google Application Default Credentials found",
            hint="run `gcloud auth application-default login`, or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a credentials file",
        ) from None
    return credentials


def google_token() -> str:
    """An access token from Application Default Credentials (refreshed now)."""
    credentials = google_credentials()
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        raise PodlockError(
            f"could not get a Google access token: {type(exc).__name__}",
            hint="refresh your Application Default Credentials "
            "(`gcloud auth application-default login`)",
        ) from None
    token = getattr(credentials, "token", None)
    if not token:
        raise PodlockError("Application Default Credentials gave no access token")
    return str(token)


def _config() -> dict[str, Any]:
    folder = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    try:
        data = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, ValueError) as exc:
        raise PodlockError(
            f"cannot read {folder}/config.json: {type(exc).__name__}",
            hint="fix or remove it (podlock reads registry credentials from it)",
        ) from None
    return data if isinstance(data, dict) else {}


def _docker_config(registry: str) -> Credential | None:
    config = _config()
    keys = {registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"}
    if registry == "docker.io":
        keys |= {"https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io"}
    helper = (config.get("credHelpers") or {}).get(registry)
    for key, entry in (config.get("auths") or {}).items():
        if key in keys and isinstance(entry, dict):
            if entry.get("auth"):
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                return Credential(user, password)
            if entry.get("username"):
                return Credential(str(entry["username"]), str(entry.get("password", "")))
    helper = helper or config.get("credsStore")
    if helper:
        return _helper(str(helper), registry)
    return None


def _helper(helper: str, registry: str) -> Credential | None:
    try:
        proc = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=registry,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        raise PodlockError(
            f"docker-credential-{helper} (named in your Docker config) did not answer",
            hint="install it, or remove it from ~/.docker/config.json",
        ) from None
    if proc.returncode != 0:
        return None  # the helper has nothing for this registry
    data = json.loads(proc.stdout)
    return Credential(str(data.get("Username", "")), str(data.get("Secret", "")), source=helper)
