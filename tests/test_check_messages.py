"""``render --check`` says why a file is stale: the inputs that feed it (those that changed
since the last render, when its record knows), and the first lines that differ."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from generator.cli import main

HPA = "rendered/overlays/prod/patches/fraud-detector-horizontalpodautoscaler.yaml"


def _check(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> str:
    capsys.readouterr()
    assert main(["--root", str(root), "render", "--check", *args]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    return err


def _block(err: str, path: str) -> str:
    """The finding of ``path``: its headline and the lines under it."""
    return next(block for block in err.split("\n\n") if block.startswith(f"{path}: error: "))


def _raise_prod_max_replicas(root: Path) -> None:
    env = root / "environments" / "prod.yaml"
    text = env.read_text()
    assert "scaling: {maxReplicas: 60}" in text
    env.write_text(text.replace("scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 61}"))


def _age(root: Path) -> None:
    """Date every file an hour back: the render's record skips inputs changed moments ago."""
    past = time.time() - 3600
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def test_an_environment_edit_names_its_file_and_shows_the_change(
    example_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _raise_prod_max_replicas(example_fleet)
    err = _check(capsys, example_fleet)
    block = _block(err, HPA)
    assert "stale: content differs from what models.yaml and environments/prod.yaml render" in block
    assert f"    --- {HPA} (on disk)\n    +++ {HPA} (rendered now)\n" in block
    assert "\n    -  value: 60\n    +  value: 61\n" in block
    assert "environments/dev.yaml" not in err and "environments/staging.yaml" not in err


def test_the_record_names_the_input_that_changed_since_the_last_render(
    example_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _age(example_fleet)
    assert main(["--root", str(example_fleet), "render"]) == 0
    _raise_prod_max_replicas(example_fleet)
    block = _block(_check(capsys, example_fleet), HPA)
    assert "stale: environments/prod.yaml changed since the last render" in block
    assert "\n    -  value: 60\n    +  value: 61\n" in block
    # without the cache, the record is not read: the inputs that feed the file are named
    assert "environments/prod.yaml render" in _block(_check(capsys, example_fleet, "--no-cache"), HPA)


def test_a_hand_edited_file_shows_the_edit(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _age(example_fleet)
    assert main(["--root", str(example_fleet), "render"]) == 0
    edited = example_fleet / HPA
    edited.write_text(edited.read_text().replace("value: 60", "value: 7"))
    block = _block(_check(capsys, example_fleet), HPA)
    assert "stale: edited since the last render: its inputs (models.yaml and environments/prod.yaml) did not" in block
    assert "\n    -  value: 7\n    +  value: 60\n" in block


def test_diffs_of_the_first_files_only(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runbooks = sorted((example_fleet / "rendered" / "runbooks").glob("*.md"))
    assert len(runbooks) == 5
    for runbook in runbooks:
        runbook.write_text(runbook.read_text() + "edited\n")
    err = _check(capsys, example_fleet)
    blocks = [_block(err, f"rendered/runbooks/{runbook.name}") for runbook in runbooks]
    assert ["\n    -edited\n" in block for block in blocks] == [True, True, True, False, False]
    assert "\n    … and 2 more stale files (diff not shown)\n  hint: " in blocks[2]
    assert "models.yaml and environments/*.yaml render" in blocks[0]
