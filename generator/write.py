"""Stage 7, write: the only code that touches ``rendered/``.

The plan is a mapping of relative POSIX paths to file bytes. ``diff_tree`` compares it
with the disk, ``check_tree`` turns a difference into a ``StaleOutputError`` for
``render --check``, and ``write_tree`` replaces the whole tree at once: the new tree is
built in a hidden sibling directory (files whose bytes did not change are hard-linked from
the old tree, so they are not rewritten and keep their mtime), made durable (one ``syncfs`` of its filesystem on
Linux, one ``fsync`` per file and directory elsewhere), then swapped in with one
``renameat2(RENAME_EXCHANGE)`` so readers see either the old tree or the new one, never a
mix. Every helper name starts with ``.<target>.`` (``.rendered.lock``,
``.rendered.tmp-*``, ``.rendered.old-*``) which the repository's ``.gitignore`` hides.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import errno
import fcntl
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import Finding, Location, ModelfleetError, StaleOutputError
from .treewalk import walk

__all__ = ["TreeDiff", "check_tree", "diff_tree", "unified_diff", "write_tree"]

DISPLAY_ROOT = "rendered"
REFRESH_HINT = "run `modelfleet render` (or `make render`) and commit rendered/"

_FILE_MODE = 0o644
_DIR_MODE = 0o755
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


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


# --- reading -------------------------------------------------------------------------


def _validate_plan(planned: Mapping[str, bytes]) -> None:
    """Reject paths that could escape ``target`` or collide: a programming error."""
    for path, content in planned.items():
        parts = PurePosixPath(path).parts
        if (
            not path
            or "\\" in path
            or "\0" in path
            or path.startswith("/")
            or "/".join(parts) != path
            or any(part in {".", ".."} for part in parts)
        ):
            raise ValueError(f"planned path must be relative POSIX without '..': {path!r}")
        if not isinstance(content, bytes):
            raise ValueError(f"planned content of {path!r} must be bytes")
    for path in planned:
        for parent in PurePosixPath(path).parents:
            if str(parent) in planned:
                raise ValueError(f"planned path {path!r} is inside planned file {parent}")


def _display(path: str = "") -> str:
    return f"{DISPLAY_ROOT}/{path}" if path else f"{DISPLAY_ROOT}/"


def _io_error(action: str, exc: OSError) -> ModelfleetError:
    where = exc.filename if exc.filename is not None else DISPLAY_ROOT
    reason = exc.strerror or str(exc)
    return ModelfleetError(
        [
            Finding(
                f"cannot {action}: {reason} ({where})",
                Location(_display()),
                hint="check that the directory holding rendered/ exists and is writable",
            )
        ]
    )


def _scan(target: Path) -> tuple[dict[str, Path], set[str]]:
    """Files (anything not a directory) and directories under ``target``, relative."""
    files: dict[str, Path] = {}
    dirs: set[str] = set()
    if not target.exists():
        return files, dirs
    if not target.is_dir():
        raise ModelfleetError([Finding(f"{target} is not a directory", Location(_display()), hint=REFRESH_HINT)])
    for rel, entry in walk(target):
        if entry.is_dir(follow_symlinks=False):
            dirs.add(rel)
        else:
            files[rel] = Path(entry.path)
    return files, dirs


def _same_content(path: Path, expected: bytes) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    return path.read_bytes() == expected


def _diff(files: Mapping[str, Path], planned: Mapping[str, bytes]) -> TreeDiff:
    return TreeDiff(
        stale=tuple(sorted(p for p in planned if p in files and not _same_content(files[p], planned[p]))),
        missing=tuple(sorted(p for p in planned if p not in files)),
        extra=tuple(sorted(p for p in files if p not in planned)),
    )


@contextlib.contextmanager
def _shared(target: Path) -> Iterator[None]:
    """Hold a shared lock while reading, so a concurrent render's swap is seen whole: the
    reader sees the old tree or the new one, never half of each. Creates nothing."""
    try:
        fd = os.open(target.parent / _helper_name(target, "lock"), os.O_RDONLY)
    except OSError:  # never written here yet (or unreadable): nothing to wait for
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def shared_lock(target: Path) -> contextlib.AbstractContextManager[None]:
    """The shared lock readers of ``target`` hold (see ``_shared``)."""
    return _shared(target)


def diff_tree(target: Path, planned: Mapping[str, bytes]) -> TreeDiff:
    """Compare the files under ``target`` with ``planned`` (path -> bytes)."""
    _validate_plan(planned)
    try:
        with _shared(target):
            files, _ = _scan(target)
            return _diff(files, planned)
    except OSError as exc:
        raise _io_error("read rendered/", exc) from None


def check_tree(target: Path, planned: Mapping[str, bytes]) -> TreeDiff:
    """The clean diff, or ``StaleOutputError`` with one finding per differing file."""
    diff = diff_tree(target, planned)
    if diff.clean:
        return diff
    findings = [
        *(_finding(p, "stale: content differs from what models.yaml renders") for p in diff.stale),
        *(_finding(p, "missing: models.yaml renders this file") for p in diff.missing),
        *(_finding(p, "extra: no longer produced by models.yaml") for p in diff.extra),
    ]
    raise StaleOutputError(findings)


def _finding(path: str, message: str) -> Finding:
    return Finding(message, Location(_display(path)), hint=REFRESH_HINT)


def _lines(content: bytes) -> list[str]:
    lines = content.decode("utf-8", errors="replace").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def unified_diff(target: Path, planned: Mapping[str, bytes], path: str) -> str:
    """A unified diff of ``path`` from the disk (``a/``) to the plan (``b/``).

    A file that is not on disk or not planned counts as empty; equal files give "".
    """
    _validate_plan({path: b""})
    on_disk = target / path
    try:
        before = on_disk.read_bytes() if on_disk.is_file() else b""
    except OSError as exc:
        raise _io_error("read rendered/", exc) from None
    after = planned.get(path, b"")
    return "".join(difflib.unified_diff(_lines(before), _lines(after), f"a/{_display(path)}", f"b/{_display(path)}"))


# --- writing -------------------------------------------------------------------------


def _helper_name(target: Path, kind: str) -> str:
    return f".{target.name}.{kind}"


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.<target>.lock`` so writers run one at a time."""
    fd = os.open(target.parent / _helper_name(target, "lock"), os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _remove_leftovers(target: Path) -> None:
    """Delete temporary trees an interrupted earlier run left next to ``target``."""
    for kind in ("tmp-", "old-"):
        for leftover in sorted(target.parent.glob(_helper_name(target, kind) + "*")):
            _remove(leftover)


def _new_temp_dir(target: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix=_helper_name(target, "tmp-"), dir=target.parent))
    path.chmod(_DIR_MODE)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, content: bytes) -> None:
    """Create ``path`` with ``content``; not yet durable (``_sync_tree`` makes it so)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)  # the umask may have removed bits
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


Syncfs = Callable[[int], int]


def _libc(name: str, argtypes: list[Any]) -> Any:
    """The Linux libc function ``name`` returning an int and setting errno, or None where the
    platform or libc has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (AttributeError, OSError):
        return None
    func.argtypes = argtypes
    func.restype = ctypes.c_int
    return func


@functools.cache
def _syncfs() -> Syncfs | None:
    """libc's ``syncfs``, or None where the platform or libc has none."""
    syncfs: Syncfs | None = _libc("syncfs", [ctypes.c_int])
    return syncfs


def _sync_tree(root_fd: int, files: list[Path], dirs: set[Path]) -> None:
    """Make every file and directory entry under the new tree durable.

    One ``syncfs`` writes back the whole filesystem holding the tree (data, inodes and
    directory entries) and, since Linux 5.8, reports a writeback error on any of it that
    happened after ``root_fd`` was opened; without ``syncfs``, every file and directory is
    fsynced (28,000 calls for a large fleet, hence the preference).
    """
    func = _syncfs()
    if func is not None:
        if func(root_fd) == 0:
            return
        err = ctypes.get_errno()
        if err not in {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}:
            raise OSError(err, os.strerror(err), "syncfs")
    for path in files:
        _fsync_file(path)
    for directory in sorted(dirs, reverse=True):
        _fsync_dir(directory)


def _link(source: Path, path: Path) -> bool:
    """Hard-link the old tree's ``source`` at ``path``; False where the file system refuses a
    link, or where the old file's mode is not the one a written file gets (then it is written)."""
    try:
        if os.lstat(source).st_mode & 0o7777 != _FILE_MODE:
            return False
        os.link(source, path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.EMLINK, errno.EXDEV, errno.EOPNOTSUPP, errno.EACCES}:
            raise
        return False
    return True


def _build(root: Path, planned: Mapping[str, bytes], unchanged: Mapping[str, Path] | None = None) -> None:
    """Fill the empty directory ``root`` with every planned file, durably. A file listed in
    ``unchanged`` (its bytes are those of the old tree's file) is hard-linked to the old
    tree's file instead of written: its mtime stays, and the old tree is never modified, so
    the swap still shows the old tree or the new one."""
    # Opened first, so that syncfs reports writeback errors of everything written below.
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        dirs = {root}
        files: list[Path] = []  # written here (a linked file's data is already durable)
        for rel in sorted(planned):
            path = root.joinpath(*PurePosixPath(rel).parts)
            for parent in reversed(path.parents):
                if parent.is_relative_to(root) and parent not in dirs:
                    parent.mkdir()
                    parent.chmod(_DIR_MODE)
                    dirs.add(parent)
            source = unchanged.get(rel) if unchanged else None
            if source is None or not _link(source, path):
                _write_file(path, planned[rel])
                files.append(path)
        _sync_tree(root_fd, files, dirs)
    finally:
        os.close(root_fd)


RenameAt2 = Callable[[int, bytes, int, bytes, int], int]


@functools.cache
def _renameat2() -> RenameAt2 | None:
    """libc's ``renameat2``, or None where the platform or libc has none."""
    renameat2: RenameAt2 | None = _libc(
        "renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    )
    return renameat2


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths; False when the kernel or filesystem cannot."""
    func = _renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE):
        err = ctypes.get_errno()
        if err in {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}:
            return False
        raise OSError(err, os.strerror(err), str(first), None, str(second))
    return True


def _swap(new: Path, target: Path) -> Path | None:
    """Put ``new`` at ``target``; return where the old tree now is (to be removed)."""
    if not target.exists():
        new.rename(target)
        return None
    if _exchange(new, target):
        return new  # the old tree now sits at the temporary name
    old = target.with_name(new.name.replace(".tmp-", ".old-", 1))
    try:
        target.rename(old)
        new.rename(target)
    except BaseException:  # an OSError, or Ctrl-C between the two renames: put the old tree back
        if not target.exists() and old.exists():
            old.rename(target)
        raise
    return old


def _planned_dirs(planned: Mapping[str, bytes]) -> set[str]:
    return {str(p) for rel in planned for p in PurePosixPath(rel).parents if str(p) != "."}


def _replace(target: Path, planned: Mapping[str, bytes]) -> TreeDiff:
    """Under the lock: compare, and swap in a new tree unless the disk already matches."""
    _remove_leftovers(target)
    files, dirs = _scan(target)
    diff = _diff(files, planned)
    if diff.clean and dirs == _planned_dirs(planned):
        return diff
    new = _new_temp_dir(target)
    try:
        changed = set(diff.stale) | set(diff.missing)
        _build(new, planned, {rel: files[rel] for rel in planned if rel not in changed})
        old = _swap(new, target)
    except BaseException:
        # Best effort: a copy left behind is removed by the next run.
        with contextlib.suppress(OSError):
            shutil.rmtree(new)
        raise
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old)
    return diff


def write_tree(target: Path, planned: Mapping[str, bytes]) -> TreeDiff:
    """Make ``target`` hold exactly ``planned``, replacing the whole tree atomically.

    Returns how the disk differed before the write. Touches nothing when it already
    matched. Raises ``ModelfleetError`` for an empty plan or when the disk refuses.
    """
    _validate_plan(planned)
    if not planned:
        raise ModelfleetError(
            [
                Finding(
                    "refusing to write an empty rendered/: the render produced no files",
                    Location(_display()),
                    hint="check that models.yaml lists models and environments enable them",
                )
            ]
        )
    if target.is_symlink():
        raise ModelfleetError(
            [
                Finding(
                    f"{target} is a symbolic link; refusing to replace it",
                    Location(_display()),
                    hint="make rendered/ a plain directory",
                )
            ]
        )
    try:
        with _locked(target):
            return _replace(target, planned)
    except OSError as exc:
        raise _io_error("write rendered/", exc) from None
