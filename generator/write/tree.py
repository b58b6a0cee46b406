"""Stage 7, write: the only code that touches ``rendered/``.

The plan maps relative POSIX paths to file bytes, or to ``Kept(digest)`` for a file whose
bytes are known only by their blake2b digest ("the bytes last written at this path").
``diff_tree`` compares a plan with the disk, ``check_tree`` turns a difference into a
``StaleOutputError`` for ``render --check``, and ``write_tree`` (or the streaming
``tree_writer``) makes ``rendered/`` hold exactly the plan, switching the whole tree at once
with one ``renameat2(RENAME_EXCHANGE)``: readers, and a process killed at any instant, see
the old tree or the new one, never a mix.

Two trees and a manifest. The tree swapped out by the last write is not deleted: it stays
as ``.rendered.kept``, and ``.rendered.manifest`` records, for both trees, each file's
content digest with its ``(st_ino, st_size, st_mtime_ns, st_ctime_ns)`` and each
directory's ``(st_ino, st_mtime_ns, st_ctime_ns)``. A write first verifies both records with
one ``lstat`` per recorded path (an edit changes a file's ctime, an added or removed entry
changes its directory's mtime; a path whose recorded ctime is not older than the file
system's clock when it was recorded is "racy" and is verified by reading it, as git does).
It then brings the kept tree to the plan in place, touching only the paths whose digest
differs: new bytes go to a temporary file renamed over the path (an inode is never
modified, since both trees share the unchanged files' inodes through hard links), a file
the visible tree already holds is hard-linked from it, and paths the plan lacks are
removed. The kept tree's trust is withdrawn in the manifest (one byte, synced) before its
first change, so an interrupted update leaves an untrusted kept tree, never a manifest that
lies. The updated tree is made durable (one ``syncfs`` on Linux, an ``fsync`` per changed
file and directory elsewhere), exchanged with ``rendered/``, the parent directory is
fsynced, and the new manifest is written: the new visible tree's records, and the old
visible tree's, now kept, where every file whose link count the update changed (hence its
ctime) is looked at again and read again.

Without a trusted kept tree (first writes, a tree edited by hand, an interrupted update)
the new tree is built in a fresh ``.rendered.tmp-*``: files the visible tree already holds
(known by a verified manifest, or by reading it) are hard-linked, so they keep their mtime;
after the exchange the old tree is kept only when every one of its files is known. Without
``renameat2`` the old tree is renamed away and deleted, and nothing is kept. A write whose
plan the disk already holds touches nothing in ``rendered/``. Every helper name starts with
``.<target>.`` (``.rendered.lock``, ``.rendered.kept``, ``.rendered.manifest``,
``.rendered.tmp-*``, ``.rendered.old-*``), which the repository's ``.gitignore`` hides.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..digest import content_digest, file_digest
from . import findings, fs
from .manifest import DirRec, FileRec, Tree, decode_body, encode_body
from .planned import (
    Content,
    Kept,
    KeptUnavailable,
    TreeDiff,
    add_parents,
    check_collision,
    check_content,
    check_path,
    diff_digests,
    digest_of,
    parent_dir,
    parents,
    validate_plan,
)
from .walk import walk

__all__ = [
    "TreeWriter",
    "check_tree",
    "diff_tree",
    "last_recorded",
    "last_written",
    "tree_writer",
    "unified_diff",
    "write_tree",
]

_FSYNC_MAX = 256  # an update of the kept tree with more changed paths than this syncs with syncfs
# The manifest: _MAGIC, b"1" (the kept record is trusted) or b"0", a space, the hex blake2b
# digest of the body (so a truncated or edited manifest is no manifest), b"\n", the body
# (``generator.write.manifest``).
_MAGIC = b"modelfleet-manifest 2 kept="


# --- records of trees on disk ----------------------------------------------------------


@dataclass
class _Record:
    """What is known about one tree: every regular file of mode 0644 and every directory.

    ``odd`` holds the other entries a scan found (a symbolic link, a file of another mode:
    its digest, or None when it is not a regular file); a tree with any, or with a directory
    of another mode than 0755, is not ``complete`` and is never recorded in the manifest.
    ``racy`` paths were recorded in the same tick of the file system's clock as their last
    change: a later change in that tick would not show in their stat, so they are read.
    """

    files: dict[str, FileRec] = field(default_factory=dict)
    dirs: dict[str, DirRec] = field(default_factory=dict)
    racy: set[str] = field(default_factory=set)
    odd: dict[str, str | None] = field(default_factory=dict)
    complete: bool = True

    def digests(self) -> dict[str, str | None]:
        return {**{p: f[0] for p, f in self.files.items()}, **self.odd}


def _dir_rec(st: os.stat_result) -> DirRec:
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def _file_rec(digest: str, st: os.stat_result) -> FileRec:
    return (digest, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _join(root: Path, rel: str) -> str:
    return f"{root}/{rel}" if rel else str(root)


def _listed(root: Path, record: _Record, directory: str) -> bool:
    """True when every entry of ``directory`` is recorded (a recorded path that is gone fails
    its own ``lstat``)."""
    prefix = f"{directory}/" if directory else ""
    with os.scandir(_join(root, directory)) as entries:
        return all(f"{prefix}{e.name}" in record.files or f"{prefix}{e.name}" in record.dirs for e in entries)


def _verify(root: Path, record: _Record, clock: int | None, shared: _Record | None = None) -> bool:
    """True when ``root`` holds exactly what ``record`` says: one ``lstat`` per recorded path;
    racy files are read and racy directories listed. With ``clock`` (the file system's time
    before this check), paths no longer racy by it lose the mark.

    ``shared`` is the just verified record of the other tree. A file recorded alike in both
    (the same inode, hard-linked at the same path) needs no ``lstat`` here: its inode is
    unchanged (the other tree's ``lstat`` says so), and this tree's entry still names it,
    because the directory holding the entry is unchanged (its ``lstat`` below; a directory
    is always recorded before the files in it, and is not racy)."""
    base = f"{root}/"
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    # Paths relative to the tree's descriptor: shorter lookups, and the tree cannot move away.
    lstat = functools.partial(os.stat, dir_fd=fd, follow_symlinks=False)
    try:
        for rel, (ino, mtime, ctime) in record.dirs.items():
            st = lstat(rel) if rel else os.fstat(fd)
            if st.st_ino != ino or st.st_mtime_ns != mtime or st.st_ctime_ns != ctime or not stat.S_ISDIR(st.st_mode):
                return False
        same = shared.files if shared is not None else {}
        racy_dirs = record.racy & record.dirs.keys()
        for rel, rec in record.files.items():
            if same and same.get(rel) == rec and (not racy_dirs or rel.rpartition("/")[0] not in racy_dirs):
                continue
            st = lstat(rel)
            if st.st_ino != rec[1] or st.st_size != rec[2] or st.st_mtime_ns != rec[3] or st.st_ctime_ns != rec[4]:
                return False
        for rel in sorted(record.racy):
            if rel in record.files:
                if file_digest(base + rel) != record.files[rel][0]:
                    return False
            elif rel in record.dirs and not _listed(root, record, rel):
                return False
    except OSError:
        return False
    finally:
        os.close(fd)
    if clock is not None:
        record.racy = {
            p for p in record.racy if (record.files[p][4] if p in record.files else record.dirs[p][2]) >= clock
        }
    return True


def _scan_record(root: Path, clock: int | None) -> _Record:
    """Read the whole tree at ``root`` (absent: empty): every file is read and hashed, after
    its ``lstat``, so a change while reading shows as a changed stat next time."""
    record = _Record()
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        return record
    if not stat.S_ISDIR(top.st_mode):
        raise findings.not_a_directory(root)
    record.dirs[""] = _dir_rec(top)
    if stat.S_IMODE(top.st_mode) != fs.DIR_MODE:
        record.complete = False
    for rel, entry in walk(root):
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            record.dirs[rel] = _dir_rec(st)
            if stat.S_IMODE(st.st_mode) != fs.DIR_MODE:
                record.complete = False
            if clock is not None and st.st_ctime_ns >= clock:
                record.racy.add(rel)
        elif stat.S_ISREG(st.st_mode):
            digest = file_digest(entry.path)
            if stat.S_IMODE(st.st_mode) == fs.FILE_MODE:
                record.files[rel] = _file_rec(digest, st)
                if clock is not None and st.st_ctime_ns >= clock:
                    record.racy.add(rel)
            else:
                record.odd[rel] = digest
        else:
            record.odd[rel] = None
    if clock is not None and top.st_ctime_ns >= clock:
        record.racy.add("")
    record.complete = record.complete and not record.odd
    return record


# --- the manifest ----------------------------------------------------------------------


def _manifest_path(target: Path) -> Path:
    return target.parent / fs.helper_name(target, "manifest")


def _tree(record: _Record | None) -> Tree | None:
    return (record.files, record.dirs, record.racy) if record is not None else None


@dataclass
class _Manifest:
    visible: _Record | None
    kept: _Record | None  # None unless the kept flag is set


def _load_manifest(target: Path) -> _Manifest:
    """The recorded trees; an absent, unreadable or malformed manifest records none."""
    try:
        data = _manifest_path(target).read_bytes()
    except OSError:
        return _Manifest(None, None)
    head, _, body = data.partition(b"\n")
    flag, _, checksum = head[len(_MAGIC) :].partition(b" ")
    if not head.startswith(_MAGIC) or flag not in {b"0", b"1"} or checksum != _checksum(body):
        return _Manifest(None, None)
    decoded = _DECODED.get(head)
    if decoded is None:
        try:
            visible, kept = decode_body(body, with_kept=flag == b"1")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            return _Manifest(None, None)
        decoded = _Manifest(
            _Record(*visible) if visible is not None else None, _Record(*kept) if kept is not None else None
        )
        _DECODED.clear()
        _DECODED[head] = decoded
    return _Manifest(_copy_record(decoded.visible), _copy_record(decoded.kept))


# The last manifest decoded, by its head line (magic, flag and the body's checksum): a render
# reads the manifest twice (is rendered/ current? then the writer), and decoding 26,000 files'
# records costs more than the copies handed out (callers may change what they get).
_DECODED: dict[bytes, _Manifest] = {}


def _copy_record(record: _Record | None) -> _Record | None:
    if record is None:
        return None
    return _Record(dict(record.files), dict(record.dirs), set(record.racy), dict(record.odd), record.complete)


def _checksum(body: bytes) -> bytes:
    return content_digest(body).encode()


def _write_manifest(target: Path, visible: _Record | None, kept: _Record | None) -> None:
    """Replace the manifest (a temporary file renamed over it). Not synced: it describes
    trees already durable, and a manifest lost to a power cut leaves the previous one,
    whose kept flag was cleared before anything it describes changed."""
    body = encode_body(_tree(visible), _tree(kept))
    data = b"%s%s %s\n%s" % (_MAGIC, b"1" if kept is not None else b"0", _checksum(body), body)
    fd, name = tempfile.mkstemp(prefix=fs.helper_name(target, "tmp-manifest-"), dir=target.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        manifest = _manifest_path(target)
        if manifest.is_dir() and not manifest.is_symlink():  # not ours: it is in the way
            shutil.rmtree(manifest)
        Path(name).rename(manifest)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(name).unlink()
        raise


def _invalidate(target: Path) -> None:
    """Withdraw the kept tree's trust: clear the manifest's kept flag in place, durably."""
    try:
        fd = os.open(_manifest_path(target), os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        if os.pread(fd, len(_MAGIC) + 1, 0)[: len(_MAGIC)] == _MAGIC:
            os.pwrite(fd, b"0", len(_MAGIC))
            getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)


# --- reading ---------------------------------------------------------------------------


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


def _verified_visible(target: Path) -> _Record | None:
    record = _load_manifest(target).visible
    return record if record is not None and _verify(target, record, None) else None


def last_recorded(target: Path) -> dict[str, str] | None:
    """Path -> digest of every file the manifest says ``target`` holds, without verifying the
    disk: what the last write wrote, for a caller that only needs to rule a tree out."""
    with fs.shared_lock(target):
        record = _load_manifest(target).visible
    return {p: f[0] for p, f in record.files.items()} if record is not None else None


def last_written(target: Path) -> dict[str, str] | None:
    """Path -> digest of every file under ``target`` as the manifest records it, when the
    tree on disk verifies against it; None without a trusted record."""
    with fs.shared_lock(target):
        record = _verified_visible(target)
    return {p: f[0] for p, f in record.files.items()} if record is not None else None


def diff_tree(target: Path, planned: Mapping[str, Content]) -> TreeDiff:
    """Compare the files under ``target`` with ``planned`` (path -> bytes or ``Kept``): by
    digest when the manifest's record of ``target`` verifies, else by reading the files."""
    validate_plan(planned)
    try:
        with fs.shared_lock(target):
            record = _verified_visible(target)
            if record is not None:
                return diff_digests(record.digests(), {p: digest_of(c) for p, c in planned.items()})
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


# --- writing -----------------------------------------------------------------------------


class TreeWriter:
    """Brings ``rendered/`` to a plan given one file at a time (see ``tree_writer``).

    Each added file goes straight to disk, into the kept tree (when it is trusted) or into a
    fresh temporary tree; only its path and digest stay in memory. Files the visible tree
    already holds are linked from it at ``commit``, and only if the tree changes at all.
    """

    def __init__(self, target: Path, lock_fd: int) -> None:
        self._target = target
        self._lock_fd = lock_fd
        self._kept_path = target.parent / fs.helper_name(target, "kept")
        self._planned: dict[str, str] = {}  # path -> digest
        self._planned_dirs: dict[str, str] = {}  # directory -> a planned path inside it
        self._pending: set[str] = set()  # planned paths to link from the visible tree
        self._visible = _Record()
        self._visible_scanned = False  # read from disk, not from the manifest
        self._kept: _Record | None = None  # the trusted kept tree's record, being updated
        self._flagged = False  # the manifest's kept flag is set
        self._stage: Path | None = None  # the tree being brought to the plan
        self._stage_fd: int | None = None
        self._made: set[str] = set()  # directories created in the stage
        self._written: dict[str, str] = {}  # stage files created (written or linked) -> digest
        self._synced: list[Path] = []  # stage files whose data was written here
        self._touched: set[str] = set()  # stage directories whose entries changed
        self._affected: set[int] = set()  # inodes whose link count this writer changed
        self._done = False  # committed: no more files
        self._swapped = False  # the stage is rendered/ now

    @classmethod
    def _open(cls, target: Path, lock_fd: int) -> TreeWriter:
        """Under the lock: clean up, then find what each tree holds."""
        writer = cls(target, lock_fd)
        fs.remove_leftovers(target)
        clock = fs.clock(lock_fd)
        manifest = _load_manifest(target)
        writer._flagged = manifest.kept is not None
        if manifest.visible is not None and _verify(target, manifest.visible, clock):
            writer._visible = manifest.visible
        else:
            writer._visible = _scan_record(target, clock)
            writer._visible_scanned = True
        kept = manifest.kept
        if kept is not None and "" in writer._visible.dirs and _verify(writer._kept_path, kept, clock, writer._visible):
            writer._kept = kept
            writer._stage = writer._kept_path
        else:
            if writer._flagged:
                _invalidate(target)
                writer._flagged = False
            if os.path.lexists(writer._kept_path):
                fs.remove(writer._kept_path)
        return writer

    def holds(self, path: str, digest: str) -> bool:
        """True when ``Kept(digest)`` can be planned at ``path``: a tree holds those bytes there."""
        for record in (self._visible, self._kept):
            if record is not None and path in record.files and record.files[path][0] == digest:
                return True
        return False

    def add(self, path: str, content: Content) -> str:
        """Plan ``content`` at ``path`` and put it in place in the tree being prepared;
        return its digest (``content_digest``), so a caller need not hash the bytes again.

        Raises ``ValueError`` for a bad or colliding path, ``KeptUnavailable`` (before
        anything is planned at ``path``) for a ``Kept`` no tree holds."""
        check_path(path)
        check_content(path, content)
        return self._add(path, content)

    def _add(self, path: str, content: Content) -> str:
        if self._done:
            raise ValueError("this tree writer has committed")
        digest = digest_of(content)
        if isinstance(content, Kept) and not self.holds(path, digest):
            raise KeptUnavailable(path)
        check_collision(path, self._planned, self._planned_dirs)
        self._planned[path] = digest
        add_parents(path, self._planned_dirs)
        try:
            self._place(path, content, digest)
        except OSError as exc:
            raise findings.io_error("write rendered/", exc) from None
        return digest

    def _add_plan(self, planned: Mapping[str, Content]) -> None:
        """``write_tree``'s whole plan (already checked by ``validate_plan``): every ``Kept``
        entry is found in a tree before anything is placed. What ``_add`` does file by file,
        with the usual case inline: a plan of recorded digests (the delta path's) is mostly
        files the visible tree holds already, 26,000 of them at 1000x3."""
        if self._done or self._planned:
            raise ValueError("write_tree's writer takes one whole plan")
        visible = self._visible.files
        kept = self._kept.files if self._kept is not None else {}
        digests: dict[str, str] = {}
        for path, content in planned.items():
            if isinstance(content, Kept):
                digest = content.digest
                seen, other = visible.get(path), kept.get(path)
                if (seen is None or seen[0] != digest) and (other is None or other[0] != digest):
                    raise KeptUnavailable(path)
            else:
                digest = content_digest(content)
            digests[path] = digest
        self._planned = digests
        for path in digests:
            add_parents(path, self._planned_dirs)
        pending = self._pending
        try:
            for path, digest in digests.items():
                seen = visible.get(path)
                if seen is not None and seen[0] == digest:
                    other = kept.get(path)
                    if other is None or other[0] != digest:
                        pending.add(path)  # linked at commit, if the tree changes at all
                    continue
                self._place(path, planned[path], digest)
        except OSError as exc:
            raise findings.io_error("write rendered/", exc) from None

    def _place(self, path: str, content: Content, digest: str) -> None:
        seen = self._visible.files.get(path)
        kept = self._kept.files.get(path) if self._kept is not None else None
        if seen is not None and seen[0] == digest:
            if kept is None or kept[0] != digest:
                self._pending.add(path)  # linked at commit, if the tree changes at all
            return
        if kept is not None and kept[0] == digest:
            return
        assert not isinstance(content, Kept)  # holds() said one of the trees has it
        if self._kept is not None:
            self._put(path, content)
        else:
            stage = self._temp_stage()
            self._make_parents(path)
            dest = stage / path
            fs.write_file(dest, content)
            self._synced.append(dest)
        self._written[path] = digest

    # -- the stage ------------------------------------------------------------------------

    def _temp_stage(self) -> Path:
        if self._stage is None:
            self._stage = fs.new_temp_dir(self._target)
            self._stage_fd = os.open(self._stage, os.O_RDONLY | os.O_DIRECTORY)
        return self._stage

    def _begin(self) -> Path:
        """Before the kept tree's first change: withdraw its trust in the manifest."""
        assert self._stage is not None and self._kept is not None
        if self._stage_fd is None:
            if self._flagged:
                _invalidate(self._target)
                self._flagged = False
            # Opened before any change, so that syncfs reports writeback errors of all of them.
            self._stage_fd = os.open(self._stage, os.O_RDONLY | os.O_DIRECTORY)
        return self._stage

    def _make_parents(self, path: str) -> None:
        stage = self._stage
        assert stage is not None
        for parent in parents(path):
            if parent in self._made or (self._kept is not None and parent in self._kept.dirs):
                continue
            if self._kept is not None and parent in self._kept.files:
                self._unlink(parent)
            directory = stage / parent
            directory.mkdir()
            directory.chmod(fs.DIR_MODE)
            self._made.add(parent)
            self._touched.add(parent_dir(parent))

    def _temp_name(self, path: str) -> Path:
        """A name next to ``path`` in the kept tree that neither the plan nor a record uses."""
        assert self._stage is not None and self._kept is not None
        head, _, name = path.rpartition("/")
        count = 0
        while True:
            candidate = f"{head}/.{name}.new{count}" if head else f".{name}.new{count}"
            taken = (self._planned, self._planned_dirs, self._made, self._kept.files, self._kept.dirs)
            if all(candidate not in names for names in taken):
                return self._stage / candidate
            count += 1

    def _put(self, path: str, content: bytes | None) -> None:
        """Put ``content`` (None: the visible tree's file) at ``path`` in the kept tree: a new
        inode renamed over whatever is there."""
        assert self._kept is not None
        stage = self._begin()
        self._make_parents(path)
        if path in self._kept.dirs:
            self._remove_dirs({path})
        temp = self._temp_name(path)
        if content is None:
            source = self._visible.files[path]
            if fs.link(self._target / path, temp):
                self._affected.add(source[1])
            else:
                self._copy_visible(path, temp)
                self._synced.append(stage / path)
        else:
            fs.write_file(temp, content)
            self._synced.append(stage / path)
        replaced = self._kept.files.pop(path, None)
        if replaced is not None:
            self._affected.add(replaced[1])
        temp.rename(stage / path)
        self._touched.add(parent_dir(path))

    def _copy_visible(self, path: str, dest: Path) -> None:
        """Where the file system refuses a link: copy the visible tree's file, checking that it
        still holds the planned bytes."""
        data = (self._target / path).read_bytes()
        if content_digest(data) != self._planned[path]:
            raise findings.changed_underneath(path)
        fs.write_file(dest, data)

    def _unlink(self, path: str) -> None:
        assert self._stage is not None and self._kept is not None
        check_path(path)
        (self._stage / path).unlink()
        self._affected.add(self._kept.files.pop(path)[1])
        self._touched.add(parent_dir(path))

    def _remove_dirs(self, tops: set[str]) -> None:
        """Remove the kept tree's directories ``tops`` with all they hold."""
        assert self._stage is not None and self._kept is not None
        if not tops:
            return
        for top in sorted(tops):
            check_path(top)
            shutil.rmtree(self._stage / top)
            self._touched.add(parent_dir(top))

        def inside(path: str) -> bool:
            return path in tops or any(parent in tops for parent in parents(path))

        for path in [p for p in self._kept.files if inside(p)]:
            self._affected.add(self._kept.files.pop(path)[1])
        for path in [p for p in self._kept.dirs if p and inside(p)]:
            del self._kept.dirs[path]
        self._kept.racy = {p for p in self._kept.racy if p in self._kept.files or p in self._kept.dirs}

    def _finish_kept(self) -> None:
        """Finish bringing the kept tree to the plan, durably: link what the visible tree holds,
        remove what the plan lacks."""
        assert self._kept is not None
        stage = self._begin()
        for path in sorted(self._pending):
            self._put(path, None)
            self._written[path] = self._planned[path]
        unplanned = self._kept.dirs.keys() - self._planned_dirs.keys() - {""}
        self._remove_dirs({d for d in unplanned if not any(p in unplanned for p in parents(d))})
        for path in [p for p in self._kept.files if p not in self._planned]:
            self._unlink(path)
        dirs = {stage / d if d else stage for d in self._kept_dirs_touched()} | {stage}
        assert self._stage_fd is not None
        if len(self._synced) + len(dirs) <= _FSYNC_MAX:
            # A few changes: an fsync each is cheaper than syncfs, which also writes back
            # everything else the file system holds dirty.
            for written in self._synced:
                fs.fsync_file(written)
            for directory in sorted(dirs, reverse=True):
                fs.fsync_dir(directory)
        else:
            fs.sync_tree(self._stage_fd, self._synced, dirs)

    def _kept_dirs_touched(self) -> set[str]:
        """The kept tree's directories (still there) whose entries this writer changed."""
        assert self._kept is not None
        return {d for d in self._touched | self._made if d == "" or d in self._made or d in self._kept.dirs}

    def _finish_temp(self) -> None:
        """Finish the temporary tree, durably: link every file the visible tree holds."""
        stage = self._temp_stage()
        for path in sorted(self._pending):
            self._make_parents(path)
            if fs.link(self._target / path, stage / path):
                self._affected.add(self._visible.files[path][1])
            else:
                self._copy_visible(path, stage / path)
                self._synced.append(stage / path)
            self._written[path] = self._planned[path]
        assert self._stage_fd is not None
        fs.sync_tree(self._stage_fd, self._synced, {stage / d for d in self._made} | {stage})

    # -- commit -----------------------------------------------------------------------------

    def commit(self) -> TreeDiff:
        """Swap the planned tree in (unless ``rendered/`` already holds it); return how
        ``rendered/`` differed before."""
        if self._done:
            raise ValueError("this tree writer has committed")
        if not self._planned:
            raise findings.empty_plan()
        self._done = True
        try:
            return self._commit()
        except OSError as exc:
            raise findings.io_error("write rendered/", exc) from None

    def _commit(self) -> TreeDiff:
        visible = self._visible
        diff = diff_digests(visible.digests(), self._planned)
        if diff.clean and "" in visible.dirs and visible.dirs.keys() - {""} == self._planned_dirs.keys():
            self._unchanged()
            return diff
        if self._kept is not None:
            _update(self)
        else:
            _build(self)
        stage = self._stage
        assert stage is not None
        old = fs.swap(stage, self._target)
        self._swapped = True
        fs.fsync_dir(self._target.parent)
        clock = fs.clock(self._lock_fd)
        record = self._new_record(clock)
        kept: _Record | None = None
        if old == stage and visible.complete:
            if self._kept is None:
                fs.keep(old, self._kept_path)
                old = self._kept_path
            kept = self._old_record(clock)
        if old is not None and kept is None:
            fs.remove(old)
        _write_manifest(self._target, record, kept)
        return diff

    def _unchanged(self) -> None:
        """``rendered/`` already holds the plan: touch nothing there; record what was learnt."""
        if self._stage_fd is not None and self._kept is not None:
            # The kept tree changed (a file of another mode than 0644 had the planned bytes).
            fs.remove(self._kept_path)
            self._kept = None
        elif not self._visible_scanned:
            return
        visible = self._visible if self._visible.complete else None
        if visible is not None or self._kept is not None:
            _write_manifest(self._target, visible, self._kept)

    def _new_record(self, clock: int) -> _Record:
        """The record of the tree just swapped in, at ``rendered/``: what this writer made is
        looked at again (directories before the files in them); of the kept tree's other
        records, those whose inode's link count changed are read again."""
        target = self._target
        if self._kept is not None:
            record = _Record(dict(self._kept.files), dict(self._kept.dirs), set(self._kept.racy))
            dirs = self._kept_dirs_touched() | {""}
        else:
            record = _Record()
            dirs = self._made | {""}
        for path in dirs:
            st = os.lstat(_join(target, path))
            record.dirs[path] = _dir_rec(st)
            if st.st_ctime_ns >= clock:
                record.racy.add(path)
        reread = [p for p, rec in record.files.items() if p not in self._written and rec[1] in self._affected]
        for path in reread:
            st = os.lstat(_join(target, path))
            record.files[path] = _file_rec(file_digest(_join(target, path)), st)
            if st.st_ctime_ns >= clock:
                record.racy.add(path)
        for path, digest in self._written.items():
            st = os.lstat(_join(target, path))
            record.files[path] = _file_rec(digest, st)
            if st.st_ctime_ns >= clock:
                record.racy.add(path)
        return record

    def _old_record(self, clock: int) -> _Record | None:
        """The record of the tree swapped out, now the kept tree; None when a file whose link
        count this writer changed (so its ctime) is not exactly the one recorded."""
        kept = self._kept_path
        record = _Record(dict(self._visible.files), dict(self._visible.dirs), set(self._visible.racy))
        top = os.lstat(kept)
        ino, mtime, _ = record.dirs[""]
        if top.st_ino != ino or top.st_mtime_ns != mtime:
            return None
        record.dirs[""] = _dir_rec(top)
        if top.st_ctime_ns >= clock:
            record.racy.add("")
        for path, rec in self._visible.files.items():
            if rec[1] not in self._affected:
                continue
            location = _join(kept, path)
            st = os.lstat(location)
            if (st.st_ino, st.st_size, st.st_mtime_ns) != rec[1:4] or file_digest(location) != rec[0]:
                return None
            record.files[path] = _file_rec(rec[0], st)
            if st.st_ctime_ns >= clock:
                record.racy.add(path)
        return record

    def _close(self) -> None:
        """Leaving without a commit: remove a temporary tree; a kept tree changed in place
        stays, untrusted (its flag was cleared before its first change)."""
        if self._stage_fd is not None:
            os.close(self._stage_fd)
            self._stage_fd = None
        if not self._swapped and self._stage is not None and self._stage != self._kept_path:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._stage)


def _update(writer: TreeWriter) -> None:
    """The kept tree is complete and durable (a step of its own, for the tests' kill points)."""
    writer._finish_kept()


def _build(writer: TreeWriter) -> None:
    """The temporary tree is complete and durable (a step of its own, for the tests' kill points)."""
    writer._finish_temp()


@contextlib.contextmanager
def tree_writer(target: Path) -> Iterator[TreeWriter]:
    """Hold the writers' lock and stream a plan into ``target``: ``writer.add(path, bytes
    or Kept)`` for every file, then ``writer.commit()``. Leaving without a commit (or on an
    exception) leaves ``target`` untouched."""
    if target.is_symlink():
        raise findings.symlink_refused(target)
    with contextlib.ExitStack() as stack:
        try:
            lock_fd = stack.enter_context(fs.locked(target))
            writer = TreeWriter._open(target, lock_fd)
        except OSError as exc:
            raise findings.io_error("write rendered/", exc) from None
        stack.callback(writer._close)
        yield writer


def write_tree(target: Path, planned: Mapping[str, Content]) -> TreeDiff:
    """Make ``target`` hold exactly ``planned``, replacing the whole tree atomically.

    Returns how the disk differed before the write. Touches nothing when it already
    matched. Raises ``ModelfleetError`` for an empty plan or when the disk refuses, and
    ``KeptUnavailable``, before anything changes, for a ``Kept`` entry no tree holds.
    """
    validate_plan(planned)
    if not planned:
        raise findings.empty_plan()
    with tree_writer(target) as writer:
        writer._add_plan(planned)
        return writer.commit()
