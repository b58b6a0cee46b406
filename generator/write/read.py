"""Reading ``rendered/`` without changing it: how it differs from a plan (``diff_tree``, and
``check_tree`` for ``render --check``; ``unified_diff`` for one file), and what the last write
recorded there (``last_written``, ``last_recorded``). Readers hold the writers' lock shared,
so a render's swap is seen whole."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from generator.digest import file_digest
from generator.write import findings, fs, manifest, record
from generator.write.planned import Content, Kept, TreeDiff, diff_digests, digest_of, validate_plan
from generator.write.record import Record
from generator.write.walk import walk


def _scan(target: Path) -> tuple[dict[str, Path], set[str]]:
    """Files (anything not a directory) and directories under ``target``, relative."""
    files: dict[str, Path] = {}
    dirs: set[str] = set()
    if not target.exists():
        return files, dirs
    if not target.is_dir():
        raise findings.not_a_directory(target)
    for rel, entry in walk(target):
        if entry.is_dir(follow_symlinks=False):
            dirs.add(rel)
        else:
            files[rel] = Path(entry.path)
    return files, dirs


def _same_content(path: Path, expected: Content) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    if isinstance(expected, Kept):
        return file_digest(path) == expected.digest
    return path.read_bytes() == expected


def _diff(files: Mapping[str, Path], planned: Mapping[str, Content]) -> TreeDiff:
    return TreeDiff(
        stale=tuple(sorted(p for p in planned if p in files and not _same_content(files[p], planned[p]))),
        missing=tuple(sorted(p for p in planned if p not in files)),
        extra=tuple(sorted(p for p in files if p not in planned)),
    )


def _verified_visible(target: Path) -> Record | None:
    visible = manifest.load(target).visible
    return visible if visible is not None and record.verify(target, visible, None) else None


def last_recorded(target: Path) -> dict[str, str] | None:
    """Path -> digest of every file the manifest says ``target`` holds, without verifying the
    disk: what the last write wrote, for a caller that only needs to rule a tree out."""
    with fs.shared_lock(target):
        visible = manifest.load(target).visible
    return {p: f[0] for p, f in visible.files.items()} if visible is not None else None


def last_written(target: Path) -> dict[str, str] | None:
    """Path -> digest of every file under ``target`` as the manifest records it, when the
    tree on disk verifies against it; None without a trusted record."""
    with fs.shared_lock(target):
        visible = _verified_visible(target)
    return {p: f[0] for p, f in visible.files.items()} if visible is not None else None


def diff_tree(target: Path, planned: Mapping[str, Content]) -> TreeDiff:
    """Compare the files under ``target`` with ``planned`` (path -> bytes or ``Kept``): by
    digest when the manifest's record of ``target`` verifies, else by reading the files."""
    validate_plan(planned)
    try:
        with fs.shared_lock(target):
            visible = _verified_visible(target)
            if visible is not None:
                return diff_digests(visible.digests(), {p: digest_of(c) for p, c in planned.items()})
            files, _ = _scan(target)
            return _diff(files, planned)
    except OSError as exc:
        raise findings.io_error("read rendered/", exc) from None


def check_tree(target: Path, planned: Mapping[str, Content]) -> TreeDiff:
    """The clean diff, or ``StaleOutputError`` with one finding per differing file."""
    diff = diff_tree(target, planned)
    if diff.clean:
        return diff
    raise findings.stale(diff)


def _lines(content: bytes) -> list[str]:
    lines = content.decode("utf-8", errors="replace").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def unified_diff(target: Path, planned: Mapping[str, bytes], path: str) -> str:
    """A unified diff of ``path`` from the disk (``a/``) to the plan (``b/``).

    A file that is not on disk or not planned counts as empty; equal files give "".
    """
    validate_plan({path: b""})
    on_disk = target / path
    try:
        before = on_disk.read_bytes() if on_disk.is_file() else b""
    except OSError as exc:
        raise findings.io_error("read rendered/", exc) from None
    after = planned.get(path, b"")
    shown = findings.display(path)
    return "".join(difflib.unified_diff(_lines(before), _lines(after), f"a/{shown}", f"b/{shown}"))
