"""The Docker engine, through the ``docker`` SDK (classic builder): build, inspect, tag.

Builds are never tagged until they have finished: an interrupted or failed build leaves
the old tag where it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]

from podlock.errors import PodlockError
from podlock.platforms import normalize_arch
from podlock.reporter import NullReporter, Reporter

START_HINT = (
    "install and start a Docker engine (Debian/Ubuntu: `apt-get install docker.io`, then "
    "`sudo dockerd &` or `sudo systemctl start docker`), or point DOCKER_HOST at a running "
    "engine; `--builder oci` builds without one"
)
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class EngineUnavailable(PodlockError):
    """No Docker engine answers."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"no Docker engine is reachable ({detail})", hint=START_HINT)


class ImageMissing(PodlockError):
    def __init__(self, ref: str, *, what: str = "image", hint: str | None = None) -> None:
        super().__init__(f"{what} {ref} is not in the Docker engine", hint=hint)
        self.ref = ref


class BuildFailed(PodlockError):
    """A Dockerfile step failed; ``step`` is its instruction, ``log`` the build's output."""

    def __init__(self, message: str, *, step: str, log: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.step = step
        self.log = log


@dataclass(frozen=True, kw_only=True)
class BuiltImage:
    id: str
    cached_steps: int
    steps: int


class Engine:
    """A connected engine; ``Engine.connect()`` raises EngineUnavailable with how to start one."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self._stacks: bool | None = None

    @classmethod
    def connect(cls, *, timeout: int = 600) -> Engine:
        try:
            client = docker.from_env(timeout=timeout)
            client.ping()
        except docker.errors.DockerException as exc:
            detail = " ".join(str(exc).split())
            raise EngineUnavailable(detail[:300] or "no socket") from None
        return cls(client)

    def architecture(self) -> str:
        arch = str(self.client.info().get("Architecture", ""))
        return normalize_arch(arch)

    def image(self, ref: str) -> Mapping[str, Any] | None:
        """``docker image inspect`` of ``ref``, or None."""
        try:
            result: Mapping[str, Any] = self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                return None
            raise
        return result

    def image_id(self, ref: str) -> str | None:
        """The ID of the image ``ref`` names, or None when the engine has none by that name
        (404; the engine answers 400 to a name it cannot parse: none by that name either)."""
        try:
            return str(self.client.api.inspect_image(ref)["Id"])
        except docker.errors.APIError as exc:
            if exc.status_code in (400, 404):
                return None
            detail = " ".join(str(exc.explanation or exc).split())
            raise PodlockError(
                f"the Docker engine could not look up {ref}: {detail[:300]}",
                hint="check the engine (docker info, its log)",
            ) from None

    def save(self, image_id: str) -> Iterator[bytes]:
        """``docker save`` of one image, its names kept, as it streams from the engine."""
        try:
            yield from self.client.images.get(image_id).save(named=True)
        except (docker.errors.DockerException, OSError) as exc:  # OSError: the stream cut
            detail = " ".join(str(exc).split())
            raise PodlockError(
                f"docker save of {image_id} failed: {detail[:300]}",
                hint="check the engine (docker info, its log) and its disk",
            ) from None

    def pinned(self, ref: str) -> str:
        """``ref@sha256:...`` when the engine knows a registry digest for it, else ``ref``."""
        if "@" in ref:
            return ref
        info = self.image(ref)
        if info is None:
            raise ImageMissing(
                ref,
                what="base image",
                hint=f"pull or build it first (`docker pull {ref}`, or `docker import` of a "
                "root filesystem), or pass --base IMAGE",
            )
        repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
        for digest in info.get("RepoDigests") or []:
            if str(digest).split("@", 1)[0] == repo:
                return f"{ref}@{str(digest).split('@', 1)[1]}"
        return ref

    def build(
        self,
        context: Path | Iterable[bytes],
        *,
        network: str | None,
        reporter: Reporter | None = None,
        nocache: bool = False,
    ) -> BuiltImage:
        """Build ``context`` (a directory, or the context tar as a stream) untagged;
        progress goes to ``reporter`` step by step."""
        reporter = reporter or NullReporter()
        log: list[str] = []
        step = ""
        steps = cached = 0
        image_id: str | None = None
        try:
            where: dict[str, Any] = (
                {"path": str(context)}
                if isinstance(context, Path)
                else {"fileobj": context, "custom_context": True}
            )
            stream: Iterator[dict[str, Any]] = self.client.api.build(
                **where,
                rm=True,
                forcerm=True,
                pull=False,
                nocache=nocache,
                decode=True,
                network_mode=network,
            )
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    message = str(chunk.get("error") or chunk["errorDetail"].get("message"))
                    log.append(message)
                    raise _failure(step, message, "".join(log))
                text = _ANSI.sub("", str(chunk.get("stream", "")))
                if text:
                    log.append(text)
                    for line in text.splitlines():
                        m = _STEP.match(line.strip())
                        if m:
                            step = m.group(3)
                            steps = int(m.group(1))
                            reporter.info(f"[{m.group(1)}/{m.group(2)}] {_short(step)}")
                        elif line.strip() == "---> Using cache":
                            cached += 1
                aux = chunk.get("aux")
                if isinstance(aux, dict) and "ID" in aux:
                    image_id = str(aux["ID"])
        except docker.errors.APIError as exc:
            raise _failure(step, str(exc.explanation or exc), "".join(log)) from None
        if image_id is None:
            m = re.search(r"Successfully built ([0-9a-f]+)", "".join(log))
            if not m:
                raise BuildFailed("the build ended without an image", step=step, log="".join(log))
            image_id = m.group(1)
        return BuiltImage(id=image_id, cached_steps=cached, steps=steps)

    def storage(self) -> Path | None:
        """Where the engine keeps images (``docker info``'s DockerRootDir), when that is a
        directory of this machine: None for a remote engine or one in a VM."""
        base = str(getattr(self.client.api, "base_url", ""))
        if not (base.startswith("http+docker://") or "localhost" in base or "127.0.0.1" in base):
            return None
        root = str(self.client.info().get("DockerRootDir") or "")
        try:
            return Path(root) if root and Path(root).is_dir() else None
        except OSError:
            return None

    def stacks_loaded_layers(self) -> bool:
        """Whether ``docker load`` takes an image whose lower layers it already has without
        them in the tarball: the classic image store (overlay2 and the other graph drivers)
        does; the containerd image store wants every layer sent."""
        if self._stacks is None:
            status = dict(self.client.info().get("DriverStatus") or [])
            self._stacks = "io.containerd.snapshotter" not in str(status.get("driver-type", ""))
        return self._stacks

    def tags(self, pattern: str) -> list[tuple[str, str]]:
        """Each tag matching ``pattern`` (``repo/*`` style), with the engine's
        ``LastTagTime`` for its image (RFC 3339; "" when it does not say)."""
        out = []
        for image in self.client.api.images(filters={"reference": pattern}):
            info = self.image(str(image["Id"])) or {}
            tagged = str((info.get("Metadata") or {}).get("LastTagTime") or "")
            out += [(str(t), tagged) for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        return sorted(out)

    def untag(self, ref: str) -> None:
        """Remove the tag ``ref``; the engine deletes the image only if nothing else
        names it or stands on it."""
        try:
            self.client.api.remove_image(ref)
        except docker.errors.APIError as exc:
            if exc.status_code != 404:
                raise PodlockError(f"could not remove {ref}: {exc.explanation or exc}") from None

    def history(self, ref: str) -> list[Mapping[str, Any]]:
        """``docker history`` of ``ref``: newest entry first."""
        return list(self.client.api.history(ref))

    def load(self, tarball: Iterable[bytes] | BinaryIO) -> list[str]:
        """``docker load`` ``tarball`` (a file or a stream of chunks); returns the engine's
        messages. The engine tags the image only once all of it is in."""
        messages: list[str] = []
        try:
            for message in self.client.api.load_image(tarball) or []:
                if not isinstance(message, dict):
                    continue
                if message.get("error") or message.get("errorDetail"):
                    detail = message.get("error") or message["errorDetail"].get("message")
                    raise PodlockError(f"docker load failed: {detail}", hint=_full(str(detail)))
                if message.get("stream"):
                    messages.append(str(message["stream"]).strip())
        except docker.errors.APIError as exc:
            detail = str(exc.explanation or exc)
            raise PodlockError(f"docker load failed: {detail}", hint=_full(detail)) from None
        return messages

    def tag(self, image_id: str, ref: str) -> None:
        repo, _, tag = ref.rpartition(":")
        if not repo or "/" in tag:
            repo, tag = ref, "latest"
        self.client.api.tag(image_id, repo, tag, force=True)


def _short(step: str) -> str:
    return step if len(step) < 100 else step[:97] + "..."


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_APT_MISSING = re.compile(r"E: (?:Unable to locate package |Package '?)([A-Za-z0-9.+:=~_-]+)")
_PIP_HASH = re.compile(r"^\s*([A-Za-z0-9._-]+)==\S+ from .*\n\s*Expected sha256", re.M)
_UV_HASH = re.compile(r"Hash mismatch for `([A-Za-z0-9._-]+)==")


def _failure(step: str, message: str, log: str) -> BuildFailed:
    """Turn a failed step into an error that names the package when it can."""
    m = _APT_MISSING.search(log)
    if m and ("install.sh apt" in step or "install.sh apt" in log):
        return BuildFailed(
            f"apt package {m.group(1)!r} does not exist in the base image's sources",
            step=step,
            log=log,
            hint="fix system-packages in the podlock config, then `podlock lock`",
        )
    m = _PIP_HASH.search(log) or _UV_HASH.search(log)
    if m or "DO NOT MATCH THE HASHES" in log:
        name = m.group(1) if m else "a wheel"
        return BuildFailed(
            f"hash mismatch for {name} while installing it in the image",
            step=step,
            log=log,
            hint="the wheel in the build context is not the one in the lock; run `podlock lock`",
        )
    tail = "\n".join(log.strip().splitlines()[-15:])
    return BuildFailed(
        f"build step failed: {_short(step) or '(before the first step)'}\n"
        f"{message.strip()}\n{tail}",
        step=step,
        log=log,
        hint=_full(f"{message}\n{tail}"),
    )


def _full(text: str) -> str | None:
    """The hint for an engine whose disk is full (its own storage), if ``text`` says so."""
    if "no space left on device" not in text.lower():
        return None
    return (
        "the Docker engine's disk is full (see DockerRootDir in `docker info`): "
        "`podlock prune` untags podlock's layer images no build used lately and frees its "
        "caches, `docker image prune` and `docker builder prune` free the engine's own"
    )
