"""Indexes, credentials, hashes and sizes: what goes into a lock and what never does."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from test_lock_variants import load, make

from index_server import PRIVATE_PASSWORD, IndexServer
from testkit import PYTHON, fixture_config


def sha256_of(index: IndexServer, filename: str) -> str:
    import hashlib
    import urllib.request

    with urllib.request.urlopen(index.file_url("pypi", filename)) as response:
        return hashlib.sha256(response.read()).hexdigest()


def test_private_index_credentials_never_reach_lock_or_output(
    tmp_path: Path, index: IndexServer, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIV_TOKEN", PRIVATE_PASSWORD)
    private = index.url("private").replace("http://", "http://alice:${PRIV_TOKEN}@")
    root = make(
        tmp_path, index, f"--extra-index-url {private}\nsecretpkg\n", 'variants = ["tpu"]\n'
    )
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    text = (root / "pylock.tpu.toml").read_text()
    assert PRIVATE_PASSWORD not in text + result.out + result.err
    assert "alice" not in text
    (pkg,) = [p for p in load(root, "tpu")["packages"] if p["name"] == "secretpkg"]
    assert pkg["index"] == index.url("private")
    # A wrong token fails with the index named and nothing secret shown.
    monkeypatch.setenv("PRIV_TOKEN", "wrong-token-123")
    (root / "requirements.txt").write_text(f"--extra-index-url {private}\nsecretpkg==1.0\n")
    bad = cli("lock", "--project", str(root))
    assert bad.code == 2
    assert "wrong-token-123" not in bad.out + bad.err
    assert index.url("private") in bad.err and "401" in bad.err  # the index, no secret


def test_an_unset_variable_in_an_index_url_is_named(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "--index-url https://${NOPE_TOKEN}@example.org/simple\nsix\n")
    result = cli("lock", "--project", str(root))
    assert result.code == 2
    assert "${NOPE_TOKEN}" in result.err and "export NOPE_TOKEN" in result.err


def test_an_unreachable_index_is_named_with_credentials_redacted(
    tmp_path: Path, index: IndexServer, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # the refusal is final; uv's backoff is ~8 s
    root = make(
        tmp_path, index, "--extra-index-url http://bob:pw123@127.0.0.1:9/simple\nsix\n",
        'variants = ["tpu"]\n',
    )  # fmt: skip
    result = cli("lock", "--project", str(root))
    assert result.code == 2
    assert "could not reach" in result.err
    assert "127.0.0.1:9" in result.err
    assert "pw123" not in result.err


def test_input_hashes_select_files_and_a_contradiction_is_refused(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    wheel = "requests-2.32.3-py3-none-any.whl"
    good = sha256_of(index, wheel)
    root = make(tmp_path, index, f"requests==2.32.3 --hash=sha256:{good}\n", 'variants = ["tpu"]\n')
    assert cli("lock", "--project", str(root)).code == 0
    (pkg,) = [p for p in load(root, "tpu")["packages"] if p["name"] == "requests"]
    assert [w["hashes"]["sha256"] for w in pkg["wheels"]] == [good]
    assert "sdist" not in pkg
    before = (root / "pylock.tpu.toml").read_bytes()
    (root / "requirements.txt").write_text(f"requests==2.32.3 --hash=sha256:{'0' * 64}\n")
    bad = cli("lock", "--project", str(root))
    assert bad.code == 2
    assert "hash mismatch for requests 2.32.3" in bad.err
    assert index.url("pypi") in bad.err
    assert "requirements.txt:" in bad.err and "pins files that" in bad.err  # the line
    assert (root / "pylock.tpu.toml").read_bytes() == before


def test_sizes_from_a_html_only_index_are_asked_once_and_cached(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    index.html_only = True
    try:
        root = make(tmp_path, index, "flax\n", 'variants = ["tpu"]\n')
        index.clear_log()
        assert cli("lock", "--project", str(root)).code == 0
        heads = [r.path for r in index.requests if r.method == "HEAD"]
        assert any(p.endswith(".whl") for p in heads)
        data = load(root, "tpu")
        sizes = {w["name"]: w["size"] for p in data["packages"] for w in p.get("wheels", [])}
        for name, size in sizes.items():
            assert size == index.indexes["pypi"].files[name].size
        (root / "pylock.tpu.toml").unlink()
        root2 = make(tmp_path / "again", index, "flax\n", 'variants = ["tpu"]\n')
        index.clear_log()
        assert cli("lock", "--project", str(root2)).code == 0
        # uv itself may HEAD files for range reads; podlock's size lookups come from its cache.
        assert len([r for r in index.requests if r.method == "HEAD"]) < len(heads)
    finally:
        index.html_only = False


def test_export_gives_a_require_hashes_file_for_one_platform(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "numpy\nflax\n", 'variants = ["cpu"]\n')
    assert cli("lock", "--project", str(root)).code == 0
    result = cli("export", "--project", str(root), "--variant", "cpu", "--platform", "linux/arm64")
    assert result.code == 0, result.err
    cp = f"cp{PYTHON.replace('.', '')}"
    assert "numpy==2.1.0 \\\n    --hash=sha256:" in result.out
    lock = tomllib.loads((root / "pylock.cpu.toml").read_text())
    (numpy,) = [p for p in lock["packages"] if p["name"] == "numpy"]
    arm = [w for w in numpy["wheels"] if "aarch64" in w["name"]]
    assert arm and arm[0]["name"].startswith(f"numpy-2.1.0-{cp}")
    assert arm[0]["hashes"]["sha256"] in result.out
    missing = cli(
        "export", "--project", str(root), "--variant", "cpu", "--platform", "darwin/arm64"
    )
    assert missing.code == 2
    assert "has no darwin/arm64" in missing.err


def test_unknown_variant_and_bad_config_exit_2(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "six\n")
    result = cli("lock", "--project", str(root), "--variant", "gpu")
    assert result.code == 2
    assert "unknown variant 'gpu'" in result.err
    (root / "podlock.toml").write_text(fixture_config(index, "resolvr = 'uv'\n"))
    result = cli("lock", "--project", str(root))
    assert result.code == 2
    assert "podlock.toml: unknown config key 'resolvr'" in result.err
    assert "did you mean 'resolver'?" in result.err


def test_a_direct_url_requirement_becomes_a_hashed_archive(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    wheel = "idna-3.10-py3-none-any.whl"
    url = index.file_url("pypi", wheel)
    root = make(tmp_path, index, f"idna @ {url}\n", 'variants = ["tpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    (pkg,) = [p for p in load(root, "tpu")["packages"] if p["name"] == "idna"]
    assert pkg["archive"]["url"] == url
    assert pkg["archive"]["hashes"]["sha256"] == sha256_of(index, wheel)
    assert pkg["archive"]["size"] == index.indexes["pypi"].files[wheel].size
    assert "wheels" not in pkg and "index" not in pkg


def test_a_routing_error_names_the_index_asked_and_one_that_has_it(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "torchaudio==2.3.0\n", 'variants = ["cpu", "cuda"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 2
    assert (
        f"variant cpu takes torchaudio from its route, {index.url('cpu')}, which has no "
        f"torchaudio==2.3.0 ({index.url('pypi')} has it)"
    ) in result.err
    assert "route torchaudio elsewhere in [variant.cpu] sources" in result.err
    assert "kn:keep" not in result.err


def test_an_unreachable_url_is_one_error_with_its_line(
    tmp_path: Path, index: IndexServer, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_HTTP_RETRIES", "1")
    url = "http://127.0.0.1:9/foo-1.0-py3-none-any.whl"  # the discard port: nothing listens
    root = make(tmp_path, index, f"six\nfoo @ {url}\n", 'variants = ["cpu", "tpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 2
    error = result.err.split("podlock: error: ", 1)[1]
    assert error.startswith(f"requirements.txt:2: could not fetch foo @ {url}: ")
    assert len(error.splitlines()) <= 2, error  # the message and its hint
    assert "check the URL on that line" in error
