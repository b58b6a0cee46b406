"""Walk a directory tree without following symbolic links: what the write stage finds on disk,
and what the input records (``generator.inputs``) digest of ``rendered/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def walk(target: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every entry below ``target`` as (path relative to it, with '/', and the entry); a
    directory comes before what it holds. A symbolic link is an entry, never followed."""
    pending = [(str(target), "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as scan:
            for entry in scan:
                rel = f"{prefix}{entry.name}"
                yield rel, entry
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{rel}/"))
