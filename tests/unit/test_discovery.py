"""Discovery: which file is used, config placement, pyproject extras and groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from podlock.errors import ConfigError, InputError
from podlock.project import discover


def test_requirements_txt_wins_and_podlock_says_so(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["flax"]\n')
    inputs = discover(tmp_path)
    assert inputs.of("cpu").source == "requirements.txt"
    assert [r.name for r in inputs.of("cpu").requirements] == ["numpy"]
    assert [n for n in inputs.notes if "using requirements.txt" in n]
    assert inputs.name == "x"


def test_pyproject_with_selected_extras_and_groups(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\n"
        'name = "My_Proj"\n'
        'dependencies = ["numpy"]\n'
        "[project.optional-dependencies]\n"
        'train = ["optax"]\n'
        'docs = ["sphinx"]\n'
        "[dependency-groups]\n"
        'test = ["pytest", {include-group = "lint"}]\n'
        'lint = ["ruff"]\n'
        "[tool.podlock]\n"
        'extras = ["train"]\n'
        'groups = ["test"]\n'
    )
    inputs = discover(tmp_path)
    names = ["numpy", "optax", "pytest", "ruff"]
    assert [r.name for r in inputs.of("tpu").requirements] == names
    assert inputs.config.file == "pyproject.toml"
    assert inputs.name == "my-proj"


@pytest.mark.parametrize(
    ("files", "error", "message"),
    [
        ({}, InputError, "no requirements.txt and no [project] table"),
        ({"pyproject.toml": "[project]\nname = 'x'\n"}, InputError, "lists no dependencies"),
        ({"pyproject.toml": "[project\n"}, InputError, "pyproject.toml:1: invalid TOML"),
        (
            {"requirements.txt": "x\n", "podlock.toml": "python = 3.12\n"},
            ConfigError,
            "python must be a string",
        ),
        (
            {
                "requirements.txt": "x\n",
                "podlock.toml": "",
                "pyproject.toml": "[tool.podlock]\n",
            },
            ConfigError,
            "config in both",
        ),
        (
            {"pyproject.toml": "[project]\ndependencies=['a']\n[tool.podlock]\nextras=['gpu']\n"},
            ConfigError,
            "extras names 'gpu'",
        ),
    ],
)
def test_bad_projects_are_clear_errors(
    tmp_path: Path, files: dict[str, str], error: type[Exception], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(error) as err:
        discover(tmp_path)
    assert message in str(err.value)
