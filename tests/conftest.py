"""Shared fixtures: the --update-golden flag, the example fleet (a private copy, or rendered
once per session) and helpers to run the CLI in-process."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from generator.pipeline import Rendered

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the expected outputs under tests/ instead of comparing (run `make golden`)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def example_fleet(tmp_path: Path) -> Iterator[Path]:
    """A private copy of the example fleet (models.yaml, environments/, services/, rendered/)."""
    target = tmp_path / "fleet"
    target.mkdir()
    for name in ("models.yaml",):
        shutil.copy2(REPO / name, target / name)
    for name in ("environments", "services", "rendered"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns(".mypy_cache", "__pycache__"))
    yield target


def _render_digest(rendered: Rendered) -> str:
    """A digest of what tests read from a render: objects (key order included) and planned files."""
    digest = hashlib.sha256()
    for model in rendered.base:
        digest.update(json.dumps(model.objects, default=repr).encode())
    for env in rendered.environments:
        digest.update(json.dumps([env.objects, env.adapter_values, env.gitops, env.compose], default=repr).encode())
    for path, data in sorted(rendered.plan.files.items()):
        digest.update(path.encode() + b"\0" + data)
    return digest.hexdigest()


@pytest.fixture(scope="session")
def example_render() -> Iterator[Rendered]:
    """The committed example fleet (models.yaml, environments/ of the repository) rendered
    without the unit cache: once per session, when the first test that needs it runs, never
    at collection. Every test that needs it shares it, so it is read-only: a test that
    changes it fails this fixture's teardown (copy an object before changing it)."""
    from generator.pipeline import render

    rendered = render(REPO)
    before = _render_digest(rendered)
    yield rendered
    assert _render_digest(rendered) == before, "a test changed the shared render of the example fleet"


def committed_file_count() -> int:
    """How many files the committed rendered/ of the example fleet holds."""
    return sum(1 for path in (REPO / "rendered").rglob("*") if path.is_file())
