"""The file-system steps of the write stage: locks, ``fsync`` and ``syncfs``, hard links, the
``renameat2`` exchange, and the helpers next to a target, named ``.<target>.<kind>`` (the
repository's .gitignore hides ``.rendered.*``). Also ``write_atomic``, the one way ``generator``
replaces a single file, and ``write_digested`` for files whose readers check a digest in them.

The stage calls these through the module (``fs.write_file(...)``), so a test can replace a step
in one place and see every call of it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

FILE_MODE = 0o644
DIR_MODE = 0o755
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def helper_name(target: Path, kind: str) -> str:
    return f".{target.name}.{kind}"


# --- locks and the clock -----------------------------------------------------------------


@contextlib.contextmanager
def locked(target: Path) -> Iterator[int]:
    """Hold an exclusive lock on ``.<target>.lock`` so writers run one at a time."""
    fd = os.open(target.parent / helper_name(target, "lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


@contextlib.contextmanager
def shared_lock(target: Path) -> Iterator[None]:
    """Hold a shared lock while reading ``target``, so a concurrent render's swap is seen whole:
    the reader sees the old tree or the new one, never half of each. Creates nothing."""
    try:
        fd = os.open(target.parent / helper_name(target, "lock"), os.O_RDONLY)
    except OSError:  # never written here yet (or unreadable): nothing to wait for
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def clock(fd: int) -> int:
    """The file system's current time: the ctime it gives the lock file ``fd`` when touched."""
    os.utime(fd)
    return os.fstat(fd).st_ctime_ns


# --- trees next to the target ------------------------------------------------------------


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_leftovers(target: Path) -> None:
    """Delete temporary trees an interrupted earlier run left next to ``target``."""
    for kind in ("tmp-", "old-"):
        for leftover in sorted(target.parent.glob(helper_name(target, kind) + "*")):
            remove(leftover)


def new_temp_dir(target: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix=helper_name(target, "tmp-"), dir=target.parent))
    path.chmod(DIR_MODE)
    return path


def swap(new: Path, target: Path) -> Path | None:
    """Put ``new`` at ``target``; return where the old tree now is: ``new`` after an exchange,
    a ``.<target>.old-*`` after the rename fallback (to be removed), None without one."""
    if not target.exists():
        new.rename(target)
        return None
    if exchange(new, target):
        return new  # the old tree now sits at the name the new one had
    old = target.with_name(f"{helper_name(target, 'old-')}{os.getpid()}")
    try:
        target.rename(old)
        new.rename(target)
    except BaseException:  # an OSError, or Ctrl-C between the two renames: put the old tree back
        if not target.exists() and old.exists():
            old.rename(target)
        raise
    return old


def keep(old: Path, kept: Path) -> None:
    """Give the tree an exchange moved out of ``rendered/`` the kept tree's name."""
    old.rename(kept)


# --- files and durability ----------------------------------------------------------------


def write_file(path: Path, content: bytes) -> None:
    """Create ``path`` with ``content``; not yet durable (``sync_tree`` makes it so)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # the umask may have removed bits
        _write_all(fd, content)
    finally:
        os.close(fd)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(
    path: Path, content: bytes | Callable[[BinaryIO], object], *, durable: bool, prefix: str | None = None
) -> None:
    """Replace the file at ``path`` with ``content``: bytes, or what ``content`` writes to the
    (seekable) binary file it is given. A reader, and a process killed at any instant, finds the
    old file or the new one, never part of one.

    The bytes go to a temporary file in the same directory (``prefix``, by default
    ``.<name>.``, a random part, ``.tmp``), which takes the mode of the regular file it replaces
    (a new file's is 0600), and which is renamed over ``path``. Missing parent directories are
    created. ``durable``: the file is fsynced before the rename and its directory after, so the
    new file survives a power cut; without, a power cut may leave the old file, none, or a torn
    one: for callers that reject a torn file (a digest, a checksum, a parse) and lose only time.
    """
    name = f".{path.name}." if prefix is None else prefix
    try:
        fd, temp_name = tempfile.mkstemp(prefix=name, suffix=".tmp", dir=path.parent)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=name, suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        try:
            mode = _regular_mode(path)
            if mode is not None:
                os.fchmod(fd, mode)
            if isinstance(content, bytes):
                _write_all(fd, content)
            else:
                with os.fdopen(fd, "wb", closefd=False) as handle:
                    content(handle)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        temp.rename(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def write_digested(path: Path, content: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` in place with what ``content`` writes to the (seekable) binary file it is
    given: only for files that carry a digest of their content, checked by every reader, so a
    torn file, or two writers' bytes mixed, read as no file at all. Two file-system steps fewer
    than ``write_atomic`` (no temporary file, no rename), which counts for thousands of cache
    entries. A new file's mode is 0600; a symbolic link at ``path`` is refused (``OSError``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        content(handle)


def _regular_mode(path: Path) -> int | None:
    """The permission bits of the regular file at ``path`` (following a symbolic link), or None."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc(name: str, argtypes: list[Any]) -> Any:
    """The Linux libc function ``name`` returning an int and setting errno, or None where the
    platform or libc has none."""
    import ctypes  # here, not at the top: the record of `validate` answers without it

    if not sys.platform.startswith("linux"):
        return None
    try:
        func = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (AttributeError, OSError):
        return None
    func.argtypes = argtypes
    func.restype = ctypes.c_int
    return func


Syncfs = Callable[[int], int]


@functools.cache
def syncfs() -> Syncfs | None:
    """libc's ``syncfs``, or None where the platform or libc has none."""
    import ctypes

    func: Syncfs | None = _libc("syncfs", [ctypes.c_int])
    return func


def sync_tree(root_fd: int, files: list[Path], dirs: set[Path]) -> None:
    """Make the written files and the changed directory entries under a tree durable.

    One ``syncfs`` writes back the whole filesystem holding the tree (data, inodes and
    directory entries) and, since Linux 5.8, reports a writeback error on any of it that
    happened after ``root_fd`` was opened; without ``syncfs``, every given file and directory
    is fsynced (one call each, hence the preference).
    """
    func = syncfs()
    if func is not None:
        if func(root_fd) == 0:
            return
        import ctypes

        err = ctypes.get_errno()
        if err not in {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}:
            raise OSError(err, os.strerror(err), "syncfs")
    for path in files:
        fsync_file(path)
    for directory in sorted(dirs, reverse=True):
        fsync_dir(directory)


# --- links and the exchange --------------------------------------------------------------


def link(source: Path, path: Path) -> bool:
    """Hard-link the old tree's ``source`` at ``path``; False where the file system refuses a
    link, or where the old file's mode is not the one a written file gets (then it is written)."""
    try:
        if os.lstat(source).st_mode & 0o7777 != FILE_MODE:
            return False
        os.link(source, path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.EMLINK, errno.EXDEV, errno.EOPNOTSUPP, errno.EACCES}:
            raise
        return False
    return True


RenameAt2 = Callable[[int, bytes, int, bytes, int], int]


@functools.cache
def renameat2() -> RenameAt2 | None:
    """libc's ``renameat2``, or None where the platform or libc has none."""
    import ctypes

    func: RenameAt2 | None = _libc(
        "renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    )
    return func


def exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths; False when the kernel or filesystem cannot."""
    func = renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE):
        import ctypes

        err = ctypes.get_errno()
        if err in {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}:
            return False
        raise OSError(err, os.strerror(err), str(first), None, str(second))
    return True
