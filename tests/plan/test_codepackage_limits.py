"""Big untracked data next to the code: a package over its size limits is refused from a stat
walk, before any file is read, naming the largest directories and the fix; ``exclude`` keeps
paths out, ``include-large`` lets them in; content rules read only the head of text files;
podlock's own cache is never packaged."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from podlock.errors import CodePackageTooLarge, ConfigError
from podlock.inputs.codeconfig import CodeConfig, load_code_config, parse_size
from podlock.plan import codepackage, codescan
from podlock.plan.codepackage import collect
from podlock.reporter import ListReporter
from testkit import HELLO

PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
SHARD = "data/shard-000.bin"
MiB = 1024 * 1024


def _project(tmp_path: Path, source: Literal["git", "directory"] = "git") -> Path:
    """A copy of hello (in a git work tree, its files committed) with an untracked 300 MB
    sparse ``data/shard-000.bin``: no disk used, but lstat says 300 MiB."""
    root = tmp_path / "proj"
    shutil.copytree(HELLO, root)
    if source == "git":
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}
        subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
        subprocess.run(["git", "-C", str(root), "add", "main.py", "pkg"], check=True, env=env)
    _sparse(root / SHARD, 300 * MiB)
    return root


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)


def _no_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path, progress: Any) -> Any:
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(codepackage, "scan_file", refuse)


@pytest.mark.parametrize("source", ["git", "directory"])
def test_an_untracked_300mb_file_is_refused_before_any_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Literal["git", "directory"]
) -> None:
    root = _project(tmp_path, source)
    _no_reads(monkeypatch)
    with pytest.raises(CodePackageTooLarge) as refused:
        collect(root)
    err = refused.value
    assert collect is codepackage.collect and err.total > 300 * MiB
    assert err.largest[0] == ("data/", 300 * MiB)
    lines = err.message.splitlines()
    assert lines[0].startswith("the code package is too large: 314.6 MB in ")
    assert "1 file over the 10.0 MB limit for one file" in lines[0]
    assert "  data/  314.6 MB (1 file)" in lines
    assert f"  {SHARD}  314.6 MB" in lines
    assert err.hint is not None
    assert 'exclude = ["data/"]' in err.hint and 'include-large = ["data/"]' in err.hint
    assert ".gitignore" in err.hint


def test_package_list_renders_the_refusal_as_one_error_without_a_traceback(
    tmp_path: Path, cli: Any
) -> None:
    root = _project(tmp_path)
    result = cli("package", "list", "--project", str(root))
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("podlock: error: the code package is too large")
    assert "  data/  314.6 MB (1 file)" in result.err and "  hint: " in result.err
    assert "Traceback" not in result.err


def test_exclude_keeps_data_out_and_package_list_shows_why(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    _sparse(root / "checkpoints" / "run-1" / "step-9.ckpt", 50 * MiB)
    (root / "podlock.toml").write_text('exclude = ["data/", "./checkpoints/run-*"]\n')
    result = cli("package", "list", "--project", str(root))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "excluded  data/  (excluded by config)" in lines
    assert "excluded  checkpoints/run-1/  (excluded by config)" in lines
    assert not any(SHARD in line or "step-9" in line for line in lines)
    assert any(line.startswith("kept out: ") and "2 excluded by config" in line for line in lines)
    assert any(line.startswith("total: ") and "limits: 100.0 MB in all" in line for line in lines)
    read: list[str] = []
    real = codepackage.scan_file

    def recorded(path: Path, progress: Any) -> Any:
        read.append(path.relative_to(root).as_posix())
        return real(path, progress)

    monkeypatch.setattr(codepackage, "scan_file", recorded)
    collect(root, CodeConfig(exclude=("data/", "checkpoints")))
    assert "main.py" in read and not any(p.startswith(("data/", "checkpoints/")) for p in read)


def test_excluded_directories_are_not_walked_outside_git(tmp_path: Path) -> None:
    root = _project(tmp_path, "directory")
    code = collect(root, CodeConfig(exclude=("data",)))
    assert code.source == "directory"
    assert next(e for e in code.excluded if e.path == "data/").reason == "excluded by config"
    assert SHARD not in {f.path for f in code.files}


def test_include_large_lets_big_files_in_past_both_limits(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / SHARD).unlink()
    _sparse(root / SHARD, 12 * MiB)
    with pytest.raises(CodePackageTooLarge):
        collect(root)
    code = collect(root, CodeConfig(include_large=("data/*.bin",), max_size=MiB))
    shard = next(f for f in code.files if f.path == SHARD)
    assert shard.size == 12 * MiB
    with pytest.raises(CodePackageTooLarge, match="over the 10 B limit"):  # the code itself
        collect(root, CodeConfig(include_large=("data/",), max_size=10))


def test_content_rules_read_the_head_of_text_files_only(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    shutil.copytree(HELLO, root)
    (root / "notes.txt").write_text("x\n" + PEM)
    (root / "late.txt").write_text("x" * codescan.SCAN_BYTES + "\n" + PEM)
    (root / "model.bin").write_bytes(b"\0\1\2" + PEM.encode())
    code = collect(root)
    excluded = {e.path: e.reason for e in code.excluded}
    assert excluded["notes.txt"] == "secret: content holds private-key (line 2)"
    included = {f.path for f in code.files}
    assert {"late.txt", "model.bin"} <= included
    late = next(f for f in code.files if f.path == "late.txt")
    assert late.size == (root / "late.txt").stat().st_size  # hashed in full all the same


@pytest.mark.parametrize("source", ["git", "directory"])
def test_the_podlock_cache_inside_the_project_is_never_packaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Literal["git", "directory"]
) -> None:
    root = _project(tmp_path, source)
    (root / SHARD).unlink()
    cache = root / "cache" / "podlock"
    _sparse(cache / "wheels" / "torch.whl", 500 * MiB)
    monkeypatch.setenv("PODLOCK_CACHE_DIR", str(cache))
    code = collect(root)
    assert not any(f.path.startswith("cache/") for f in code.files)
    assert {"path": "cache/podlock/", "reason": "podlock cache directory"} in [
        {"path": e.path, "reason": e.reason} for e in code.excluded
    ]


def test_a_long_hash_reports_its_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    quiet = ListReporter()
    collect(root, CodeConfig(exclude=("data/",)), reporter=quiet)
    assert quiet.tasks == []  # a small package says nothing
    monkeypatch.setattr(codepackage, "REPORT_BYTES", 1)
    reporter = ListReporter()
    code = collect(root, CodeConfig(exclude=("data/",)), reporter=reporter)
    [task] = [t for t in reporter.tasks if "hashing" in t.description]
    assert task.finished and task.total == task.completed == code.size
    assert any("hashed" in message for message in reporter.infos)


def test_sizes_parse_with_units() -> None:
    assert parse_size("100MB") == 100_000_000
    assert parse_size("1.5 GiB") == 3 * 2**29
    assert parse_size(2048) == 2048
    for bad in ("lots", "10 parsecs", 0, True, "-1MB"):
        with pytest.raises(ValueError):
            parse_size(bad)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"exclude": "data/"}, "podlock.toml: exclude must be a list of strings"),
        ({"include-large": [1]}, "podlock.toml: include-large must be a string, got int"),
        ({"exclude": ["/"]}, "podlock.toml: exclude: '/' names no path inside the project"),
        ({"code": {"max-size": "lots"}}, "podlock.toml: code.max-size: 'lots' is not a size"),
        ({"code": {"max-sise": "1MB"}}, "podlock.toml: unknown config key 'code.max-sise'"),
        ({"code": "big"}, "podlock.toml: code must be a table"),
    ],
)
def test_config_errors_name_the_file_and_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_code_config(table, file="podlock.toml")
    assert err.value.message == message


def test_package_list_reports_a_bad_config_instead_of_ignoring_it(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "proj"
    shutil.copytree(HELLO, root)
    (root / "requirements.txt").unlink()  # no dependencies: package list still lists files
    (root / "pyproject.toml").write_text('[tool.podlock.code]\nmax-file-size = "10 parsecs"\n')
    result = cli("package", "list", "--project", str(root))
    assert result.code == 2
    assert "pyproject.toml: code.max-file-size: '10 parsecs' has an unknown unit" in result.err


def test_code_package_keys_do_not_make_a_lock_stale(hello: Callable[..., Path], cli: Any) -> None:
    root = hello()
    lock = (root / "pylock.cpu.toml").read_text()
    config = root / "podlock.toml"
    config.write_text(
        'exclude = ["data/"]\ninclude-large = ["assets/"]\n'
        + config.read_text()
        + '\n[code]\nmax-size = "1GB"\nmax-file-size = "50MiB"\n'
    )
    check = cli("lock", "--check", "--project", str(root))
    assert check.code == 0, check.out + check.err
    assert (root / "pylock.cpu.toml").read_text() == lock
