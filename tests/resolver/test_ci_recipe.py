"""The CI recipe in examples/ci runs: each workflow's `run:` steps, in order, with bash as
GitHub runs them, in a real git repository cloned from a bare remote (`actions/checkout`
stands in as that clone, `actions/setup-python` as nothing, the install step as this venv's
`podlock` on PATH), a stub `gh` that records its calls; and the pre-commit hook through
`pre-commit try-repo`. On a private copy of the fixture index."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_freshness import own_index, publish
from test_lock_variants import make

from index_server import IndexServer
from testkit import ROOT

__all__ = ["own_index"]  # a fixture, imported for pytest

RECIPE = ROOT / "examples" / "ci"
WORKFLOWS = RECIPE / ".github" / "workflows"
BRANCH = "podlock/upgrade"
GH = """#!/bin/sh
# records each call; no pull request exists yet, so `gh pr view` fails
printf '%s\\n' "$*" >> "$GH_CALLS"
[ "$1 $2" = "pr view" ] && exit 1
while [ $# -gt 0 ]; do
  if [ "$1" = --body-file ]; then cp "$2" "$GH_CALLS.body"; fi
  shift
done
exit 0
"""


@dataclass
class Run:
    code: int
    log: str
    gh: list[str]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def expression(match: re.Match[str]) -> str:
    """A `${{ … }}` as the runner would give it here: no secrets, a dummy token."""
    inner = match[1].strip()
    return {"github.token": "test-token"}.get(inner, "")


def run_workflow(name: str, remote: Path, runner: Path, *, ref: str = "main") -> Run:
    """The steps of ``name`` in order, as one job: stops at the first failing step."""
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    (job,) = workflow["jobs"].values()
    pin = re.search(r"rev: (\S+)", (RECIPE / ".pre-commit-config.yaml").read_text())
    assert pin is not None
    shutil.rmtree(runner, ignore_errors=True)
    (runner / "temp").mkdir(parents=True)
    (runner / "bin").mkdir()
    gh = runner / "bin" / "gh"
    gh.write_text(GH)
    gh.chmod(0o755)
    work = runner / "work"
    path = f"{runner / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    base = {**os.environ, "PATH": path, "RUNNER_TEMP": str(runner / "temp"),
            "GH_CALLS": str(runner / "gh-calls"), "CI": "true"}  # fmt: skip
    log = []
    for step in job["steps"]:
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout@"):
            git(runner, "clone", "-q", "--branch", ref, str(remote), str(work))
            continue
        if uses.startswith("actions/setup-python@"):
            continue
        script = re.sub(r"\$\{\{(.*?)\}\}", expression, step["run"])
        if script.startswith("pip install "):
            # the same podlock as the pre-commit hook pins; here, this checkout's
            assert f"git+https://github.com/podlock/podlock@{pin[1]}" in script
            continue
        env = {**base, **{k: re.sub(r"\$\{\{(.*?)\}\}", expression, str(v))
                          for k, v in step.get("env", {}).items()}}  # fmt: skip
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=work, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        log.append(f"$ {step.get('name', script)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            return Run(done.returncode, "\n".join(log), calls(runner))
    return Run(0, "\n".join(log), calls(runner))


def calls(runner: Path) -> list[str]:
    recorded = runner / "gh-calls"
    return recorded.read_text().splitlines() if recorded.exists() else []


def repository(tmp_path: Path, index: IndexServer, requirements: str) -> tuple[Path, Path]:
    """A locked project committed with the recipe's workflows, and its bare remote."""
    root = make(tmp_path, index, requirements, 'variants = ["cpu"]\n')
    done = subprocess.run([sys.executable, "-m", "podlock", "lock", "--project", str(root)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shutil.copytree(RECIPE / ".github", root / ".github")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "dev")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "add", ".")
    git(root, "commit", "-qm", "project")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(root), str(remote))
    return root, remote


def test_upgrade_workflow_pushes_the_branch_and_opens_a_pull_request_with_the_report(
    tmp_path: Path, own_index: IndexServer
) -> None:
    _, remote = repository(tmp_path, own_index, "flax\nidna\n")
    runner = tmp_path / "runner"
    quiet = run_workflow("podlock-upgrade.yml", remote, runner)
    assert quiet.code == 0, quiet.log
    assert "locks already current" in quiet.log and quiet.gh == []

    publish(own_index, "pypi", "idna", "3.11")
    upgraded = run_workflow("podlock-upgrade.yml", remote, runner)
    assert upgraded.code == 0, upgraded.log
    assert git(remote, "branch", "--list", BRANCH).strip().endswith(BRANCH)
    locked = git(remote, "show", f"{BRANCH}:pylock.cpu.toml")
    assert 'name = "idna"\nversion = "3.11"' in locked
    message = git(remote, "log", "-1", "--format=%B", BRANCH)
    report = (runner / "temp" / "podlock-upgrade.md").read_text()
    assert "| idna | upgraded | 3.10 | 3.11 |" in report
    assert message.startswith("podlock: upgrade locked dependencies\n\n## podlock lock --upgrade")
    assert git(remote, "log", "-1", "--format=%an", BRANCH).strip() == "podlock-bot"
    assert upgraded.gh[0] == f"pr view {BRANCH}"
    assert upgraded.gh[1].startswith(f"pr create --head {BRANCH} --title ")
    assert (runner / "gh-calls.body").read_text() == report

    # the pull request's head: fresh locks pass the gate
    assert run_workflow("podlock-check.yml", remote, runner, ref=BRANCH).code == 0


def test_check_workflow_fails_on_a_stale_lock(tmp_path: Path, own_index: IndexServer) -> None:
    root, remote = repository(tmp_path, own_index, "idna\n")
    runner = tmp_path / "runner"
    fresh = run_workflow("podlock-check.yml", remote, runner)
    assert fresh.code == 0, fresh.log
    (root / "requirements.txt").write_text("idna\nflax\n")
    git(root, "commit", "-qam", "add flax, forget the lock")
    git(root, "push", "-q", str(remote), "main:stale")
    stale = run_workflow("podlock-check.yml", remote, runner, ref="stale")
    assert stale.code == 1, stale.log
    assert "::error::a lock is stale" in stale.log
    assert '"status": "stale"' in stale.log


@pytest.mark.live
def test_pre_commit_hook_fails_on_a_stale_lock_and_passes_a_fresh_one(
    tmp_path: Path, own_index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pre-commit try-repo` installs podlock from this checkout into the hook's own
    environment (its dependencies from the real PyPI): minutes on a cold pre-commit cache."""
    root, _ = repository(tmp_path, own_index, "idna\n")
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit"))
    try_repo = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "podlock-lock-check",
                "--all-files"]  # fmt: skip

    def hook() -> Any:
        return subprocess.run(try_repo, cwd=root, capture_output=True, text=True, timeout=900)

    fresh = hook()
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert re.search(r"podlock lock --check\.+Passed", fresh.stdout)
    (root / "requirements.txt").write_text("idna\nflax\n")
    stale = hook()
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert re.search(r"podlock lock --check\.+Failed", stale.stdout)
    assert "stale" in stale.stdout
