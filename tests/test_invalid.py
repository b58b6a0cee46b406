"""The bad-input corpus: every case under tests/invalid/<case>/ is the valid fleet in
tests/invalid/_base/ with the edits of its case.yaml applied. `modelfleet validate` must
exit 1 with exactly the text in expected.txt, and `render` must leave rendered/ as it was.

Refresh the expected texts with `make golden` and review the diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.cli import main

HERE = Path(__file__).resolve().parent / "invalid"
BASE = HERE / "_base"
CASES = sorted(p.name for p in HERE.iterdir() if p.is_dir() and not p.name.startswith("_"))


def _apply(case: Path, target: Path) -> None:
    shutil.copytree(BASE, target)
    spec: dict[str, Any] = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8"))
    for edit in spec.get("edits", []):
        path = target / edit["file"]
        text = path.read_text(encoding="utf-8")
        assert text.count(edit["replace"]) == 1, f"{case.name}: edit target not found exactly once"
        path.write_text(text.replace(edit["replace"], edit["with"]), encoding="utf-8")
    for name, content in (spec.get("files") or {}).items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict) and "hex" in content:
            path.write_bytes(bytes.fromhex(content["hex"]))
        elif isinstance(content, dict) and "fill" in content:  # a large file: `fill` repeated to `bytes`
            path.write_bytes((content["fill"].encode("utf-8") * content["bytes"])[: content["bytes"]])
        else:
            path.write_text(content, encoding="utf-8")
    for name in spec.get("remove", []):
        (target / name).unlink()
    for name, points_to in (spec.get("symlinks") or {}).items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).symlink_to(points_to)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", CASES)
def test_invalid_case(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], update_golden: bool) -> None:
    case = HERE / name
    fleet = tmp_path / "fleet"
    _apply(case, fleet)
    rendered = fleet / "rendered"
    rendered.mkdir()
    (rendered / "sentinel.yaml").write_text("kind: Previous\n", encoding="utf-8")
    before = _snapshot(rendered)

    code = main(["--root", str(fleet), "validate"])
    out = capsys.readouterr()
    assert out.out == ""
    expected_file = case / "expected.txt"
    if update_golden:
        expected_file.write_text(out.err, encoding="utf-8")
    assert code == 1, out.err
    assert out.err == expected_file.read_text(encoding="utf-8")
    assert "Traceback" not in out.err

    assert main(["--root", str(fleet), "render"]) == 1
    capsys.readouterr()
    assert _snapshot(rendered) == before


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_base_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(BASE, fleet)
    assert main(["--root", str(fleet), "validate"]) == 0, capsys.readouterr().err
