"""Shared fixtures: the --update-golden flag and helpers to run the CLI in-process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def committed_file_count() -> int:
    """How many files the committed rendered/ of the example fleet holds."""
    return sum(1 for path in (REPO / "rendered").rglob("*") if path.is_file())
