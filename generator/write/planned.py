"""What a plan is: relative POSIX paths mapped to file bytes, or to ``Kept(digest)`` for a file
known only by the digest of its bytes (the bytes last written at that path); the checks a plan
passes before anything is written, and how a tree differs from it (``TreeDiff``)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from generator.digest import content_digest


@dataclass(frozen=True)
class TreeDiff:
    """How the tree on disk differs from the plan; each tuple is sorted."""

    stale: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """True when the disk holds exactly the planned files."""
        return not (self.stale or self.missing or self.extra)

    @property
    def changed(self) -> int:
        """How many files differ: stale, missing and extra."""
        return len(self.stale) + len(self.missing) + len(self.extra)


@dataclass(frozen=True)
class Kept:
    """A planned file known only by the digest of its bytes: the bytes last written there."""

    digest: str


class KeptUnavailable(Exception):
    """A ``Kept`` entry neither tree holds any more: plan that path's bytes instead."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no file with the kept digest at {path!r}; plan its bytes")
        self.path = path


Content = bytes | Kept


def digest_of(content: Content) -> str:
    """The ``content_digest`` of planned content."""
    return content.digest if isinstance(content, Kept) else content_digest(content)


# An empty, "." or ".." part, a backslash or a NUL: what a planned path must not hold.
_BAD_PATH = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|[\\\0]")


def check_path(path: str) -> None:
    if not isinstance(path, str) or _BAD_PATH.search(path):
        raise ValueError(f"planned path must be relative POSIX without '..': {path!r}")


def check_content(path: str, content: object) -> None:
    if not isinstance(content, bytes | Kept):
        raise ValueError(f"planned content of {path!r} must be bytes or Kept")


def add_parents(path: str, dirs: dict[str, str]) -> None:
    """Record the directories holding ``path`` in ``dirs`` (directory -> a path inside it)."""
    head = path.rpartition("/")[0]
    while head and head not in dirs:
        dirs[head] = path
        head = head.rpartition("/")[0]


def validate_plan(
    planned: Mapping[str, Content], *, kept_checked: bool = False, kept: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Reject paths that could escape the target or collide: a programming error. Returns
    the planned directories (as ``add_parents`` records them). ``kept_checked``: a ``Kept``
    entry's path is checked elsewhere (``write_tree`` plans one only where a tree it
    verified holds that file, and every path in such a tree was planned or found there).
    ``kept``: more ``Kept`` entries, as path -> digest (checked as ``kept_checked`` says)."""
    kept = kept or {}
    for path, content in planned.items():
        if not (kept_checked and isinstance(content, Kept)):
            check_path(path)
            check_content(path, content)
    if not kept_checked:
        for path in kept:
            check_path(path)
    twice = planned.keys() & kept.keys()
    if twice:
        raise ValueError(f"planned path {min(twice)!r} twice")
    # Each file's directory once, then walked up as ``add_parents`` does: most files share it.
    holders = {path.rpartition("/")[0]: path for path in kept}
    holders.update((path.rpartition("/")[0], path) for path in planned)
    dirs: dict[str, str] = {}
    for holder, path in holders.items():
        head = holder
        while head and head not in dirs:
            dirs[head] = path
            head = head.rpartition("/")[0]
    clash = sorted(d for d in dirs if d in planned or d in kept)
    if clash:
        inside = min(p for p in [*planned, *kept] if p.startswith(f"{clash[0]}/"))
        raise ValueError(f"planned path {inside!r} is inside planned file {clash[0]}")
    return dirs


def parents(path: str) -> Iterator[str]:
    """The directories holding ``path``, outermost first ("a", "a/b" for "a/b/c")."""
    end = path.find("/")
    while end != -1:
        yield path[:end]
        end = path.find("/", end + 1)


def parent_dir(path: str) -> str:
    """The directory holding ``path`` ("" for the tree itself)."""
    return path.rpartition("/")[0]


def check_collision(path: str, planned: Mapping[str, str], dirs: Mapping[str, str]) -> None:
    """Reject ``path`` when ``planned`` (path -> digest) holds it already, or when it would hold
    or be inside a planned file (``dirs``: directory -> a planned path inside it)."""
    if path in planned:
        raise ValueError(f"planned path {path!r} twice")
    if path in dirs:
        raise ValueError(f"planned path {dirs[path]!r} is inside planned file {path}")
    for holder in parents(path):
        if holder in planned:
            raise ValueError(f"planned path {path!r} is inside planned file {holder}")


def diff_digests(on_disk: Mapping[str, str | None], planned: Mapping[str, str]) -> TreeDiff:
    """How a tree known by its files' digests (None: not a regular file) differs from a plan."""
    return TreeDiff(
        stale=tuple(sorted(p for p, d in planned.items() if p in on_disk and on_disk[p] != d)),
        missing=tuple(sorted(p for p in planned if p not in on_disk)),
        extra=tuple(sorted(p for p in on_disk if p not in planned)),
    )
