"""write: the new tree is durable before it is swapped in, with one syncfs (or per-file fsyncs)."""

from __future__ import annotations

import ctypes
import errno
import sys
from pathlib import Path

import pytest

from generator.errors import ModelfleetError
from generator.write import fs, manifest
from generator.write.tree import write_tree

OLD = {"base/a.yaml": b"old\n", "README.md": b"old\n"}
NEW = {"base/a.yaml": b"new\n", "base/deep/b.yaml": b"b\n", "gitops/prod.yaml": b"p\n"}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(target: Path) -> list[str]:
    names = (p.name for p in target.parent.iterdir())
    helpers = {".rendered.lock", ".rendered.kept", ".rendered.manifest"}
    return sorted(n for n in names if n.startswith(".rendered.") and n not in helpers)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "rendered"
    write_tree(path, OLD)
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux-only")
def test_linux_has_syncfs_and_skips_per_file_fsyncs(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fs.syncfs() is not None
    synced: list[Path] = []
    monkeypatch.setattr(fs, "fsync_file", synced.append)
    write_tree(target, NEW)
    assert tree(target) == NEW
    assert synced == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name a descriptor")
def test_syncfs_runs_once_on_the_complete_new_tree_before_the_swap(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[dict[str, bytes], dict[str, bytes]]] = []

    def fake_syncfs(fd: int) -> int:
        new_root = Path(f"/proc/self/fd/{fd}").readlink()
        seen.append((tree(new_root), tree(target)))
        return 0

    monkeypatch.setattr(fs, "syncfs", lambda: fake_syncfs)
    write_tree(target, NEW)
    assert seen == [(NEW, OLD)]  # all of the new tree, while rendered/ still held the old one
    assert tree(target) == NEW


def test_without_syncfs_every_file_and_directory_is_fsynced_before_the_swap(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files: list[str] = []
    dirs: list[str] = []
    real_fsync_dir = fs.fsync_dir

    def fsync_file(path: Path) -> None:
        assert tree(target) == OLD
        files.append(path.read_bytes().decode())

    def fsync_dir(path: Path) -> None:
        if path.name.startswith(".rendered.tmp-"):
            assert tree(target) == OLD
        dirs.append("/".join(path.parts[len(target.parent.parts) + 1 :]))
        real_fsync_dir(path)

    monkeypatch.setattr(fs, "syncfs", lambda: None)
    monkeypatch.setattr(fs, "fsync_file", fsync_file)
    monkeypatch.setattr(fs, "fsync_dir", fsync_dir)
    write_tree(target, NEW)
    assert tree(target) == NEW
    assert sorted(files) == sorted(c.decode() for c in NEW.values())
    # Every directory of the new tree, the tree itself last; then the directory holding rendered/.
    assert dirs == ["gitops", "base/deep", "base", "", ""]


def test_unsupported_syncfs_falls_back_to_fsync(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(fd: int) -> int:
        ctypes.set_errno(errno.ENOSYS)
        return -1

    synced: list[Path] = []
    monkeypatch.setattr(fs, "syncfs", lambda: unsupported)
    monkeypatch.setattr(fs, "fsync_file", synced.append)
    write_tree(target, NEW)
    assert tree(target) == NEW
    assert len(synced) == len(NEW)


def test_syncfs_error_keeps_the_old_tree(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(fs, "syncfs", lambda: failing)
    with pytest.raises(ModelfleetError, match="cannot write rendered/: Input/output error"):
        write_tree(target, NEW)
    assert tree(target) == OLD
    assert leftovers(target) == []


def _warm(path: Path) -> None:
    """rendered/ holds OLD and a trusted kept tree holds NEW (written, then OLD again)."""
    write_tree(path, NEW)
    write_tree(path, OLD)
    assert manifest.load(path).kept is not None


def test_small_update_of_the_kept_tree_fsyncs_what_changed_before_the_swap(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm(target)
    changed = {**OLD, "README.md": b"changed\n"}
    files: list[str] = []
    dirs: list[str] = []
    real_fsync_file, real_fsync_dir = fs.fsync_file, fs.fsync_dir

    def fsync_file(path: Path) -> None:
        assert tree(target) == OLD
        files.append(path.relative_to(target.parent).as_posix())
        real_fsync_file(path)

    def fsync_dir(path: Path) -> None:
        dirs.append(path.relative_to(target.parent).as_posix())
        if path != target.parent:
            assert tree(target) == OLD
        real_fsync_dir(path)

    monkeypatch.setattr(fs, "syncfs", lambda: pytest.fail("syncfs for a small update"))
    monkeypatch.setattr(fs, "fsync_file", fsync_file)
    monkeypatch.setattr(fs, "fsync_dir", fsync_dir)
    write_tree(target, changed)
    assert tree(target) == changed
    assert files == [".rendered.kept/README.md"]  # base/a.yaml was linked back from rendered/
    # the kept tree's changed directories (the new file's, the removed base/deep's parent); then the parent
    assert dirs == [".rendered.kept/base", ".rendered.kept", "."]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name a descriptor")
def test_large_update_of_the_kept_tree_runs_syncfs_once_before_the_swap(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm(target)
    changed = {**OLD, "README.md": b"changed\n"}
    seen: list[tuple[str, dict[str, bytes], dict[str, bytes]]] = []

    def fake_syncfs(fd: int) -> int:
        root = Path(f"/proc/self/fd/{fd}").readlink()
        seen.append((root.name, tree(root), tree(target)))
        return 0

    monkeypatch.setattr("generator.write.tree._FSYNC_MAX", 0)
    monkeypatch.setattr(fs, "syncfs", lambda: fake_syncfs)
    write_tree(target, changed)
    assert seen == [(".rendered.kept", changed, OLD)]
    assert tree(target) == changed


def test_syncfs_error_in_the_kept_tree_keeps_the_old_tree(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _warm(target)

    def failing(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr("generator.write.tree._FSYNC_MAX", 0)
    monkeypatch.setattr(fs, "syncfs", lambda: failing)
    with pytest.raises(ModelfleetError, match="cannot write rendered/: Input/output error"):
        write_tree(target, {**OLD, "README.md": b"changed\n"})
    assert tree(target) == OLD
    assert manifest.load(target).kept is None  # the kept tree changed: no longer trusted
    monkeypatch.undo()
    write_tree(target, NEW)
    assert tree(target) == NEW
