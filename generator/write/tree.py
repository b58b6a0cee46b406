"""Stage 7, write: make ``rendered/`` hold exactly a plan, switching the whole tree at once.

``write_tree``, or the streaming ``tree_writer``, prepares the new tree next to ``rendered/``
and swaps it in with one ``renameat2(RENAME_EXCHANGE)``: readers, and a process killed at any
instant, see the old tree or the new one, never a mix.

The tree swapped out by the last write stays as ``.rendered.kept``, and the manifest records
both trees. When both records verify, the kept tree is brought to the plan in place, touching
only the paths whose digest differs: new bytes go to a temporary file renamed over the path
(both trees share the unchanged files' inodes through hard links, so an inode is never
modified), a file the visible tree holds is hard-linked from it, and unplanned paths are
removed. Without a trusted kept tree (a first write, a tree edited by hand, an interrupted
update) the new tree is built in a fresh ``.rendered.tmp-*``, linking the files the visible
tree holds, and the old tree is kept after the exchange only when every one of its files is
known. Either way the new tree is made durable before the exchange, the parent directory
after it, and then the new manifest is written. Without ``renameat2`` the old tree is renamed
away and deleted. A write whose plan the disk already holds touches nothing in ``rendered/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from generator.digest import content_digest
from generator.write import findings, fs, manifest, record
from generator.write.ahead import Ahead, Verified
from generator.write.planned import (
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
from generator.write.record import Record

_FSYNC_MAX = 256  # an update of the kept tree with more changed paths than this syncs with syncfs


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
        self._visible = Record()
        self._visible_scanned = False  # read from disk, not from the manifest
        self._kept: Record | None = None  # the trusted kept tree's record, being updated
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
        self._clock = 0  # the file system's time before the records were checked
        self._loaded: manifest.Manifest | None = None  # the records, until checked (``_ready``)
        self._ahead: Ahead | None = None  # a forked check of them under way

    @classmethod
    def _open(cls, target: Path, lock_fd: int, *, ahead: bool = False) -> TreeWriter:
        """Under the lock: clean up, then find what each tree holds (``ahead``: in a forked
        child, while the caller plans; see ``generator.write.ahead``)."""
        writer = cls(target, lock_fd)
        fs.remove_leftovers(target)
        writer._clock = fs.clock(lock_fd)
        loaded = writer._loaded = manifest.load(target)
        writer._flagged = loaded.kept is not None
        if ahead and loaded.visible is not None:
            writer._ahead = Ahead.start(target, writer._kept_path, loaded.visible, loaded.kept, lock_fd)
        if writer._ahead is None:
            writer._ready()
        return writer

    def _ready(self) -> None:
        """Know what each tree holds: the records checked (here, or the forked child's answer)."""
        loaded, self._loaded = self._loaded, None
        if loaded is None:
            return
        target, clock = self._target, self._clock
        verified: Verified | None = None
        if self._ahead is not None:
            verified = self._ahead.result()
            self._ahead = None
            if verified is not None and not verified.visible:
                verified = None  # the visible tree is scanned: the kept one is checked against that
        if verified is not None and loaded.visible is not None:
            record.settle(loaded.visible, clock)
            self._visible = loaded.visible
        elif loaded.visible is not None and record.verify(target, loaded.visible, clock):
            self._visible = loaded.visible
        else:
            self._visible = record.scan(target, clock)
            self._visible_scanned = True
        kept = loaded.kept
        visible = self._visible
        if verified is not None:
            trusted = kept is not None and verified.kept
            if trusted and kept is not None:
                record.settle(kept, clock)
        else:
            trusted = kept is not None and "" in visible.dirs and record.verify(self._kept_path, kept, clock, visible)
        if trusted:
            self._kept = kept
            self._stage = self._kept_path
        else:
            if self._flagged:
                manifest.invalidate(target)
                self._flagged = False
            if os.path.lexists(self._kept_path):
                fs.remove(self._kept_path)

    def may_hold(self, path: str, digest: str) -> bool:
        """``holds`` without waiting for the trees' check: what their records say. A ``Kept``
        planned on it is still checked when added (``KeptUnavailable`` before any change)."""
        loaded = self._loaded
        if loaded is None:
            return self.holds(path, digest)
        for known in (loaded.visible, loaded.kept):
            if known is not None and path in known.files and known.files[path][0] == digest:
                return True
        return False

    def holds(self, path: str, digest: str) -> bool:
        """True when ``Kept(digest)`` can be planned at ``path``: a tree holds those bytes there."""
        self._ready()
        for known in (self._visible, self._kept):
            if known is not None and path in known.files and known.files[path][0] == digest:
                return True
        return False

    def add(self, path: str, content: Content) -> str:
        """Plan ``content`` at ``path`` and put it in place in the tree being prepared;
        return its digest (``content_digest``), so a caller need not hash the bytes again.

        Raises ``ValueError`` for a bad or colliding path, ``KeptUnavailable`` (before
        anything is planned at ``path``) for a ``Kept`` no tree holds."""
        check_path(path)
        check_content(path, content)
        self._ready()
        return self._add(path, content)

    def add_plan(self, planned: Mapping[str, Content], kept: Mapping[str, str] | None = None) -> None:
        """``write_tree``'s plan, whole (``kept``: more of it, as path -> digest), into a
        writer that has been given nothing yet; ``KeptUnavailable`` before anything is placed."""
        kept = kept or {}
        dirs = validate_plan(planned, kept_checked=True, kept=kept)
        if not planned and not kept:
            raise findings.empty_plan()
        self._add_plan(planned, dirs, kept)

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

    def _add_plan(self, planned: Mapping[str, Content], dirs: dict[str, str], kept: Mapping[str, str]) -> None:
        """``write_tree``'s whole plan (already checked by ``validate_plan``, which found its
        directories ``dirs``): every ``Kept`` entry is found in a tree before anything is
        placed. What ``_add`` does file by file, in one pass over the plan for the usual case:
        a plan of recorded digests (the delta path's) is mostly files the visible tree holds."""
        if self._done or self._planned:
            raise ValueError("write_tree's writer takes one whole plan")
        self._ready()
        visible = self._visible.files
        held = self._kept.files if self._kept is not None else {}
        digests: dict[str, str] = dict(kept)
        pending: list[str] = []  # held by the visible tree, not by the kept one: linked at commit
        place: list[str] = []
        kept_entries = [(path, content.digest) for path, content in planned.items() if isinstance(content, Kept)]
        for path, digest in [*kept.items(), *kept_entries]:
            seen = visible.get(path)
            other = held.get(path)
            if seen is not None and seen[0] == digest:
                if other is None or other[0] != digest:
                    pending.append(path)
            elif other is None or other[0] != digest:
                raise KeptUnavailable(path)
            # else the kept tree holds it: nothing to do
        for path, content in planned.items():
            if isinstance(content, Kept):
                digests[path] = content.digest
            else:
                digests[path] = content_digest(content)
                place.append(path)
        self._planned = digests
        self._planned_dirs = dirs
        self._pending.update(pending)  # linked at commit, if the tree changes at all
        try:
            for path in place:
                self._place(path, planned[path], digests[path])
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
                manifest.invalidate(self._target)
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
        self._ready()
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
        dirs = (self._kept_dirs_touched() if self._kept is not None else self._made) | {""}
        new = record.swapped_in(
            self._target, self._kept, dirs=dirs, written=self._written, affected=self._affected, clock=clock
        )
        kept: Record | None = None
        if old == stage and visible.complete:
            if self._kept is None:
                fs.keep(old, self._kept_path)
                old = self._kept_path
            kept = record.swapped_out(self._kept_path, visible, self._affected, clock)
        if old is not None and kept is None:
            fs.remove(old)
        manifest.write(self._target, new, kept)
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
            manifest.write(self._target, visible, self._kept)

    def _close(self) -> None:
        """Leaving without a commit: remove a temporary tree; a kept tree changed in place
        stays, untrusted (its flag was cleared before its first change)."""
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None
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
def tree_writer(target: Path, *, ahead: bool = False) -> Iterator[TreeWriter]:
    """Hold the writers' lock and stream a plan into ``target``: ``writer.add(path, bytes
    or Kept)`` for every file (or ``writer.add_plan``), then ``writer.commit()``. Leaving
    without a commit (or on an exception) leaves ``target`` untouched. ``ahead``: the trees
    are checked by a forked child while the caller plans (``generator.write.ahead``)."""
    if target.is_symlink():
        raise findings.symlink_refused(target)
    with contextlib.ExitStack() as stack:
        try:
            lock_fd = stack.enter_context(fs.locked(target))
            writer = TreeWriter._open(target, lock_fd, ahead=ahead)
        except OSError as exc:
            raise findings.io_error("write rendered/", exc) from None
        stack.callback(writer._close)
        yield writer


def write_tree(target: Path, planned: Mapping[str, Content], kept: Mapping[str, str] | None = None) -> TreeDiff:
    """Make ``target`` hold exactly ``planned``, replacing the whole tree atomically.
    ``kept``: more of the plan, as path -> digest, each as ``Kept(digest)`` in ``planned``
    would be (a plan of mostly recorded digests needs no ``Kept`` object per path).

    Returns how the disk differed before the write. Touches nothing when it already
    matched. Raises ``ModelfleetError`` for an empty plan or when the disk refuses, and
    ``KeptUnavailable``, before anything changes, for a ``Kept`` entry no tree holds.
    """
    kept = kept or {}
    dirs = validate_plan(planned, kept_checked=True, kept=kept)
    if not planned and not kept:
        raise findings.empty_plan()
    with tree_writer(target) as writer:
        writer._add_plan(planned, dirs, kept)
        return writer.commit()
