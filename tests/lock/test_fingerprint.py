"""The fingerprint follows the meaning of the inputs, not their text."""

from __future__ import annotations

from pathlib import Path

from podlock.inputs.discover import discover
from podlock.lock.fingerprint import fingerprint, input_digests, what_changed


def fp(tmp_path: Path, requirements: str, config: str = "") -> str:
    (tmp_path / "requirements.txt").write_text(requirements)
    if config:
        (tmp_path / "podlock.toml").write_text(config)
    inputs = discover(tmp_path)
    return fingerprint(inputs, inputs.config.variant("cpu"))


def test_comments_whitespace_and_continuations_do_not_change_it(tmp_path: Path) -> None:
    base = fp(tmp_path, "numpy>=1.26\nflax\n")
    assert fp(tmp_path, "# deps\nnumpy >= 1.26   # pinned low\n\n\nflax\\\n\n") == base


def test_credentials_do_not_change_it_but_the_index_does(tmp_path: Path) -> None:
    one = fp(tmp_path, "--extra-index-url https://u:one@idx.example/simple\nflax\n")
    two = fp(tmp_path, "--extra-index-url https://u:two@idx.example/simple\nflax\n")
    other = fp(tmp_path, "--extra-index-url https://u:two@other.example/simple\nflax\n")
    assert one == two != other


def test_any_change_of_meaning_changes_it(tmp_path: Path) -> None:
    base = fp(tmp_path, "numpy\n")
    assert fp(tmp_path, "numpy<3\n") != base
    assert fp(tmp_path, "jax # kn:keep\nnumpy\n") != fp(tmp_path, "jax\nnumpy\n")
    assert fp(tmp_path, "numpy\n", 'python = "3.12"\n') != fp(
        tmp_path, "numpy\n", 'python = "3.11"\n'
    )
    assert fp(tmp_path, "numpy\n", '[variants.cpu]\nplatforms = ["linux/amd64"]\n') != base


def test_other_variants_config_does_not_change_it(tmp_path: Path) -> None:
    base = fp(tmp_path, "numpy\n", 'variants = ["cpu", "tpu"]\n')
    assert (
        fp(
            tmp_path,
            "numpy\n",
            'variants = ["cpu", "tpu"]\n[variant.tpu]\nsystem-packages = ["ffmpeg"]\n',
        )
        == base
    )


def test_a_variants_own_file_changes_only_its_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "tpu.txt").write_text("-r requirements.txt\noptax\n")
    (tmp_path / "podlock.toml").write_text(
        'python = "3.12"\n[variant.tpu]\nrequirements = "tpu.txt"\n'
    )

    def both() -> tuple[str, str]:
        inputs = discover(tmp_path)
        return tuple(fingerprint(inputs, inputs.config.variant(v)) for v in ("cpu", "tpu"))  # type: ignore[return-value]

    cpu, tpu = both()
    (tmp_path / "tpu.txt").write_text("-r requirements.txt\noptax>=0.2\n")
    assert both()[0] == cpu and both()[1] != tpu


def test_what_changed_names_the_file_the_key_and_the_python(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "podlock.toml").write_text('python = "3.12"\n')
    inputs = discover(tmp_path)
    before = input_digests(inputs, inputs.config.variant("tpu"))
    (tmp_path / "requirements.txt").write_text("numpy\nflax\n")
    (tmp_path / "podlock.toml").write_text(
        'python = "3.11"\nkeep = ["jax"]\n[variants.tpu]\nplatforms = ["linux/arm64"]\n'
    )
    inputs = discover(tmp_path)
    now = input_digests(inputs, inputs.config.variant("tpu"))
    assert what_changed(before, now, inputs.config) == (
        "the target Python changed (3.12 -> 3.11); requirements.txt changed; "
        "keep, [variants.tpu] base-image, [variants.tpu] platforms in podlock.toml changed"
    )
    assert "older podlock" in what_changed({}, now, inputs.config)


def test_what_changed_names_pyproject_keys_by_their_table(tmp_path: Path) -> None:
    project = '[project]\nname = "p"\nversion = "1"\ndependencies = ["numpy"]\n'
    project += '[project.optional-dependencies]\ntpu = ["optax"]\n[tool.podlock]\npython = "3.12"\n'
    (tmp_path / "pyproject.toml").write_text(project)
    inputs = discover(tmp_path)
    before = input_digests(inputs, inputs.config.variant("tpu"))
    (tmp_path / "pyproject.toml").write_text(
        project.replace('python = "3.12"\n', 'python = "3.12"\nkeep = ["jax"]\n')
        + '[tool.podlock.variant.tpu]\nextras = ["tpu"]\n'
    )
    inputs = discover(tmp_path)
    now = input_digests(inputs, inputs.config.variant("tpu"))
    assert what_changed(before, now, inputs.config).endswith(
        "[tool.podlock] keep, [tool.podlock.variant.tpu] extras in pyproject.toml changed"
    )


def test_lines_the_23_rules_change_are_marked_and_others_keep_their_digest(
    tmp_path: Path,
) -> None:
    """Locks of plain lines stay fresh; a kept ``jax[cpu]`` or a routed ``torch @ url``
    (whose locks changed with the rules of #23) go stale once."""
    from podlock.lock.fingerprint import _digest

    def digest(requirements: str) -> str:
        (tmp_path / "requirements.txt").write_text(requirements)
        inputs = discover(tmp_path)
        return str(input_digests(inputs, inputs.config.variant("cpu"))["files"]["requirements.txt"])

    def old(requirement: str, keep: bool = False) -> str:
        line = {"requirement": requirement, "keep": keep, "hashes": [], "constraint": False}
        return _digest([line])

    assert digest("jax==0.6.2  # kn:keep\n") == old("jax==0.6.2", keep=True)
    six = "six @ https://x.example/six-1.0-py3-none-any.whl"
    assert digest(six + "\n") == old(six)  # not routed: the rule doesn't touch it
    assert digest("jax[cpu]  # kn:keep\n") != old("jax[cpu]", keep=True)
    url = "torch @ https://x.example/torch-2.4.0-py3-none-any.whl"
    assert digest(url + "\n") != old(url)


def test_top_level_platforms_give_the_fingerprint_of_the_same_per_variant(
    tmp_path: Path,
) -> None:
    per_variant = fp(tmp_path, "numpy\n", '[variants.cpu]\nplatforms = ["linux/amd64"]\n')
    top = fp(tmp_path, "numpy\n", 'platforms = ["linux/amd64"]\n[variants.cpu]\n')
    assert top == per_variant != fp(tmp_path, "numpy\n", 'platforms = ["linux/arm64"]\n')
