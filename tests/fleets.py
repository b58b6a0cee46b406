"""Generated fleets for the CLI tests: ``bench/fleetgen.py`` (the benchmark's generator)
loaded from its file, since bench/ is not a package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def _fleetgen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleetgen", REPO / "bench" / "fleetgen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_fleet(dest: Path, models: int, environments: int = 3) -> Path:
    """A fleet of ``models`` clones of the example's models in ``environments`` environments."""
    root: Path = _fleetgen().generate(dest, models=models, environments=environments)
    return root


def edit_kinds() -> tuple[str, ...]:
    """The kinds of one-model edit the benchmark times (``fleetgen.EDIT_KINDS``)."""
    kinds: tuple[str, ...] = _fleetgen().EDIT_KINDS
    return kinds


def edit(root: Path, kind: str, step: int) -> tuple[str, str]:
    """The benchmark's one-model edit of ``kind``: (file, model)."""
    changed: tuple[str, str] = _fleetgen().change(root, kind, step)
    return changed
