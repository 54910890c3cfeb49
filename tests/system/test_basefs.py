"""A base named as the local engine names it: read from the engine when it has the image; no
engine, or no such image, means the base is looked for elsewhere; any other failure of the
engine is an error that names the base (never taken for "not there")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

import podlock.engine
from podlock.engine import Engine, EngineUnavailable
from podlock.registry.base import BaseImageError
from podlock.system.basefs import _from_engine

IMAGE_ID = "sha256:" + "ab" * 32


def api_error(status: int) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(f"{status} error", response=response, explanation="boom")


class FakeApi:
    def __init__(self, status: int | None) -> None:
        self.status = status

    def inspect_image(self, ref: str) -> dict[str, Any]:
        if self.status is not None:
            raise api_error(self.status)
        return {"Id": IMAGE_ID}


class FakeImage:
    def __init__(self, cut: bool) -> None:
        self.cut = cut

    def save(self, named: bool) -> Iterator[bytes]:
        yield b"first chunk"
        if self.cut:
            raise requests.exceptions.ChunkedEncodingError("connection broken")
        yield b"last chunk"


class FakeClient:
    def __init__(self, status: int | None = None, cut: bool = False) -> None:
        self.api = FakeApi(status)
        self.images = self
        self.cut = cut

    def get(self, ref: str) -> FakeImage:
        return FakeImage(self.cut)


def use(monkeypatch: pytest.MonkeyPatch, client: FakeClient | None) -> None:
    def connect(cls: type[Engine], *, timeout: int = 600) -> Engine:
        if client is None:
            raise EngineUnavailable("no socket")
        return Engine(client)

    monkeypatch.setattr(podlock.engine.Engine, "connect", classmethod(connect))


def saved(cache: Path) -> list[str]:
    folder = cache / "debian" / "engine-bases"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_no_engine_or_no_such_image_is_not_a_local_base(
    monkeypatch: pytest.MonkeyPatch, _podlock_cache: Path
) -> None:
    use(monkeypatch, None)
    assert _from_engine("python:3.11-slim") is None
    for status in (404, 400):  # 400: a name the engine cannot parse
        use(monkeypatch, FakeClient(status=status))
        assert _from_engine("registry.example/team/base:1") is None
    assert saved(_podlock_cache) == []


def test_an_engine_image_is_saved_once_by_its_id(
    monkeypatch: pytest.MonkeyPatch, _podlock_cache: Path
) -> None:
    use(monkeypatch, FakeClient())
    out = _from_engine("team/base:1")
    assert out is not None and out.read_bytes() == b"first chunklast chunk"
    assert saved(_podlock_cache) == [f"{'ab' * 32}.docker.tar"]


@pytest.mark.parametrize("client", [FakeClient(status=500), FakeClient(cut=True)],
                         ids=["lookup", "save"])  # fmt: skip
def test_an_engine_failure_is_an_error_naming_the_base(
    monkeypatch: pytest.MonkeyPatch, _podlock_cache: Path, client: FakeClient
) -> None:
    use(monkeypatch, client)
    with pytest.raises(BaseImageError, match="cannot read the base image team/base:1 from the "
                       "Docker engine") as failed:  # fmt: skip
        _from_engine("team/base:1")
    assert failed.value.hint
    assert saved(_podlock_cache) == [], "a save cut short leaves nothing"
