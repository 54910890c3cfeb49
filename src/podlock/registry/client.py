"""A small OCI distribution client: manifests and blobs, anonymous, basic or bearer-token auth.

Two layers, as in docker-py: ``_send`` makes one authenticated HTTP request (answering a
``401`` challenge once through ``tokens.TokenAuth``, retrying transient failures), and the
methods above it speak the distribution API. Uploads are chunked ``PATCH``es that resume
from the registry's ``Range`` after a failure. Credentials and tokens stay in memory; no
message includes them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode, urljoin

import requests

from podlock.registry import auth
from podlock.registry.blobs import BlobStore
from podlock.registry.errors import AuthFailed, RegistryError, Unreachable
from podlock.registry.model import INDEX_TYPES, MANIFEST_TYPES
from podlock.registry.reference import Reference
from podlock.registry.tokens import TokenAuth

ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
CHUNK = 16 << 20
RETRIES = 4
_TRANSIENT = (429, 500, 502, 503, 504)


class Registry:
    """One registry (``host[:port]``); ``credential`` defaults to ``auth.lookup(host)``."""

    def __init__(
        self,
        ref: Reference,
        *,
        credential: auth.Credential | None = None,
        retries: int = RETRIES,
        chunk: int = CHUNK,
        backoff: float = 0.5,
        timeout: tuple[float, float] = (10, 300),
    ) -> None:
        self.registry = ref.registry
        self.base_url = ref.base_url
        self.retries, self.chunk, self.backoff = retries, chunk, backoff
        self.timeout = timeout
        self.session = requests.Session()
        self.auth = TokenAuth(self.registry, self.session, credential)

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
        """A small blob in one request (``POST`` then a monolithic ``PUT``)."""
        location = self._start_upload(repository)
        sep = "&" if "?" in location else "?"
        self._send(
            "PUT",
            f"{location}{sep}{urlencode({'digest': digest})}",
            repository=repository,
            data=data,
            ok=(201,),
            headers={"Content-Type": "application/octet-stream"},
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
        response = self._send(
            "GET", f"/v2/{repository}/blobs/{digest}", repository=repository, ok=(200,), stream=True
        )
        with response, store.writer(expected=digest) as out:
            for chunk in response.iter_content(1 << 20):
                out.write(chunk)

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
                    time.sleep(self.backoff * 2 ** (failures - 1))
                    location, offset = self._resume(repository, location)
                    continue
                failures = 0
                location = self._url(response.headers.get("Location", location))
                offset = end + 1
        sep = "&" if "?" in location else "?"
        self._send(
            "PUT",
            f"{location}{sep}{urlencode({'digest': digest})}",
            repository=repository,
            ok=(201,),
            headers={"Content-Length": "0"},
        )

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

    def _resume(self, repository: str, location: str) -> tuple[str, int]:
        """Where the upload stands: the session's Location and the next offset."""
        try:
            response = self._send("GET", location, repository=repository, ok=(204, 404))
        except RegistryError:
            return self._start_upload(repository), 0
        if response.status_code == 404:
            return self._start_upload(repository), 0
        got = response.headers.get("Range", "")
        offset = int(got.split("-", 1)[1]) + 1 if "-" in got else 0
        return self._url(response.headers.get("Location", location)), offset

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
    ) -> requests.Response:
        url = self._url(path)
        scope = _scope(repository, method, also)
        attempts = self.retries + 1 if retry else 1
        attempt = 0
        authed = False
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    headers={**(headers or {}), **self.auth.header(scope)},
                    data=data,
                    stream=stream,
                    timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                attempt += 1
                if attempt == attempts:
                    raise Unreachable(
                        f"{self.registry} does not answer ({type(exc).__name__}) for {repository}",
                        hint="check that the registry is running and reachable",
                    ) from None
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if response.status_code == 401 and not authed:
                authed = True  # answer the challenge once, then send again (same attempt)
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
            attempt += 1
            if response.status_code in _TRANSIENT and attempt < attempts:
                response.close()
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            raise _error(self.registry, method, repository, response)


def _scope(repository: str, method: str, also: tuple[str, ...]) -> str:
    action = "pull" if method in ("GET", "HEAD") else "pull,push"
    return " ".join([f"repository:{repository}:{action}", *(f"repository:{r}:pull" for r in also)])


def _error(
    registry: str, method: str, repository: str, response: requests.Response
) -> RegistryError:
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
    if code in _TRANSIENT:
        return Unreachable(
            f"{registry} keeps failing ({method} on {repository}: HTTP {code}: {detail})",
            hint="run the push again once the registry is back: blobs it already has are skipped",
        )
    return RegistryError(f"{registry} answered {method} on {repository} with HTTP {code}: {detail}")
