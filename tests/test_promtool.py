"""promtool checks every generated rule file and runs every generated rule unit test:
each burn-rate alert fires at 1.05x its threshold, stays silent at 0.95x, without traffic
and (a page) at half a request a minute; each operational alert is silent, pending, then
firing (rendered/tests/<env>/<model>.rules-test.yaml). All of an environment's tests run in
one promtool process, as CI runs them (one process per core: docs, bench/proofs.py)."""

from __future__ import annotations

import shutil
import subprocess
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


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_promtool_test_rules(env: str) -> None:
    files = sorted(str(p) for p in (TESTS / env).glob("*.rules-test.yaml"))
    result = subprocess.run([promtool(), "test", "rules", *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert result.stdout.count("SUCCESS") == len(files)
