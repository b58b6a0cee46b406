"""What the write stage tells a user: each message names the tree ``rendered/`` (whatever the
target's real path) and says what to do about it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from generator.errors import Finding, Location, ModelfleetError, StaleOutputError
from generator.write.planned import TreeDiff

DISPLAY_ROOT = "rendered"
REFRESH_HINT = "run `modelfleet render` (or `make render`) and commit rendered/"


def display(path: str = "") -> str:
    """``path`` (relative to the target) as messages show it."""
    return f"{DISPLAY_ROOT}/{path}" if path else f"{DISPLAY_ROOT}/"


def io_error(action: str, exc: OSError) -> ModelfleetError:
    where = exc.filename if exc.filename is not None else DISPLAY_ROOT
    reason = exc.strerror or str(exc)
    return ModelfleetError(
        [
            Finding(
                f"cannot {action}: {reason} ({where})",
                Location(display()),
                hint="check that the directory holding rendered/ exists and is writable",
            )
        ]
    )


def not_a_directory(target: Path) -> ModelfleetError:
    return ModelfleetError([Finding(f"{target} is not a directory", Location(display()), hint=REFRESH_HINT)])


def symlink_refused(target: Path) -> ModelfleetError:
    return ModelfleetError(
        [
            Finding(
                f"{target} is a symbolic link; refusing to replace it",
                Location(display()),
                hint="make rendered/ a plain directory",
            )
        ]
    )


def empty_plan() -> ModelfleetError:
    return ModelfleetError(
        [
            Finding(
                "refusing to write an empty rendered/: the render produced no files",
                Location(display()),
                hint="check that models.yaml lists models and environments enable them",
            )
        ]
    )


def changed_underneath(path: str) -> ModelfleetError:
    return ModelfleetError(
        [
            Finding(
                "changed on disk while modelfleet was writing rendered/",
                Location(display(path)),
                hint="do not edit rendered/ while a render runs; run `modelfleet render` again",
            )
        ]
    )


def stale(diff: TreeDiff, notes: Mapping[str, tuple[str, str]] | None = None) -> StaleOutputError:
    """``render --check``'s error: one finding per differing file. ``notes``: a stale file's
    message and detail (a diff), when the caller knows more than that it differs."""
    known = notes or {}
    plain = ("stale: content differs from what models.yaml renders", "")
    return StaleOutputError(
        [
            *(_finding(p, *known.get(p, plain)) for p in diff.stale),
            *(_finding(p, "missing: models.yaml renders this file") for p in diff.missing),
            *(_finding(p, "extra: no longer produced by models.yaml") for p in diff.extra),
        ]
    )


def _finding(path: str, message: str, detail: str = "") -> Finding:
    return Finding(message, Location(display(path)), hint=REFRESH_HINT, detail=detail)
