"""A rule that many models break at one place (an environment's default) is reported once
per distinct message, naming the models it concerns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generator.cli import main
from tests.fleets import generated_fleet


def _raise_prod_min_replicas(root: Path) -> int:
    """Set prod's default minReplicas to 50 (above every model's maxReplicas); its line."""
    env = root / "environments" / "prod.yaml"
    lines = env.read_text().splitlines(keepends=True)
    start = lines.index("defaults:\n")
    index = next(i for i in range(start, len(lines)) if lines[i].strip() == "minReplicas: 3")
    lines[index] = lines[index].replace("minReplicas: 3", "minReplicas: 50")
    env.write_text("".join(lines))
    return index + 1


def test_a_default_many_models_break_names_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = generated_fleet(tmp_path / "fleet", models=40)
    line = _raise_prod_min_replicas(root)
    assert main(["--root", str(root), "validate", "--no-cache"]) == 1
    err = capsys.readouterr().err
    headlines = [text for text in err.splitlines() if ": error: " in text]
    assert len(headlines) == 3, err  # one per distinct maxReplicas of the cloned models
    for headline in headlines:
        assert headline.startswith(f"environments/prod.yaml:{line}:18: error: defaults.scaling.minReplicas: ")
        match = re.search(
            r"\(in environment prod\), for (\d+) models: ((?:[a-z-]+-\d{4}, )+[a-z-]+-\d{4}) and (\d+) more$", headline
        )
        assert match, headline
        count, named, more = int(match[1]), match[2].split(", "), int(match[3])
        assert (len(named), count) == (5, len(named) + more)
    assert "maxReplicas 12 (in environment prod), for 8 models: image-classifier-0000, image-classifier-0001," in err


def test_a_few_models_are_all_named_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = generated_fleet(tmp_path / "fleet", models=10)
    _raise_prod_min_replicas(root)
    assert main(["--root", str(root), "validate", "--no-cache", "--format", "json"]) == 1
    messages = [error["message"] for error in json.loads(capsys.readouterr().out)["errors"]]
    assert (
        "minReplicas 50 is more than maxReplicas 12 (in environment prod), for 2 models: "
        "image-classifier-0000, image-classifier-0001" in messages
    )
