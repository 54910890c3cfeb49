"""The test setup's own pure parts: where the base image's packages come from, and the
registries' configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import services
from provision import mirror


def test_mirror_is_read_from_deb822_sources_skipping_security(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n"
        "# local mirror\nTypes: deb deb-src\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_is_read_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [signed-by=/k.gpg] http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://ftp.example/debian bookworm main\n"
    )
    assert mirror(tmp_path) == "http://ftp.example/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no Debian mirror"):
        mirror(tmp_path)


def test_registry_config_listens_on_loopback_and_asks_for_htpasswd_only_when_told(
    tmp_path: Path,
) -> None:
    anon = yaml.safe_load(services._config(tmp_path, 5123, None))
    assert anon["http"]["addr"] == "127.0.0.1:5123"
    assert "auth" not in anon and anon["storage"]["delete"]["enabled"] is True
    auth = yaml.safe_load(services._config(tmp_path, 5124, tmp_path / "htpasswd"))
    assert auth["auth"]["htpasswd"]["path"] == str(tmp_path / "htpasswd")


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PODLOCK_TEST_CACHE", str(tmp_path))
    assert services.rootfs_tar() == tmp_path / "rootfs-bookworm.tar"


class _Api:
    """The docker SDK's low-level client, as far as the session's image cleanup uses it."""

    def __init__(self, images: dict[str, list[str]]) -> None:
        self.by_id = images  # image ID -> tags
        self.removed: list[str] = []
        self.pruned = False

    def images(self, all: bool) -> list[dict[str, object]]:
        return [{"Id": i, "RepoTags": tags or None} for i, tags in self.by_id.items()]

    def inspect_image(self, image_id: str) -> dict[str, object]:
        return {"RepoTags": self.by_id[image_id]}

    def remove_image(self, ref: str) -> None:
        import docker.errors

        if ref == "in-use:1":
            raise docker.errors.APIError("conflict: a container uses it")
        self.removed.append(ref)
        for tags in self.by_id.values():
            if ref in tags:
                tags.remove(ref)

    def prune_builds(self) -> None:
        self.pruned = True


def test_the_session_removes_only_the_images_it_made_and_never_the_base() -> None:
    api = _Api({"sha256:base": [services.BASE_IMAGE], "sha256:old": ["mine:old"]})
    client = type("Client", (), {"api": api})()
    before = services.images(client)
    api.by_id.update({
        "sha256:built": ["hello:t1", "podlock-layers/runtime:abc"],
        "sha256:theirs": ["podlock-layers/runtime:def"],  # another session's build: left
        "sha256:step": [],  # an untagged build step
        "sha256:busy": ["in-use:1"],
        "sha256:retagged": ["mine:old"],  # a tag older than the session, moved: left
    })  # fmt: skip
    api.by_id["sha256:old"] = []
    removed = services.remove_new_images(client, before, {"podlock-layers/runtime:abc"})
    assert removed == ["hello:t1", "podlock-layers/runtime:abc", "sha256:built", "sha256:step"]
    assert api.pruned and services.BASE_IMAGE not in api.removed
