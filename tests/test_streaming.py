"""Every render streams: ``render``, ``render --no-cache`` and ``render --check`` hand each file
on as it is built (to the writer, or to a digest for the check) and never hold the whole
tree, even when a finding has to be reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator import pipeline
from generator.cli import main
from generator.incremental.inputrecord import CACHE_DIR
from tests.conftest import committed_file_count


def _tree(root: Path) -> dict[str, bytes]:
    rendered = root / "rendered"
    return {str(p.relative_to(rendered)): p.read_bytes() for p in sorted(rendered.rglob("*")) if p.is_file()}


def no_full_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every render the CLI runs hands its files to a sink and returns none of them."""
    real = pipeline.render

    def streaming_only(
        root: Path, cache: Any = None, sink: Any = None, validated: Any = None, progress: Any = None
    ) -> Any:
        assert sink is not None, "a render held the whole tree"
        rendered = real(root, cache, sink, validated, progress)
        assert not rendered.plan.files, "a render returned files instead of handing them on"
        return rendered

    monkeypatch.setattr(pipeline, "render", streaming_only)


def test_render_without_the_cache_streams_and_writes_no_cache(
    example_fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = dict(pipeline.render(example_fleet).plan.files)
    for path in (example_fleet / "rendered").rglob("*"):
        if path.is_file():
            path.write_bytes(b"old\n")
    no_full_pipeline(monkeypatch)
    assert main(["--root", str(example_fleet), "render", "--no-cache"]) == 0
    assert _tree(example_fleet) == expected
    assert not (example_fleet / CACHE_DIR).exists()


@pytest.mark.parametrize("cache", [True, False])
def test_check_streams_and_names_every_difference(
    cache: bool, example_fleet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = example_fleet / "rendered"
    stale = rendered / "images/docker-bake.hcl"
    stale.write_bytes(stale.read_bytes() + b"# hand edit\n")
    missing = next(p for p in sorted(rendered.rglob("*.md")) if p.is_file())
    missing.unlink()
    (rendered / "stray.yaml").write_text("a: 1\n")
    no_full_pipeline(monkeypatch)
    args = ["--root", str(example_fleet), "render", "--check", *([] if cache else ["--no-cache"])]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "rendered/images/docker-bake.hcl" in err and "stale" in err
    assert f"rendered/{missing.relative_to(rendered)}" in err and "missing" in err
    assert "rendered/stray.yaml" in err and "extra" in err
    assert not (example_fleet / CACHE_DIR).exists(), "--check writes nothing"


def test_check_of_a_current_tree_streams(
    example_fleet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_full_pipeline(monkeypatch)
    assert main(["--root", str(example_fleet), "render", "--check"]) == 0
    assert f"rendered/ is current ({committed_file_count()} files)" in capsys.readouterr().out


def test_a_finding_is_reported_by_the_streaming_render(
    example_fleet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    models = example_fleet / "models.yaml"
    text = models.read_text(encoding="utf-8")
    assert "maxReplicas: 12" in text
    models.write_text(text.replace("maxReplicas: 12", "maxReplicas: -12", 1), encoding="utf-8")
    before = _tree(example_fleet)
    no_full_pipeline(monkeypatch)
    for args in (["render"], ["render", "--no-cache"], ["render", "--check"]):
        assert main(["--root", str(example_fleet), *args]) == 1
        assert "maxReplicas" in capsys.readouterr().err
    assert _tree(example_fleet) == before
