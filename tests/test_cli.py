"""The command line, run in-process on a private copy of the example fleet: exit codes,
where output goes, and the exact lines users and CI read."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import generator.pipeline
from generator.cli import main

REPO = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--root", str(root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def where(root: Path, name: str, line_text: str, value: str) -> tuple[int, int]:
    """Line and column of ``value`` on the one line of ``name`` that contains ``line_text``."""
    lines = (root / name).read_text(encoding="utf-8").splitlines()
    matches = [number for number, line in enumerate(lines, start=1) if line_text in line]
    assert len(matches) == 1, f"{line_text!r} is on lines {matches} of {name}"
    line = lines[matches[0] - 1]
    return matches[0], line.index(value, line.index(line_text)) + 1


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def break_runtime(root: Path) -> tuple[int, int]:
    """Misspell the first model's runtime; return the typo's line and column."""
    first = yaml.safe_load((root / "models.yaml").read_text(encoding="utf-8"))["models"][0]
    line_text = f"runtime: {first['runtime']}"
    path = root / "models.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(line_text, "runtime: pyton", 1), encoding="utf-8")
    return where(root, "models.yaml", "runtime: pyton", "pyton")


# ---------------------------------------------------------------- validate


def test_validate_ok(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = len(yaml.safe_load((example_fleet / "models.yaml").read_text(encoding="utf-8"))["models"])
    environments = len(list((example_fleet / "environments").glob("*.yaml")))
    assert run(capsys, example_fleet, "validate") == (
        0,
        f"ok: {models} models, {environments} environments valid\n",
        "",
    )


def test_validate_json_valid(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, example_fleet, "validate", "--format", "json")
    assert (code, err) == (0, "")
    assert out == '{\n  "version": 1,\n  "valid": true,\n  "errors": []\n}\n'


def test_validate_json_invalid(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, column = break_runtime(example_fleet)
    code, out, err = run(capsys, example_fleet, "validate", "--format=json")
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "version": 1,
        "valid": False,
        "errors": [
            {
                "file": "models.yaml",
                "line": line,
                "column": column,
                "path": "models[0].runtime",
                "message": "'pyton' is not one of: python, mlserver, triton, torchserve, tfserving, vllm",
                "hint": "did you mean 'python'?",
            }
        ],
    }


def test_validate_github_annotations(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, column = break_runtime(example_fleet)
    code, out, err = run(capsys, example_fleet, "validate", "--format", "github")
    assert (code, err) == (1, "")
    assert out == (
        f"::error file=models.yaml,line={line},col={column},title=models[0].runtime::"
        "'pyton' is not one of: python, mlserver, triton, torchserve, tfserving, vllm"
        " (hint: did you mean 'python'?)\n"
    )


def test_validate_github_prints_nothing_when_valid(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, example_fleet, "validate", "--format", "github") == (0, "", "")


def test_validate_text_errors_go_to_stderr(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, column = break_runtime(example_fleet)
    code, out, err = run(capsys, example_fleet, "validate")
    assert (code, out) == (1, "")
    assert err.startswith(f"models.yaml:{line}:{column}: error: models[0].runtime: 'pyton' is not one of: ")
    assert "  hint: did you mean 'python'?\n" in err
    assert err.endswith("\n1 error in models.yaml\n")


def test_validate_reports_every_file(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_runtime(example_fleet)
    edit(example_fleet, "environments/prod.yaml", 'kubernetesVersion: "1.31"', "kubernetesVersion: 1.31")
    code, _, err = run(capsys, example_fleet, "validate")
    assert code == 1
    assert err.endswith("\n2 errors in 2 files\n")
    assert "environments/prod.yaml:" in err


def test_validate_without_models_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, tmp_path, "validate")
    assert code == 1
    assert err.startswith("models.yaml: error: no models.yaml in this directory\n")


# ---------------------------------------------------------------- render


def test_render_check_on_the_committed_tree(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = len(snapshot(example_fleet / "rendered"))
    assert run(capsys, example_fleet, "render", "--check") == (0, f"ok: rendered/ is current ({files} files)\n", "")


def test_render_check_lists_stale_extra_and_missing_files(
    example_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = example_fleet / "rendered"
    stale = rendered / "base" / "fraud-detector" / "service.yaml"
    stale.write_bytes(stale.read_bytes() + b"# edited by hand\n")
    (rendered / "base" / "fraud-detector" / "notes.yaml").write_text("a: 1\n", encoding="utf-8")
    (rendered / "overlays" / "prod" / "namespace.yaml").unlink()
    before = snapshot(rendered)

    code, out, err = run(capsys, example_fleet, "render", "--check")
    assert (code, out) == (1, "")
    hint = "  hint: run `modelfleet render` (or `make render`) and commit rendered/\n"
    assert err == (
        "rendered/base/fraud-detector/notes.yaml: error: extra: no longer produced by models.yaml\n"
        + hint
        + "\nrendered/base/fraud-detector/service.yaml: error: stale: content differs from what models.yaml renders\n"
        + "    --- rendered/base/fraud-detector/service.yaml (on disk)\n"
        + "    +++ rendered/base/fraud-detector/service.yaml (rendered now)\n"
        + re.search(r"\n(    @@ [^\n]*\n     [^\n]*\n)", err)[1]  # type: ignore[index]
        + "    -# edited by hand\n"
        + hint
        + "\nrendered/overlays/prod/namespace.yaml: error: missing: models.yaml renders this file\n"
        + hint
        + "\n3 errors in 3 files\n"
    )
    assert snapshot(rendered) == before, "--check must not write"


def test_render_check_json(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (example_fleet / "rendered" / "overlays" / "dev" / "kustomization.yaml").write_text("x: 1\n", encoding="utf-8")
    code, out, _ = run(capsys, example_fleet, "render", "--check", "--format", "json")
    assert code == 1
    [error] = json.loads(out)["errors"]
    assert (error["file"], error["message"]) == (
        "rendered/overlays/dev/kustomization.yaml",
        "stale: content differs from what models.yaml and environments/dev.yaml render",
    )


def test_render_repairs_a_stale_tree(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rendered = example_fleet / "rendered"
    committed = snapshot(rendered)
    (rendered / "base" / "fraud-detector" / "service.yaml").write_text("edited\n", encoding="utf-8")
    (rendered / "stray.yaml").write_text("a: 1\n", encoding="utf-8")
    code, out, _ = run(capsys, example_fleet, "render")
    assert code == 0
    assert re.fullmatch(r"ok: rendered/ written: \d+ files, \d+ objects in \d+ environments \(2 files changed\)\n", out)
    assert snapshot(rendered) == committed
    assert run(capsys, example_fleet, "render", "--check")[0] == 0


def test_render_writes_nothing_when_invalid(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rendered = example_fleet / "rendered"
    (rendered / "base" / "fraud-detector" / "service.yaml").write_text("edited\n", encoding="utf-8")
    before = snapshot(rendered)
    break_runtime(example_fleet)
    code, out, err = run(capsys, example_fleet, "render")
    assert (code, out) == (1, "")
    assert "'pyton' is not one of" in err
    assert snapshot(rendered) == before


# ---------------------------------------------------------------- explain


def test_explain_shows_value_and_every_setter(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prod = where(example_fleet, "environments/prod.yaml", "scaling: {maxReplicas: 60}", "60")
    model = where(example_fleet, "models.yaml", "maxReplicas: 30", "30")
    defaults = where(example_fleet, "models.yaml", "scaling: {minReplicas: 2, maxReplicas: 10", "10")
    code, out, err = run(capsys, example_fleet, "explain", "prod", "fraud-detector", "scaling.maxReplicas")
    assert (code, err) == (0, "")
    assert out == (
        "prod fraud-detector scaling.maxReplicas: 60\n"
        f"  set by     environments/prod.yaml:{prod[0]}:{prod[1]}  (prod override)\n"
        f"  overrides  models.yaml:{model[0]}:{model[1]}  (model)\n"
        f"  overrides  models.yaml:{defaults[0]}:{defaults[1]}  (fleet defaults)\n"
    )


def test_explain_list_index(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, column = where(example_fleet, "models.yaml", "- env: FEATURE_STORE_TOKEN", "FEATURE_STORE_TOKEN")
    code, out, _ = run(capsys, example_fleet, "explain", "dev", "fraud-detector", "secrets[0].env")
    assert code == 0
    assert out == (
        f"dev fraud-detector secrets[0].env: FEATURE_STORE_TOKEN\n  set by     models.yaml:{line}:{column}  (model)\n"
    )


def test_explain_built_in_default(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, example_fleet, "explain", "dev", "sentiment", "rollout.canary.pauseMinutes")
    assert code == 0
    assert out == "dev sentiment rollout.canary.pauseMinutes: 5\n  set by     built-in default\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("prd", "fraud-detector", "scaling"), "no environment 'prd'; did you mean 'prod'?"),
        (("prod", "fraud-detectr", "scaling"), "no model 'fraud-detectr'; did you mean 'fraud-detector'?"),
        (("prod", "fraud-detector", "scaling.maxReplica"), "scaling has no 'maxReplica'; did you mean 'maxReplicas'?"),
        (("prod", "fraud-detector", "scalng"), "the model has no 'scalng'; did you mean 'scaling'?"),
        (("dev", "support-llm", "scaling"), "model 'support-llm' is disabled in dev (enabled: false)"),
    ],
)
def test_explain_usage_errors(
    args: tuple[str, str, str], message: str, example_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, example_fleet, "explain", *args) == (2, "", f"modelfleet: usage error: {message}\n")


# ---------------------------------------------------------------- usage and internal errors


def test_unknown_command(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, example_fleet, "bogus")
    assert (code, out) == (2, "")
    assert err.startswith("modelfleet: usage error: argument COMMAND: invalid choice: 'bogus'")
    assert "usage: modelfleet" in err


def test_missing_command(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, example_fleet)
    assert (code, out) == (2, "")
    assert err.startswith("modelfleet: usage error: a command is required\nusage: modelfleet")


def test_bad_option_value(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, example_fleet, "validate", "--format", "xml")
    assert code == 2
    assert "invalid choice: 'xml'" in err


def test_root_that_is_not_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent"
    assert run(capsys, missing, "validate") == (
        2,
        "",
        f"modelfleet: usage error: --root {missing} is not a directory\n",
    )


def test_internal_error_is_short(
    example_fleet: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(generator.pipeline, "render", explode)
    code, out, err = run(capsys, example_fleet, "render")
    assert (code, out) == (3, "")
    assert err == (
        "modelfleet: internal error: RuntimeError: boom\n"
        "This is a bug in modelfleet; please report it with the command you ran.\n"
    )
    assert "Traceback" not in err


def test_help_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: modelfleet")


def test_python_m_generator_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--help"], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: modelfleet")
    for command in ("validate", "render", "explain", "schema"):
        assert command in result.stdout


@pytest.mark.parametrize("into", ["pipe", "file"])
def test_the_console_script_flushes_its_output_before_the_fast_exit(
    example_fleet: Path, tmp_path: Path, into: str
) -> None:
    """main_entry ends the process with os._exit: the exit code and every line of output,
    to a pipe or to a file, survive it."""
    edit(example_fleet, "environments/prod.yaml", "namespace: ml-prod", "namespace: ml-prod\nreplicaz: 3")
    results = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as by default
    for args in (["validate", "--format", "json"], ["validate"], ["render", "--check"]):
        argv = [sys.executable, "-m", "generator", "--root", str(example_fleet), *args]
        if into == "pipe":
            done = subprocess.run(argv, capture_output=True, check=False, env=env)
            results.append((done.returncode, done.stdout, done.stderr))
            continue
        out, err = tmp_path / "out", tmp_path / "err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            code = subprocess.run(argv, stdout=stdout, stderr=stderr, check=False, env=env).returncode
        results.append((code, out.read_bytes(), err.read_bytes()))
    (json_code, json_out, _), (text_code, _, text_err), (check_code, _, check_err) = results
    assert (json_code, text_code, check_code) == (1, 1, 1)
    findings = json.loads(json_out)
    assert findings and "replicaz" in json.dumps(findings)
    assert text_err.decode().endswith("1 error in environments/prod.yaml\n")
    assert b"replicaz" in check_err


# ---------------------------------------------------------------- schema


def test_schema_check_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, REPO, "schema", "--check") == (0, "ok: schemas/ and docs/reference.md are current\n", "")


def test_schema_check_finds_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")  # modelfleet's own checkout
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    (tmp_path / "docs").mkdir()
    shutil.copy2(REPO / "docs" / "reference.md", tmp_path / "docs" / "reference.md")
    stale = tmp_path / "schemas" / "models.schema.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace('"title"', '"Title"', 1), encoding="utf-8")
    code, out, err = run(capsys, tmp_path, "schema", "--check")
    assert (code, out) == (1, "")
    assert err == (
        "schemas/models.schema.json: error: stale: differs from the spec models\n"
        "  hint: run `modelfleet schema`\n\n1 error in schemas/models.schema.json\n"
    )


def test_schema_writes_then_checks_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")  # modelfleet's own checkout
    assert run(capsys, tmp_path, "schema", "--check")[0] == 1  # no schemas/ at all
    assert run(capsys, tmp_path, "schema") == (0, "ok: schemas/ and docs/reference.md written (3 changed)\n", "")
    assert run(capsys, tmp_path, "schema", "--check") == (0, "ok: schemas/ and docs/reference.md are current\n", "")
    for name in ("models.schema.json", "environment.schema.json"):
        assert (tmp_path / "schemas" / name).read_bytes() == (REPO / "schemas" / name).read_bytes()


def test_schema_in_a_fleet_repository_writes_the_editor_schemas_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, tmp_path, "schema", "--check")
    assert (code, out) == (1, "")
    missing = ".modelfleet/schemas/environment.schema.json: error: missing\n  hint: run `modelfleet schema`"
    assert err.startswith(missing)
    assert "stale" not in err
    assert run(capsys, tmp_path, "schema") == (0, "ok: .modelfleet/schemas/ written (2 changed)\n", "")
    assert run(capsys, tmp_path, "schema", "--check") == (0, "ok: .modelfleet/schemas/ is current\n", "")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        ".modelfleet/schemas/environment.schema.json",
        ".modelfleet/schemas/models.schema.json",
    ]  # no docs/reference.md, no schemas/ in a fleet repository
    for name in ("models.schema.json", "environment.schema.json"):
        assert (tmp_path / ".modelfleet" / "schemas" / name).read_bytes() == (REPO / "schemas" / name).read_bytes()
    stale = tmp_path / ".modelfleet" / "schemas" / "models.schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    code, out, err = run(capsys, tmp_path, "schema", "--check")
    assert code == 1 and "models.schema.json: error: stale: differs from the schemas of modelfleet " in err


def test_version_prints_the_installed_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, err = run(capsys, REPO, "--version")
    assert (code, out, err) == (0, f"modelfleet {version('modelfleet')}\n", "")
    assert re.fullmatch(r"modelfleet \d+\.\d+\.\d+\n", out)
    command = [sys.executable, "-m", "generator", "--version"]
    console = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (console.returncode, console.stdout) == (0, out)
