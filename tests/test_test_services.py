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
