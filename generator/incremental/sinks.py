"""Where a streaming ``render`` hands its files (``output.rendered.Sink``): the writer of
``rendered/``, or digests only (``overview`` needs the render, not its files).
``render --check``'s sink, which compares digests with the disk, is
``commands.staleness.CheckSink``."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from generator.write.planned import Kept, digest_of
from generator.write.tree import TreeWriter, tree_writer

__all__ = ["DigestSink", "WriterSink"]


class DigestSink:
    """Keeps each file's digest only; a cached unit's recorded digests serve as well as its bytes."""

    def __init__(self) -> None:
        self.digests: dict[str, str] = {}

    def __call__(self, path: str, content: bytes | Kept) -> str:
        found = digest_of(content)
        self.digests[path] = found
        return found

    def holds(self, files: Mapping[str, str]) -> bool:
        return True


class WriterSink:
    """Hands each file to a tree writer of ``target``, taken (with its lock) at the first
    file or the first question about one, so a fleet that fails validation leaves every
    tree alone. A cached unit's files go by digest when a tree the writer keeps holds them."""

    def __init__(self, target: Path, stack: contextlib.ExitStack) -> None:
        self.target, self.stack = target, stack
        self.writer: TreeWriter | None = None
        self.added = 0

    def _open(self) -> TreeWriter:
        if self.writer is None:
            self.writer = self.stack.enter_context(tree_writer(self.target))
        return self.writer

    def __call__(self, path: str, content: bytes | Kept) -> str:
        writer = self._open()
        self.added += 1
        return writer.add(path, content)

    def holds(self, files: Mapping[str, str]) -> bool:
        writer = self._open()
        return all(writer.holds(path, digest) for path, digest in files.items())
