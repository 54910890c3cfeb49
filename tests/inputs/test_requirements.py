"""requirements.txt parsing: the syntax real files use, and clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from podlock.errors import InputError
from podlock.inputs.requirements import parse_requirements


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_includes_are_relative_to_the_including_file(tmp_path: Path) -> None:
    write(tmp_path / "reqs" / "base.txt", "numpy>=1.26\n-c pins.txt\n")
    write(tmp_path / "reqs" / "pins.txt", "numpy<3\n")
    req = write(tmp_path / "requirements.txt", "-r reqs/base.txt\nflax\n")
    parsed = parse_requirements(req, root=tmp_path)
    assert [str(r.requirement) for r in parsed.requirements] == ["numpy>=1.26", "flax"]
    assert [str(c.requirement) for c in parsed.constraints] == ["numpy<3"]
    assert parsed.constraints[0].constraint
    assert parsed.files == ("requirements.txt", "reqs/base.txt", "reqs/pins.txt")
    assert str(parsed.requirements[0].origin) == "reqs/base.txt:1"


def test_index_options_markers_extras_urls_hashes_and_continuations(tmp_path: Path) -> None:
    text = (
        "--index-url https://example.org/simple\n"
        "--extra-index-url=https://extra.example.org/simple\n"
        "-f ./wheels\n"
        "--pre\n"
        "requests[socks] ~= 2.32.0 ; python_version >= '3.8'  # a comment\n"
        "pkg @ https://example.org/pkg-1.0-py3-none-any.whl\n"
        "six==1.16.0 \\\n"
        "    --hash=sha256:" + "a" * 64 + " \\\n"
        "    --hash=sha256:" + "b" * 64 + "\n"
        "legacy===1.0-custom\n"
        "exclude!=2.0\n"
        "\n"
        "   # only a comment\n"
    )
    parsed = parse_requirements(write(tmp_path / "requirements.txt", text), root=tmp_path)
    opts = parsed.options
    assert opts.index_url == "https://example.org/simple"
    assert opts.extra_index_urls == ("https://extra.example.org/simple",)
    assert opts.find_links == (str((tmp_path / "wheels").resolve()),)
    assert opts.pre
    reqs = {r.name: r for r in parsed.requirements}
    assert reqs["requests"].requirement.extras == {"socks"}
    assert str(reqs["requests"].requirement.marker) == 'python_version >= "3.8"'
    assert reqs["pkg"].requirement.url == "https://example.org/pkg-1.0-py3-none-any.whl"
    assert reqs["six"].hashes == ("sha256:" + "a" * 64, "sha256:" + "b" * 64)
    assert reqs["six"].origin.line == 7
    assert str(reqs["legacy"].requirement.specifier) == "===1.0-custom"
    assert list(reqs) == ["requests", "pkg", "six", "legacy", "exclude"]


def test_kn_keep_is_detected_on_the_line(tmp_path: Path) -> None:
    text = "jax==0.6.2 # kn:keep\njaxlib  #kn:keep\nlibtpu # keep this\n"
    parsed = parse_requirements(write(tmp_path / "r.txt", text), root=tmp_path)
    assert [r.keep for r in parsed.requirements] == [True, True, False]


def test_vars_are_expanded_but_never_shown(tmp_path: Path) -> None:
    text = "--extra-index-url https://${IDX_USER}:${IDX_TOKEN}@idx.example.org/simple\nmypkg\n"
    env = {"IDX_USER": "alice", "IDX_TOKEN": "t0ken"}
    parsed = parse_requirements(write(tmp_path / "r.txt", text), root=tmp_path, env=env)
    # The raw form is kept: credentials are expanded only when an index is used.
    assert parsed.options.extra_index_urls == (
        "https://${IDX_USER}:${IDX_TOKEN}@idx.example.org/simple",
    )
    assert parsed.missing_vars == ()
    missing = parse_requirements(write(tmp_path / "r.txt", text), root=tmp_path, env={})
    assert missing.missing_vars == ("IDX_USER", "IDX_TOKEN")


def test_credentials_in_a_requirement_url_are_redacted_in_its_text(tmp_path: Path) -> None:
    text = "pkg @ https://bob:hunter2@files.example.org/pkg-1.0.tar.gz\n"
    parsed = parse_requirements(write(tmp_path / "r.txt", text), root=tmp_path)
    assert "hunter2" not in parsed.requirements[0].text
    assert "***@files.example.org" in parsed.requirements[0].text


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("numpy\nflax >>= 1\n", "not a valid requirement", 2),
        ("--frobnicate x\n", "unknown option --frobnicate", 1),
        ("-e .\n", "-e is not supported", 1),
        ("numpy --install-option=x\n", "not allowed after a requirement", 1),
        ("six --hash=md5:abc\n", "malformed hash", 1),
        ("-r missing.txt\n", "missing.txt does not exist", 1),
        ("--index-url\n", "takes exactly one value", 1),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    req = write(tmp_path / "requirements.txt", text)
    with pytest.raises(InputError) as err:
        parse_requirements(req, root=tmp_path)
    assert message in str(err.value)
    assert err.value.file == "requirements.txt"
    assert err.value.line == line


def test_cyclic_includes_are_an_error_with_the_chain(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "-r b.txt\n")
    write(tmp_path / "b.txt", "numpy\n-r a.txt\n")
    with pytest.raises(InputError) as err:
        parse_requirements(tmp_path / "a.txt", root=tmp_path)
    assert "cyclic include: a.txt -> b.txt -> a.txt" in str(err.value)
    assert (err.value.file, err.value.line) == ("b.txt", 2)
