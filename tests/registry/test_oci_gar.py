"""Artifact Registry without Google's network: ADC tokens from a local token endpoint, the
repository check/creation through google-cloud-artifact-registry against a local server that
speaks the REST endpoints it uses, and the token used as a registry bearer credential."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from podlock.errors import PodlockError
from podlock.registry import auth
from podlock.registry.gar import ENDPOINT_ENV, ensure_repository, repository_of
from podlock.registry.reference import Reference
from podlock.reporter import ListReporter
from testkit import skip_or_fail

TOKEN = "ya29.fake-access-token"
REPO_NAME = "projects/proj/locations/europe-west4/repositories/images"


class FakeGoogle:
    """The OAuth token endpoint and the Artifact Registry v1 repository endpoints."""

    def __init__(self) -> None:
        self.repositories: dict[str, dict[str, Any]] = {}
        self.seen: list[tuple[str, str, str]] = []  # method, path, Authorization

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                fake.seen.append(("POST", self.path, self.headers.get("Authorization", "")))
                if path == "/token":
                    assert (
                        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in body
                    )
                    return self.reply(
                        200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}
                    )
                repo_id = self.path.split("repositoryId=", 1)[1].split("&", 1)[0]
                name = f"{path.removeprefix('/v1/')}/{repo_id}"
                repo = {**json.loads(body or b"{}"), "name": name}
                fake.repositories[name] = repo
                self.reply(
                    200,
                    {
                        "name": f"{path.removeprefix('/v1/')}/operations/op1",
                        "done": True,
                        "response": {
                            "@type": "type.googleapis.com/google.devtools."
                            "artifactregistry.v1.Repository",
                            **repo,
                        },
                    },
                )

            def do_GET(self) -> None:
                fake.seen.append(("GET", self.path, self.headers.get("Authorization", "")))
                name = self.path.split("?", 1)[0].removeprefix("/v1/")
                if name in fake.repositories:
                    return self.reply(200, fake.repositories[name])
                self.reply(
                    404,
                    {"error": {"code": 404, "message": f"{name} not found", "status": "NOT_FOUND"}},
                )

        return Handler


@contextmanager
def serve(fake: FakeGoogle) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeGoogle, str]]:
    try:
        import google.cloud.artifactregistry_v1  # noqa: F401
    except ImportError:
        skip_or_fail("google-cloud-artifact-registry missing (pip install -e '.[gcp]')")
    fake = FakeGoogle()
    with serve(fake) as url:
        # A service-account key (google-auth honours its token_uri; it pins the one of
        # authorized_user files to Google's), made here: no real key exists in the repo.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        adc = tmp_path / "adc.json"
        adc.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "proj",
                    "private_key_id": "k1",
                    "private_key": pem,
                    "client_email": "podlock-test@proj.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{url}/token",
                }
            )
        )
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
        monkeypatch.setenv(ENDPOINT_ENV, url)
        yield fake, url


def test_artifact_registry_credentials_come_from_adc(google: tuple[FakeGoogle, str]) -> None:
    cred = auth.lookup("europe-west4-docker.pkg.dev")
    assert cred is not None and cred.username == "oauth2accesstoken" and cred.password == TOKEN
    assert TOKEN not in repr(cred)
    assert auth.lookup("127.0.0.1:5000") is None


def test_create_repository_checks_then_creates_a_docker_repository(
    google: tuple[FakeGoogle, str],
) -> None:
    fake, _ = google
    ref = Reference.parse("europe-west4-docker.pkg.dev/proj/images/app:v1")
    assert repository_of(ref).name == REPO_NAME
    reporter = ListReporter()
    with pytest.raises(PodlockError, match="does not exist"):
        ensure_repository(ref, create=False, reporter=reporter)
    assert ensure_repository(ref, create=True, reporter=reporter)
    assert fake.repositories[REPO_NAME]["format"] in ("DOCKER", 1)  # enum-encoding=int
    assert ensure_repository(ref, create=False, reporter=reporter)  # now it is there
    # The client authenticates every call (a service account may sign its own JWT instead of
    # using the token endpoint, so only the scheme is checked).
    assert all(
        a.startswith("Bearer ") and len(a) > 20 for m, p, a in fake.seen if p.startswith("/v1/")
    )
    assert reporter.infos == [f"creating Artifact Registry repository {REPO_NAME}"]


def test_adc_token_is_accepted_by_a_bearer_registry(
    google: tuple[FakeGoogle, str],
    hello: Callable[..., Path],
    base_archive: str,
    registry: str,
    tmp_path: Path,
) -> None:
    from oci_helpers import built_layout
    from podlock.oci.push import push
    from podlock.registry.client import Registry
    from registry_proxy import ProxyState, proxy

    store, built = built_layout(hello(), tmp_path / "layout", base_archive)
    state = ProxyState(upstream=registry, token_user="oauth2accesstoken", token_password=TOKEN)
    cred = auth.lookup("europe-west4-docker.pkg.dev")
    with proxy(state) as host:
        ref = Reference.parse(f"{host}/proj/images/app:v1")
        result = push(built, ref, store, registry=Registry(ref, credential=cred))
    assert result.ref.endswith(built.digest)
