"""What is known about a tree on disk, and how it is checked.

A record holds each regular file of mode 0644 with its content digest and ``(st_ino, st_size,
st_mtime_ns, st_ctime_ns)``, and each directory with ``(st_ino, st_mtime_ns, st_ctime_ns)``.
``verify`` checks a record with one ``lstat`` per recorded path: an edit changes a file's
ctime, an added or removed entry its directory's mtime. A path whose ctime is not older than
the file system's clock when it was recorded is "racy" (a later change in the same tick would
not show in its stat) and is verified by reading it, as git does. ``scan`` reads a whole tree.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from generator.digest import file_digest
from generator.write import findings
from generator.write.fs import DIR_MODE, FILE_MODE
from generator.write.walk import walk

FileRec = tuple[str, int, int, int, int]  # digest, st_ino, st_size, st_mtime_ns, st_ctime_ns
DirRec = tuple[int, int, int]  # st_ino, st_mtime_ns, st_ctime_ns; the tree itself is ""
Tree = tuple[dict[str, FileRec], dict[str, DirRec], set[str]]  # files, dirs, racy paths


@dataclass
class Record:
    """What is known about one tree: every regular file of mode 0644 and every directory.

    ``odd`` holds the other entries a scan found (a symbolic link, a file of another mode:
    its digest, or None when it is not a regular file); a tree with any, or with a directory
    of another mode than 0755, is not ``complete`` and is never recorded in the manifest.
    ``racy`` paths were recorded in the same tick of the file system's clock as their last
    change, so they are read.
    """

    files: dict[str, FileRec] = field(default_factory=dict)
    dirs: dict[str, DirRec] = field(default_factory=dict)
    racy: set[str] = field(default_factory=set)
    odd: dict[str, str | None] = field(default_factory=dict)
    complete: bool = True

    def digests(self) -> dict[str, str | None]:
        return {**{p: f[0] for p, f in self.files.items()}, **self.odd}

    def tree(self) -> Tree:
        return self.files, self.dirs, self.racy

    def copy(self) -> Record:
        return Record(dict(self.files), dict(self.dirs), set(self.racy), dict(self.odd), self.complete)


def dir_rec(st: os.stat_result) -> DirRec:
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def file_rec(digest: str, st: os.stat_result) -> FileRec:
    return (digest, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def join(root: Path, rel: str) -> str:
    return f"{root}/{rel}" if rel else str(root)


def _listed(root: Path, record: Record, directory: str) -> bool:
    """True when every entry of ``directory`` is recorded (a recorded path that is gone fails
    its own ``lstat``)."""
    prefix = f"{directory}/" if directory else ""
    with os.scandir(join(root, directory)) as entries:
        return all(f"{prefix}{e.name}" in record.files or f"{prefix}{e.name}" in record.dirs for e in entries)


def verify(root: Path, record: Record, clock: int | None, shared: Record | None = None) -> bool:
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
        settle(record, clock)
    return True


def settle(record: Record, clock: int) -> None:
    """Drop the racy mark of each path no longer racy by ``clock`` (the file system's time
    before a check that found the record true)."""
    record.racy = {p for p in record.racy if (record.files[p][4] if p in record.files else record.dirs[p][2]) >= clock}


def scan(root: Path, clock: int | None) -> Record:
    """Read the whole tree at ``root`` (absent: empty): every file is read and hashed, after
    its ``lstat``, so a change while reading shows as a changed stat next time."""
    record = Record()
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        return record
    if not stat.S_ISDIR(top.st_mode):
        raise findings.not_a_directory(root)
    record.dirs[""] = dir_rec(top)
    if stat.S_IMODE(top.st_mode) != DIR_MODE:
        record.complete = False
    for rel, entry in walk(root):
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            record.dirs[rel] = dir_rec(st)
            if stat.S_IMODE(st.st_mode) != DIR_MODE:
                record.complete = False
            if clock is not None and st.st_ctime_ns >= clock:
                record.racy.add(rel)
        elif stat.S_ISREG(st.st_mode):
            digest = file_digest(entry.path)
            if stat.S_IMODE(st.st_mode) == FILE_MODE:
                record.files[rel] = file_rec(digest, st)
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


def swapped_in(
    root: Path, base: Record | None, *, dirs: set[str], written: Mapping[str, str], affected: set[int], clock: int
) -> Record:
    """The record of the tree a write just swapped in at ``root``: ``base`` (the kept tree's
    record, brought to the plan; None for a tree built afresh) with the directories ``dirs``
    and the files ``written`` (path -> digest) looked at again, directories first; of
    ``base``'s other files, those whose inode's link count the write changed (``affected``)
    are read again."""
    new = Record(dict(base.files), dict(base.dirs), set(base.racy)) if base is not None else Record()
    for path in dirs:
        st = os.lstat(join(root, path))
        new.dirs[path] = dir_rec(st)
        if st.st_ctime_ns >= clock:
            new.racy.add(path)
    reread = [p for p, rec in new.files.items() if p not in written and rec[1] in affected]
    for path in reread:
        st = os.lstat(join(root, path))
        new.files[path] = file_rec(file_digest(join(root, path)), st)
        if st.st_ctime_ns >= clock:
            new.racy.add(path)
    for path, digest in written.items():
        st = os.lstat(join(root, path))
        new.files[path] = file_rec(digest, st)
        if st.st_ctime_ns >= clock:
            new.racy.add(path)
    return new


def swapped_out(root: Path, visible: Record, affected: set[int], clock: int) -> Record | None:
    """The record of the tree a write swapped out, now the kept tree at ``root``: ``visible``
    (its record while it was visible) with the files whose link count the write changed
    (``affected``, so their ctime) looked at again; None when one is not exactly the file
    recorded."""
    old = Record(dict(visible.files), dict(visible.dirs), set(visible.racy))
    top = os.lstat(root)
    ino, mtime, _ = old.dirs[""]
    if top.st_ino != ino or top.st_mtime_ns != mtime:
        return None
    old.dirs[""] = dir_rec(top)
    if top.st_ctime_ns >= clock:
        old.racy.add("")
    for path, rec in visible.files.items():
        if rec[1] not in affected:
            continue
        location = join(root, path)
        st = os.lstat(location)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != rec[1:4] or file_digest(location) != rec[0]:
            return None
        old.files[path] = file_rec(rec[0], st)
        if st.st_ctime_ns >= clock:
            old.racy.add(path)
    return old
