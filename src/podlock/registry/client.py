"""A small OCI distribution client: manifests and blobs, anonymous, basic or bearer-token auth.

Two layers, as in docker-py: ``_send`` makes one authenticated HTTP request through
``podlock.http`` (which retries transient failures; ``_send`` answers a ``401`` challenge
once through ``tokens.TokenAuth``), and the methods above it speak the distribution API.
Uploads are chunked ``PATCH``es that resume from the registry's ``Range`` after a failure;
blob downloads resume with ``Range``. Credentials and tokens stay in memory; no message
includes them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode, urljoin

from podlock import http
from podlock.registry import auth
from podlock.registry.blobs import BlobStore
from podlock.registry.errors import AuthFailed, RegistryError, Unreachable
from podlock.registry.model import INDEX_TYPES, MANIFEST_TYPES
from podlock.registry.reference import Reference
from podlock.registry.tokens import TokenAuth

ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
CHUNK = 16 << 20


class Registry:
    """One registry (``host[:port]``); ``credential`` defaults to ``auth.lookup(host)``."""

    def __init__(
        self,
        ref: Reference,
        *,
        credential: auth.Credential | None = None,
        retries: int | None = None,
        chunk: int = CHUNK,
        backoff: float | None = None,
        timeout: tuple[float, float] = (10, 300),
    ) -> None:
        """``retries`` and ``backoff`` default to ``http.Policy``'s (and its variables)."""
        self.registry = ref.registry
        self.base_url = ref.base_url
        default = http.Policy()
        self.policy = http.Policy(
            retries=default.retries if retries is None else retries,
            backoff=default.backoff if backoff is None else backoff,
            timeout=timeout,
        )
        self.retries, self.chunk = self.policy.retries, chunk
        self.http = http.Client(policy=self.policy)
        self.auth = TokenAuth(self.registry, self.http, credential)

    # ------------------------------------------------------------------ API --
    def manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest or index bytes and media type, exactly as the registry holds them."""
        response = self._send(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            headers={"Accept": ACCEPT},
            ok=(200,),
        )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return response.content, media_type

    def has_manifest(self, repository: str, reference: str) -> bool:
        response = self._send(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            headers={"Accept": ACCEPT},
            ok=(200, 404),
        )
        return response.status_code == 200

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self._send(
            "HEAD", f"/v2/{repository}/blobs/{digest}", repository=repository, ok=(200, 404)
        )
        return response.status_code == 200

    def blob_size(self, repository: str, digest: str) -> int | None:
        """The blob's size as the registry reports it, or None when it has no such blob."""
        response = self._send(
            "HEAD", f"/v2/{repository}/blobs/{digest}", repository=repository, ok=(200, 404)
        )
        if response.status_code != 200:
            return None
        try:
            return int(response.headers.get("Content-Length", ""))
        except ValueError:
            return None

    def upload_bytes(self, repository: str, digest: str, data: bytes) -> None:
        """A small blob in one request (``POST`` then a monolithic ``PUT``); a PUT whose
        answer was lost is checked against the blob, and sent again in a new session."""
        for _ in range(2):
            location = self._start_upload(repository)
            sep = "&" if "?" in location else "?"
            response = self._send(
                "PUT",
                f"{location}{sep}{urlencode({'digest': digest})}",
                repository=repository,
                data=data,
                ok=(201, 404),
                headers={"Content-Type": "application/octet-stream"},
            )
            if response.status_code == 201 or self.has_blob(repository, digest):
                return
        raise Unreachable(
            f"{self.registry}: uploading {digest} to {repository} lost its session twice",
            hint="run the push again: blobs the registry already has are skipped",
        )

    def referrers(self, repository: str, digest: str) -> bytes | None:
        """The referrers API's index for ``digest``, or None where the registry has no such
        API (404 on the endpoint)."""
        response = self._send(
            "GET",
            f"/v2/{repository}/referrers/{digest}",
            repository=repository,
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
            ok=(200, 404),
        )
        return response.content if response.status_code == 200 else None

    def fetch_blob(self, repository: str, digest: str, store: BlobStore) -> None:
        """Download a blob into ``store``, verified against its digest."""
        if store.has(digest):
            return
        path = f"/v2/{repository}/blobs/{digest}"
        self._send("HEAD", path, repository=repository, ok=(200,))  # a token, if one is needed
        scope = _scope(repository, "GET", ())
        with store.writer(expected=digest) as out:
            try:
                self.http.download(
                    self._url(path), out, headers=self.auth.header(scope), what="download blob"
                )
            except http.HttpError as exc:
                raise _from_http(self.registry, "GET", repository, exc) from None

    def mount(self, repository: str, digest: str, source: str) -> bool:
        """Cross-repository mount; False when the registry started an upload instead."""
        query = urlencode({"mount": digest, "from": source})
        response = self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/?{query}",
            repository=repository,
            also=(source,),
            ok=(201, 202),
        )
        if response.status_code == 202 and "Location" in response.headers:
            self._send(
                "DELETE",
                self._url(response.headers["Location"]),
                repository=repository,
                ok=(204, 404, 405),
            )
        return response.status_code == 201

    def upload(
        self,
        repository: str,
        digest: str,
        path: Path,
        *,
        what: str = "",
    ) -> None:
        """Chunked upload of ``path`` as ``digest``. A failed chunk is retried from the offset
        the registry reports; ``retries`` failures in a row end with Unreachable."""
        for _ in range(2):
            if self._upload_once(repository, digest, path, what):
                return
        raise Unreachable(
            f"{self.registry}: uploading {what or digest} to {repository} lost its session twice",
            hint="run the push again: blobs the registry already has are skipped",
        )

    def _upload_once(self, repository: str, digest: str, path: Path, what: str) -> bool:
        size = path.stat().st_size
        location = self._start_upload(repository)
        offset = 0
        failures = 0
        with open(path, "rb") as fh:
            while offset < size:
                fh.seek(offset)
                data = fh.read(self.chunk)
                end = offset + len(data) - 1
                try:
                    response = self._send(
                        "PATCH",
                        location,
                        repository=repository,
                        data=data,
                        ok=(202,),
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{end}",
                        },
                        retry=False,
                    )
                except AuthFailed:
                    raise
                except RegistryError as exc:
                    failures += 1
                    if failures > self.retries:
                        raise Unreachable(
                            f"{self.registry}: uploading {what or digest} to {repository} failed "
                            f"{failures} times in a row ({exc.message})",
                            hint="run the push again: blobs the registry already has are skipped",
                        ) from None
                    time.sleep(self.policy.wait(failures))
                    location, offset = self._resume(repository, location)
                    continue
                failures = 0
                location = self._url(response.headers.get("Location", location))
                offset = end + 1
        return self._commit(repository, digest, location)

    def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> dict[str, str]:
        """PUT a manifest or index; the registry's response headers (``OCI-Subject``...)."""
        response = self._send(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            data=body,
            headers={"Content-Type": media_type},
            ok=(201,),
        )
        return dict(response.headers)

    # ------------------------------------------------------------ plumbing --
    def _start_upload(self, repository: str) -> str:
        response = self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            repository=repository,
            ok=(202,),
            headers={"Content-Length": "0"},
        )
        return self._url(response.headers["Location"])

    def _commit(self, repository: str, digest: str, location: str) -> bool:
        """The closing ``PUT``; False when the registry lost the session and lacks the blob
        (retried PUTs are safe: a PUT whose answer was lost leaves the blob, so a 404 on the
        session is checked against the blob itself)."""
        sep = "&" if "?" in location else "?"
        response = self._send(
            "PUT",
            f"{location}{sep}{urlencode({'digest': digest})}",
            repository=repository,
            ok=(201, 404),
            headers={"Content-Length": "0"},
        )
        return response.status_code == 201 or self.has_blob(repository, digest)

    def _resume(self, repository: str, location: str) -> tuple[str, int]:
        """Where the upload stands: the session's Location and the next offset. ``Range:
        0-0`` says the session holds 0 bytes or 1 byte (the spec's ambiguity), so that
        answer, like a lost session, starts a new one at offset 0."""
        try:
            response = self._send("GET", location, repository=repository, ok=(204, 404))
        except RegistryError:
            return self._start_upload(repository), 0
        got = response.headers.get("Range", "")
        try:
            end = int(got.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            end = 0
        if response.status_code == 404 or end <= 0:
            return self._start_upload(repository), 0
        return self._url(response.headers.get("Location", location)), end + 1

    def _url(self, location: str) -> str:
        return urljoin(self.base_url + "/", location)

    def _send(
        self,
        method: str,
        path: str,
        *,
        repository: str,
        ok: tuple[int, ...],
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        also: tuple[str, ...] = (),
        retry: bool = True,
    ) -> http.Response:
        url = self._url(path)
        scope = _scope(repository, method, also)
        authed = False
        while True:
            try:
                response = self.http.request(
                    method,
                    url,
                    ok=None,  # every final answer is read here; http retries the rest
                    headers={**(headers or {}), **self.auth.header(scope)},
                    data=data,
                    stream=stream,
                    retry=retry,
                )
            except http.HttpError as exc:
                raise _from_http(self.registry, method, repository, exc) from None
            if response.status_code == 401 and not authed:
                authed = True  # answer the challenge once, then send again
                self.auth.answer(response, scope, repository)
                response.close()
                continue
            if response.status_code in ok:
                return response
            if response.status_code in (401, 403):
                response.close()
                raise AuthFailed(
                    f"{self.registry} refused {method} on {repository} (HTTP "
                    f"{response.status_code}) with {self.auth.who()}",
                    hint="check the registry credentials (docker login, or "
                    "`gcloud auth application-default login` for Artifact Registry)",
                )
            raise _error(self.registry, method, repository, response)


def _scope(repository: str, method: str, also: tuple[str, ...]) -> str:
    action = "pull" if method in ("GET", "HEAD") else "pull,push"
    return " ".join([f"repository:{repository}:{action}", *(f"repository:{r}:pull" for r in also)])


def _from_http(registry: str, method: str, repository: str, exc: http.HttpError) -> RegistryError:
    if isinstance(exc, http.Unreachable):
        return Unreachable(
            f"{registry} does not answer {method} on {repository}: {exc.message}",
            hint="check that the registry is running and reachable"
            if method in ("GET", "HEAD")
            else "run the push again once the registry is back: blobs it already has are skipped",
        )
    if exc.status in (401, 403):
        return AuthFailed(f"{registry} refused {method} on {repository}: {exc.message}")
    return RegistryError(f"{registry}: {exc.message}")


def _error(registry: str, method: str, repository: str, response: http.Response) -> RegistryError:
    code = response.status_code
    detail = ""
    try:
        errors = response.json().get("errors") or []
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except ValueError:
        detail = response.text[:200].strip()
    response.close()
    if code == 404:
        return RegistryError(
            f"{registry}/{repository}: not found ({detail or 'HTTP 404'})",
            hint="check the image reference (repository, tag or digest)",
        )
    if code in http.TRANSIENT:
        return Unreachable(
            f"{registry} keeps failing ({method} on {repository}: HTTP {code}: {detail})",
            hint="run the push again once the registry is back: blobs it already has are skipped",
        )
    return RegistryError(f"{registry} answered {method} on {repository} with HTTP {code}: {detail}")
