"""Answering a registry's ``401`` challenge: a bearer token from its token service (one per
scope, kept in memory), or basic auth with the looked-up credentials."""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlencode

from podlock import http
from podlock.registry import auth
from podlock.registry.errors import AuthFailed
from podlock.urls import basic_auth, redact

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class TokenAuth:
    """The ``Authorization`` a registry asked for; ``credential`` defaults to
    ``auth.lookup(registry)``, looked up on the first challenge."""

    def __init__(
        self, registry: str, client: http.Client, credential: auth.Credential | None
    ) -> None:
        self.registry = registry
        self.http = client
        self._credential = credential
        self._looked_up = credential is not None
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._lock = threading.Lock()

    def who(self) -> str:
        credential = self._credential
        return f"the credentials from {credential.source}" if credential else "no credentials"

    def _lookup(self) -> auth.Credential | None:
        with self._lock:  # pushes run in threads; look up (and maybe refresh a token) once
            if not self._looked_up:
                self._credential = auth.lookup(self.registry)
                self._looked_up = True
            return self._credential

    def header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        cred = self._credential
        if self._basic and cred:
            return {"Authorization": basic_auth(cred.username, cred.password)}
        return {}

    def answer(self, response: http.Response, scope: str, repository: str) -> None:
        """Read a 401's challenge and get what it asks for (a bearer token, or basic)."""
        challenge = response.headers.get("WWW-Authenticate", "")
        kind = challenge.split(" ", 1)[0].lower()
        cred = self._lookup()
        if kind == "basic":
            if cred is None:
                raise AuthFailed(
                    f"{self.registry} needs credentials for {repository} and none were found",
                    hint="docker login to it (podlock reads ~/.docker/config.json)",
                )
            self._basic = True
            return
        if kind != "bearer":
            raise AuthFailed(f"{self.registry} asks for unsupported auth {kind!r} on {repository}")
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm")
        if not realm:
            raise AuthFailed(f"{self.registry}: bearer challenge without a realm")
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query += [("scope", s) for s in scope.split(" ")]
        headers = {"Authorization": basic_auth(cred.username, cred.password)} if cred else {}
        sep = "&" if "?" in realm else "?"
        try:
            got = self.http.request(
                "GET", f"{realm}{sep}{urlencode(query)}", ok=None, headers=headers
            )
        except http.HttpError as exc:
            raise AuthFailed(
                f"{self.registry}: the token service at {redact(realm)} does not answer "
                f"({exc.message})"
            ) from None
        if got.status_code != 200:
            raise AuthFailed(
                f"{self.registry}: the token service refused {self.who()} for {repository} "
                f"(HTTP {got.status_code})",
                hint="check the registry credentials (docker login, or "
                "`gcloud auth application-default login` for Artifact Registry)",
            )
        try:
            body: dict[str, Any] = got.json()
        except ValueError:
            body = {}
        token = body.get("token") or body.get("access_token")
        if not token:
            raise AuthFailed(f"{self.registry}: the token service answered without a token")
        self._tokens[scope] = str(token)
