"""End to end: the hooks in .pre-commit-hooks.yaml, installed by pre-commit into a scratch
fleet repository, block a broken spec and let a valid one through."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # left out of `make test-fast`

REPO = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _git(cwd: Path, *args: str) -> None:
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_hooks_block_a_broken_spec_and_pass_a_valid_one(tmp_path: Path, example_fleet: Path) -> None:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip("the modelfleet checkout is not a git repository")
    listed = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", "HEAD:.pre-commit-hooks.yaml"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("HEAD predates .pre-commit-hooks.yaml")
    fleet = tmp_path / "fleet-repo"
    shutil.copytree(example_fleet, fleet)
    (fleet / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {REPO}\n"
        f"    rev: {head.stdout.strip()}\n"
        "    hooks:\n"
        "      - id: modelfleet-validate\n"
        "      - id: modelfleet-render-check\n"
    )
    _git(fleet, "init", "-q")
    _git(fleet, "add", "-A")
    _git(fleet, "commit", "-qm", "fleet")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    pre_commit = [sys.executable, "-m", "pre_commit"]

    ok = _run([*pre_commit, "run", "--all-files"], fleet, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "modelfleet validate" in ok.stdout and "Passed" in ok.stdout

    prod = fleet / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("scaling: {maxReplicas: 60}", "scaling: {maxReplica: 60}"))
    _git(fleet, "add", "-A")
    broken = _run([*pre_commit, "run", "--all-files"], fleet, env)
    assert broken.returncode == 1
    assert "environments/prod.yaml:" in broken.stdout
    assert "unknown field 'maxReplica'" in broken.stdout
    assert "did you mean 'maxReplicas'?" in broken.stdout
