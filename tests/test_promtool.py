"""promtool checks every generated rule file and runs every generated rule unit test:
each burn-rate alert fires on a synthetic burn at its threshold, stays silent just below
it and with no traffic (rendered/tests/<env>/<model>.rules-test.yaml)."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # left out of `make test-fast`

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "rendered" / "tests"
ENVIRONMENTS = sorted(p.name for p in TESTS.iterdir() if p.is_dir())


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test` installs it (Debian package prometheus)"
    return found


def test_every_model_of_every_environment_has_rules_and_tests() -> None:
    for env in ENVIRONMENTS:
        rules = {p.name.removesuffix(".rules.yaml") for p in (TESTS / env).glob("*.rules.yaml")}
        tests = {p.name.removesuffix(".rules-test.yaml") for p in (TESTS / env).glob("*.rules-test.yaml")}
        assert rules and rules == tests


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_promtool_check_rules(env: str) -> None:
    files = sorted(str(p) for p in (TESTS / env).glob("*.rules.yaml"))
    result = subprocess.run([promtool(), "check", "rules", *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def _test_rules(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "test", "rules", path.name], cwd=path.parent, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_promtool_test_rules(env: str) -> None:
    files = sorted((TESTS / env).glob("*.rules-test.yaml"))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(_test_rules, files))
    for path, result in zip(files, results, strict=True):
        assert result.returncode == 0, f"{path}:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
        assert "SUCCESS" in result.stdout
