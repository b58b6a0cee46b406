"""Where the fleet root sits in its Git repository, for output read from the repository's
top (GitHub annotations name files from there). Found by walking up to the nearest
``.git`` (a directory, or the file of a worktree or submodule), without running git."""

from __future__ import annotations

from pathlib import Path


def repository_prefix(root: Path) -> str:
    """The fleet root's path from the top of its repository, ending in '/'; '' when the
    root is that top or in no repository."""
    resolved = root.resolve()
    for directory in (resolved, *resolved.parents):
        if (directory / ".git").exists():
            relative = resolved.relative_to(directory).as_posix()
            return "" if relative == "." else f"{relative}/"
    return ""
