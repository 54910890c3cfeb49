"""Discovery: which file is used, config placement, pyproject extras and groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from podlock.errors import ConfigError, InputError
from podlock.inputs.discover import discover


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
        (
            {"requirements.txt": "x\n", "podlock.toml": '[variant.tpu]\nrequirements = "r.txt"\n'},
            ConfigError,
            "variants.tpu.requirements names r.txt, which does not exist",
        ),
        (
            {"requirements.txt": "x\n", "podlock.toml": '[variant.tpu]\nextras = ["tpu"]\n'},
            ConfigError,
            "variants.tpu selects pyproject extras/groups, but this project's dependencies "
            "come from requirements.txt",
        ),
        (
            {
                "pyproject.toml": "[project]\ndependencies=['a']\n"
                "[project.optional-dependencies]\ngpu=['b']\ntpu=['c']\n"
                "[tool.uv]\nconflicts=[[{extra='gpu'},{extra='tpu'}]]\n"
                "[tool.podlock]\nextras=['gpu']\n[tool.podlock.variant.tpu]\nextras=['tpu']\n"
            },
            ConfigError,
            "variant tpu selects extra 'gpu' and extra 'tpu', which pyproject.toml declares "
            "as conflicting",
        ),
        (
            {"requirements.txt": "x --no-deps\n"},
            InputError,
            "requirements.txt:1: option --no-deps is not allowed after a requirement",
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


LEVANTER = (
    "[project]\n"
    'name = "lev"\n'
    "dependencies = [\n"
    '    "optax",\n'
    '    "jax==0.6.2",  # kn:keep\n'
    "]\n"
    "[project.optional-dependencies]\n"
    'gpu = ["jax[cuda12]", "optax"]\n'
    'tpu = ["jax[tpu]"]\n'
    'docs = ["sphinx"]\n'
)


def test_each_variant_gets_its_own_extras_on_top_of_the_projects(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        LEVANTER
        + '[tool.podlock]\nextras = ["docs"]\n[tool.podlock.variant.tpu]\nextras = ["tpu"]\n'
    )
    inputs = discover(tmp_path)
    assert [r.text for r in inputs.of("tpu").requirements] == [
        "optax",
        "jax==0.6.2",
        "sphinx",
        "jax[tpu]",
    ]
    assert [r.text for r in inputs.of("cpu").requirements] == ["optax", "jax==0.6.2", "sphinx"]
    # The same string in two lists is found in its own list; kn:keep only where written.
    lines = {(r.text, r.origin.line, r.keep) for r in inputs.of("tpu").requirements}
    assert ("jax==0.6.2", 5, True) in lines and ("optax", 4, False) in lines
    assert ("jax[tpu]", 9, False) in lines
    # gpu is named like an accelerator and no variant selects it: said once, with the line.
    (note,) = [n for n in inputs.notes if "no variant selects" in n]
    assert (
        "extra 'gpu', which no variant selects: [tool.podlock.variant.cuda] extras = [\"gpu\"]"
        in note
    )
    assert "'tpu'" not in note and "docs" not in note


def test_pre_after_a_requirement_is_accepted_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\njax[tpu] >= 0.6 --pre\n")
    inputs = discover(tmp_path)
    (line,) = [r for r in inputs.of("tpu").requirements if r.pre]
    assert line.text == "jax[tpu] >= 0.6" and str(line.requirement.specifier) == ">=0.6"
    assert any(n.startswith("requirements.txt:2: --pre after jax") for n in inputs.notes)
