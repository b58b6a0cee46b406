"""A release as a fleet repository uses it: the wheel and sdist `python -m build` makes (with
the schemas and init's templates inside), the CI workflow `init` writes (its shell steps, run
in a scratch fleet with pip pointed at that wheel and no index), and the pre-commit hooks
pinned by `rev:` to the release tag."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from generator.cli import main
from generator.version import repository_url, version

pytestmark = pytest.mark.slow  # builds, installs and runs pre-commit: a minute or more

REPO = Path(__file__).resolve().parent.parent
SKELETON = sorted(
    p.relative_to(REPO).as_posix() for p in (REPO / "generator" / "commands" / "skeleton").rglob("*") if p.is_file()
)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main", *args], cwd
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wheel and sdist of this checkout, built from a copy without build/ (stale build/lib)."""
    base = tmp_path_factory.mktemp("dist")
    source, out = base / "source", base / "dist"
    top = {"build", "dist", "rendered", "bench", "tests"}

    def skip(directory: str, names: list[str]) -> set[str]:
        here = {n for n in names if n.startswith(".") or n.endswith(".egg-info") or n == "__pycache__"}
        return here | (top & set(names) if Path(directory) == REPO else set())

    shutil.copytree(REPO, source, ignore=skip)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)], base)
    return out


def test_wheel_and_sdist_carry_the_version_schemas_and_templates(dist: Path) -> None:
    wheel = dist / f"modelfleet-{version()}-py3-none-any.whl"
    sdist = dist / f"modelfleet-{version()}.tar.gz"
    assert sorted(p.name for p in dist.iterdir()) == sorted([wheel.name, sdist.name])
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in ("models.schema.json", "environment.schema.json"):
        assert f"generator/schemas/{schema}" in names
    assert [t for t in SKELETON if t not in names] == [], "init's templates are package data"
    metadata = zipfile.ZipFile(wheel).read(f"modelfleet-{version()}.dist-info/METADATA").decode()
    assert f"\nVersion: {version()}\n" in metadata
    assert f"\nProject-URL: Repository, {repository_url()}\n" in metadata
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    assert [t for t in SKELETON if t not in members] == []
    assert {"schemas/models.schema.json", "pyproject.toml", "templates/k8s/deployment.yaml.j2"} <= members


def wheelhouse(dist: Path, requirements: Path, target: Path) -> Path:
    """The release wheel and wheels of everything the fleet's requirements.txt installs."""
    others = [
        line for line in requirements.read_text().splitlines() if line and not line.startswith(("#", "modelfleet"))
    ]
    wheel = dist / f"modelfleet-{version()}-py3-none-any.whl"
    run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(target), str(wheel), *others], target.parent)
    return target


def test_the_ci_workflow_and_makefile_run_in_a_fleet_made_by_init(dist: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    assert main(["init", str(fleet)]) == 0
    git(fleet, "init", "-q")
    git(fleet, "add", "-A")
    git(fleet, "commit", "-qm", "fleet")
    git(fleet, "remote", "add", "origin", str(fleet))
    git(fleet, "fetch", "-q", "origin")
    git(fleet, "switch", "-qc", "more-replicas")  # the pull request: one change, rendered
    prod = fleet / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("scaling: {minReplicas: 3}", "scaling: {minReplicas: 4}"))
    assert main(["--root", str(fleet), "render"]) == 0

    house = wheelhouse(dist, fleet / "requirements.txt", tmp_path / "wheelhouse")
    bin_dir = tmp_path / "bin"  # actions/setup-python puts `python` on PATH
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(house),
        "GITHUB_STEP_SUMMARY": str(summary),
        "BASE_REF": "main",  # ${{ github.base_ref }}
    }
    outputs = tmp_path / "outputs"
    env["GITHUB_OUTPUT"] = str(outputs)
    workflow = yaml.safe_load((fleet / ".github" / "workflows" / "modelfleet.yml").read_text())
    ran = []
    for name, job in workflow["jobs"].items():  # every job, the sharded ones too
        matrix = job.get("strategy", {}).get("matrix", {})
        runs = [{}]
        if matrix:  # the matrix over the environments `modelfleet shards` listed
            assert matrix == {"environment": "${{ fromJSON(needs.shards.outputs.environments) }}"}
            listed = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
            runs = [{"ENVIRONMENT": e} for e in json.loads(listed["environments"])]
            assert job["env"] == {"ENVIRONMENT": "${{ matrix.environment }}"}
        for values in runs:
            for step in job["steps"]:
                if "run" not in step or "gh pr comment" in step["run"]:
                    continue  # an action, or talks to GitHub
                run(["bash", "-eo", "pipefail", "-c", step["run"]], fleet, {**env, **values})
                ran.append(f"{name}: {step['name']}" + (f" ({values['ENVIRONMENT']})" if values else ""))
    install = "Install modelfleet"
    sharded = ["Validate the environment", "Check that the environment's files in rendered/ are current"]
    assert ran == [
        f"check: {install}",
        "check: Check that the editor schemas are current",
        "check: Validate the spec",
        "check: Check that rendered/ is current",
        "check: Diff against the base branch",
        f"shards: {install}",
        "shards: List the environments",
        *(f"check-environment: {step} ({env})" for env in ("dev", "prod") for step in [install, *sharded]),
    ]
    installed = run([".venv/bin/modelfleet", "--version"], fleet).stdout
    assert installed == f"modelfleet {version()}\n"
    where = run([".venv/bin/python", "-c", "import generator; print(generator.__file__)"], fleet).stdout
    assert where.startswith(str(fleet / ".venv")), "the release wheel, not this checkout"
    assert "my-model" in summary.read_text(), "the diff names the model whose replicas change"

    made = run(["make", "validate", "render", "test"], fleet, env)  # the fleet's Makefile, on the same wheel
    assert "ok: 1 model, 2 environments valid" in made.stdout and "ok: rendered/ is current" in made.stdout


def test_the_pinned_hooks_run_in_a_fleet_made_by_init(tmp_path: Path) -> None:
    """The hooks at the release tag: a clone of this checkout's HEAD, tagged as `rev:` names it."""
    release = tmp_path / "modelfleet"
    run(["git", "clone", "-q", str(REPO), str(release)], tmp_path)
    git(release, "tag", f"v{version()}")
    fleet = tmp_path / "fleet"
    assert main(["init", str(fleet)]) == 0
    config = fleet / ".pre-commit-config.yaml"
    text = config.read_text()
    assert f"repo: {repository_url()}\n    rev: v{version()}\n" in text
    config.write_text(text.replace(f"repo: {repository_url()}", f"repo: {release}"))
    git(fleet, "init", "-q")
    git(fleet, "add", "-A")
    git(fleet, "commit", "-qm", "fleet")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    pre_commit = [sys.executable, "-m", "pre_commit", "run", "--all-files"]
    ok = subprocess.run(pre_commit, cwd=fleet, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("Passed") == 2, ok.stdout

    models = fleet / "models.yaml"
    models.write_text(models.read_text().replace("    owner: team-ml\n", "    ownr: team-ml\n"))
    broken = subprocess.run(pre_commit, cwd=fleet, env=env, capture_output=True, text=True, check=False)
    assert broken.returncode == 1
    assert "models.yaml:" in broken.stdout and "unknown field 'ownr'" in broken.stdout
