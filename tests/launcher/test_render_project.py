"""``podlock render --project``: the job named after the project, its [launch] queue the
default, as ``launch`` would submit it; without --project, nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from launcher_helpers import DIGEST

IMAGE = f"us-docker.pkg.dev/proj/repo/hello@{DIGEST}"


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "trainer"\nversion = "0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["numpy"]\n\n[tool.podlock]\nvariants = ["cpu"]\npython = "3.12"\n\n'
        '[tool.podlock.launch]\nqueue = "team-b"\n'
    )
    return root


def manifest(cli: Any, *extra: str) -> dict[str, Any]:
    result = cli("render", "--accelerator", "cpu", "--image", IMAGE, *extra, "--", "x")
    assert result.code == 0, result.err
    doc: dict[str, Any] = yaml.safe_load(result.out)
    return doc


def test_render_project_names_the_job_and_queues_it(cli: Any, tmp_path: Path) -> None:
    job = manifest(cli, "--project", str(project(tmp_path)))
    labels = job["metadata"]["labels"]
    assert job["metadata"]["name"].startswith("trainer")
    assert labels["podlock.dev/project"] == "trainer"
    assert labels["kueue.x-k8s.io/queue-name"] == "team-b"
    queued = manifest(cli, "--project", str(project(tmp_path / "b")), "--queue", "team-a")
    assert queued["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"


def test_render_without_project_reads_no_project(
    cli: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(project(tmp_path))  # a project here is not read without --project
    job = manifest(cli)
    assert job["metadata"]["name"].startswith("hello")
    assert "kueue.x-k8s.io/queue-name" not in job["metadata"].get("labels", {})
