"""The real components the engine tests use, as the test session starts them.

Root provisioning (Debian packages, the Docker engine, the base image's root filesystem)
is `tests/provision.py`, run by `scripts/test`; everything else happens here, unprivileged:
each registry is a `docker-registry` process of this session on a free loopback port, the
base image is imported from the root filesystem through the docker SDK, and its `docker
save` tarball (for the daemonless builder) is cached by image ID. A missing part is a
`Missing` error that says what to install or start; the fixtures turn it into one skip
reason per part (a failure under CI=true).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_IMAGE = os.environ.get("PODLOCK_TEST_BASE_IMAGE", "podlock-test/debian-python:bookworm")
SUITE = "bookworm"
# What the root filesystem holds beyond minbase, and how the imported image starts.
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["/usr/bin/python3"]',
)
SYSTEM_CACHE = Path("/var/cache/podlock-test")


def cache_dir() -> Path:
    """Where the root filesystem and the saved base live: $PODLOCK_TEST_CACHE, else the
    system cache (root's, shared by every checkout), else the user's cache."""
    if configured := os.environ.get("PODLOCK_TEST_CACHE"):
        return Path(configured)
    if os.geteuid() == 0 or os.access(SYSTEM_CACHE, os.W_OK):
        return SYSTEM_CACHE
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "podlock-test"


def rootfs_tar() -> Path:
    return cache_dir() / f"rootfs-{SUITE}.tar"


class Missing(Exception):
    """A part the engine tests need is not here; the message says how to get it."""


# -- the base image ----------------------------------------------------------------------


def base_image_id(client: Any) -> str:
    """The base image's ID, importing it from the cached root filesystem if the engine
    lacks it (~3 s)."""
    import docker.errors  # type: ignore[import-untyped]

    try:
        return str(client.images.get(BASE_IMAGE).id)
    except docker.errors.ImageNotFound:
        pass
    tar = rootfs_tar()
    if not tar.is_file():
        raise Missing(
            f"no base image {BASE_IMAGE} and no root filesystem to import it from ({tar}): "
            "as root, install debootstrap and run `python tests/provision.py` (~1 min)"
        )
    repository, tag = BASE_IMAGE.rsplit(":", 1)
    client.api.import_image(
        src=str(tar), repository=repository, tag=tag, changes=list(IMAGE_CHANGES)
    )
    return str(client.images.get(BASE_IMAGE).id)


def base_archive(client: Any) -> Path:
    """The base image as a `docker save` tarball, written once per image ID (~2 s)."""
    image_id = base_image_id(client)
    out = cache_dir() / f"base-{SUITE}-{image_id.removeprefix('sha256:')[:16]}.docker.tar"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as sink:
            for chunk in client.images.get(BASE_IMAGE).save(named=True):
                sink.write(chunk)
        partial.chmod(0o644)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


# -- what a session leaves in the engine -------------------------------------------------

KEEP_IMAGES = "PODLOCK_TEST_KEEP_IMAGES"  # set: leave this session's images (to debug)


@dataclass(frozen=True)
class Images:
    """The engine's images at one moment: every image ID, every tag."""

    ids: frozenset[str]
    tags: frozenset[str]


def images(client: Any) -> Images:
    found = client.api.images(all=True)
    return Images(
        ids=frozenset(str(i["Id"]) for i in found),
        tags=frozenset(
            str(t) for i in found for t in i.get("RepoTags") or [] if t != "<none>:<none>"
        ),
    )


# Names real builds use too (another checkout's session, a benchmark on the same engine):
# such a tag is removed only when this session made it.
SHARED = ("podlock-layers/", "podlock-runtime/")


def remove_new_images(client: Any, before: Images, made: Set[str] = frozenset()) -> list[str]:
    """Remove the tags and images that appeared since ``before`` (never the base image; a
    ``SHARED`` name only when in ``made``, the tags this session's podlock set), then the
    build cache no build uses; returns what went. Nothing older than ``before`` is touched,
    and the engine refuses (so it stays) an image a container uses or another image stands
    on, or that has a tag older than ``before``."""
    import docker.errors

    now = images(client)
    removed = []
    for tag in sorted(now.tags - before.tags):
        if tag == BASE_IMAGE or tag.startswith("podlock-test/"):
            continue
        if tag.startswith(SHARED) and tag not in made:
            continue
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_image(tag)  # and the untagged images below it
            removed.append(tag)
    for image_id in sorted(now.ids - before.ids):  # untagged: build steps, loaded layers
        with contextlib.suppress(docker.errors.APIError):
            if not client.api.inspect_image(image_id).get("RepoTags"):
                client.api.remove_image(image_id)
                removed.append(image_id)
    with contextlib.suppress(docker.errors.APIError):
        client.api.prune_builds()
    return removed


# -- registries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """A running registry: ``address`` is host:port; ``user``/``password`` are set when it
    asks for htpasswd credentials."""

    __test__ = False  # not a test class, whatever pytest's name rules say

    address: str
    user: str | None = None
    password: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int, htpasswd: Path | None) -> str:
    auth = (
        f"auth:\n  htpasswd:\n    realm: podlock-test\n    path: {htpasswd}\n" if htpasswd else ""
    )
    # No blob-descriptor cache: it keeps deleted blobs looking present, and tests delete.
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
        f"{auth}"
    )


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test session dies, so no registry outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def registry(root: Path, *, user: str | None = None) -> Iterator[Registry]:
    """A `docker-registry` of this session under ``root``, on a free loopback port;
    with ``user``, htpasswd auth with a fresh password. Stopped on exit."""
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise Missing("no docker-registry binary: install Debian's docker-registry package")
    root.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12) if user else None
    htpasswd = None
    if user and password:
        import bcrypt

        htpasswd = root / "htpasswd"
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=6)).decode()
        htpasswd.write_text(f"{user}:{hashed}\n")
    for _attempt in range(3):  # another process may take the free port before we bind it
        port = _free_port()
        (root / "config.yml").write_text(_config(root, port, htpasswd))
        log = (root / "registry.log").open("ab")
        proc = subprocess.Popen(
            [binary, "serve", str(root / "config.yml")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        want = 401 if user else 200
        if _answers(f"127.0.0.1:{port}", want, proc):
            try:
                yield Registry(f"127.0.0.1:{port}", user, password)
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            return
        proc.kill()
        proc.wait()
    tail = (root / "registry.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"docker-registry did not start (log {root / 'registry.log'}):\n{tail}")


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _answers(address: str, want: int, proc: subprocess.Popen[bytes]) -> bool:
    """Whether the registry at ``address`` answers /v2/ with ``want`` within 20 s."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if _status(f"http://{address}/v2/") == want:
            return True
        time.sleep(0.05)
    return False


def force_remove_since(client: Any, before: Set[str]) -> None:
    """Remove every image whose ID is not in ``before``, forced (a heavy build's stacked
    layer images, several GB each, go at once; ``remove_new_images`` leaves shared names and
    images others stand on), then the dangling ones."""
    import docker.errors

    for image in client.images.list(all=True):
        if image.id not in before:
            with contextlib.suppress(docker.errors.APIError):  # gone with a child, or in use
                client.images.remove(image.id, force=True)
    client.images.prune(filters={"dangling": True})
