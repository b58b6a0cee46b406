"""write: the kept tree (.rendered.kept) updated in place, its manifest, Kept entries and the
streaming writer. Every test runs on the real file system; wrapped functions only count calls."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.digest import content_digest
from generator.errors import ModelfleetError
from generator.write import fs, manifest, read, record
from generator.write.planned import Kept, KeptUnavailable, TreeDiff
from generator.write.read import check_tree, diff_tree, last_written
from generator.write.tree import tree_writer, write_tree

Tree = dict[str, bytes | None]  # files -> bytes, directories (ending in "/") -> None


def files_of(count: int, tag: str = "") -> dict[str, bytes]:
    return {f"d{i % 7}/sub{i % 3}/f{i}.yaml": f"file {i}{tag}\n".encode() for i in range(count)}


def tree(root: Path) -> Tree:
    """Everything under ``root``: every file's bytes and every directory."""
    found: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        for name in dirnames:
            found[(base / name).as_posix() + "/"] = None
        for name in filenames:
            path = Path(dirpath, name)
            found[(base / name).as_posix()] = b"<symlink>" if path.is_symlink() else path.read_bytes()
    return found


def expected(plan: dict[str, bytes]) -> Tree:
    want: Tree = dict(plan)  # type: ignore[arg-type]
    for path in plan:
        parts = path.split("/")[:-1]
        for i in range(len(parts)):
            want["/".join(parts[: i + 1]) + "/"] = None
    return want


def stats(root: Path) -> dict[str, tuple[int, int]]:
    """Inode and mtime of ``root`` and everything under it."""
    out = {"": (root.lstat().st_ino, root.lstat().st_mtime_ns)}
    for path in root.rglob("*"):
        st = path.lstat()
        out[path.relative_to(root).as_posix()] = (st.st_ino, st.st_mtime_ns)
    return out


def helpers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".rendered."))


def kept_trusted(target: Path) -> bool:
    return manifest.load(target).kept is not None


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "rendered"


A = files_of(60)
B = {**A, "d0/sub0/f0.yaml": b"B\n", "new/b.yaml": b"only in B\n"}
C = {**A, "d1/sub1/f1.yaml": b"C\n"}
del C["d2/sub2/f2.yaml"]


def warm(target: Path) -> None:
    """A visible tree A and a trusted kept tree B (B written, then A)."""
    write_tree(target, B)  # first write: renamed into place, nothing kept
    write_tree(target, A)  # the full build; the exchanged-out B is kept
    assert kept_trusted(target)
    assert tree(target.parent / ".rendered.kept") == expected(B)


class Counter:
    """Counts calls of a wrapped function, passing them through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        self.calls: list[tuple[Any, ...]] = []
        original: Callable[..., Any] = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(args)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)


# ---------------------------------------------------------------- the kept tree is reused


@pytest.mark.parametrize("size", [60, 600])
def test_update_in_place_touches_only_changed_paths(size: int, target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = files_of(size)
    one = {**base, "d0/sub0/f0.yaml": b"one\n"}
    two = {**base, "d1/sub1/f1.yaml": b"two\n"}
    write_tree(target, one)
    write_tree(target, base)  # visible: base; kept: one
    before = stats(target)
    kept_before = stats(target.parent / ".rendered.kept")
    writes = Counter(monkeypatch, fs, "write_file")
    links = Counter(monkeypatch, os, "link")
    scans = Counter(monkeypatch, record, "scan")
    temps = Counter(monkeypatch, fs, "new_temp_dir")

    diff = write_tree(target, two)

    assert diff == TreeDiff(stale=("d1/sub1/f1.yaml",))
    assert tree(target) == expected(two)
    # O(changed): the kept tree (one) needed d0/sub0/f0.yaml linked back from base, and the new bytes written.
    assert (len(writes.calls), len(links.calls), len(scans.calls), len(temps.calls)) == (1, 1, 0, 0)
    after = stats(target)
    assert after[""][0] == kept_before[""][0]  # the kept tree's directory is rendered/ now
    changed = {p for p in after if after[p] != kept_before.get(p)}
    assert changed <= {"", "d0/sub0", "d1/sub1", "d0/sub0/f0.yaml", "d1/sub1/f1.yaml"}
    # every file that did not change keeps the inode and mtime it had in rendered/
    assert all(after[p] == before[p] for p in base if p not in {"d1/sub1/f1.yaml"})
    assert tree(target.parent / ".rendered.kept") == expected(base)
    assert kept_trusted(target)
    assert last_written(target) == {p: content_digest(c) for p, c in two.items()}
    assert helpers(target) == [".rendered.kept", ".rendered.lock", ".rendered.manifest"]


def test_directories_come_and_go_in_the_kept_tree(target: Path) -> None:
    warm(target)
    without_d0 = {p: c for p, c in A.items() if not p.startswith("d0/")}
    plans = [
        {**without_d0, "d0": b"a file where a directory was\n"},
        A,
        {**A, "n/e/w.yaml": b"1\n"},
        {**A, "n/e/w.yaml/inner": b"a directory where a file was\n"},
        {**without_d0, "d0": b"again\n", "n/e/w.yaml": b"2\n"},
        B,
    ]
    for plan in plans:
        write_tree(target, plan)
        assert tree(target) == expected(plan)
        assert kept_trusted(target)
        assert helpers(target) == [".rendered.kept", ".rendered.lock", ".rendered.manifest"]


def test_noop_write_touches_neither_tree(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(target)
    recorded = (target.parent / ".rendered.manifest").read_bytes()
    before = (stats(target), stats(target.parent / ".rendered.kept"))
    links = Counter(monkeypatch, os, "link")
    assert write_tree(target, A) == TreeDiff()
    assert write_tree(target, {p: Kept(content_digest(c)) for p, c in A.items()}) == TreeDiff()
    assert (stats(target), stats(target.parent / ".rendered.kept")) == before
    assert (target.parent / ".rendered.manifest").read_bytes() == recorded
    assert links.calls == []


def test_alternating_writes_stay_exact(target: Path) -> None:
    plans = [A, B, C, A, C, B, files_of(40, "x"), A]
    for plan in plans:
        write_tree(target, plan)
        assert tree(target) == expected(plan)
    assert kept_trusted(target)


# ---------------------------------------------------------------- tampering never yields a wrong tree


def _edit_in_place(path: Path) -> None:
    with path.open("r+b") as handle:  # the inode rendered/ shares with the kept tree
        handle.write(b"X")


def _replace(path: Path) -> None:
    temp = path.with_name("replacement")
    temp.write_bytes(b"replaced\n")
    temp.rename(path)


def _symlink(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.parent.parent.parent / "d4/sub1/f4.yaml")


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _touch_dir(path: Path) -> None:
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))


TAMPER: dict[str, Callable[[Path], None]] = {
    "edit a visible file in place": lambda root: _edit_in_place(root / "rendered/d3/sub0/f3.yaml"),
    "replace a visible file": lambda root: _replace(root / "rendered/d3/sub0/f3.yaml"),
    "add a visible file": lambda root: (root / "rendered/d3/sub0/extra.yaml").write_bytes(b"x"),
    "delete a visible file": lambda root: (root / "rendered/d3/sub0/f3.yaml").unlink(),
    "touch a visible directory": lambda root: _touch_dir(root / "rendered/d3"),
    "visible file made a symlink": lambda root: _symlink(root / "rendered/d3/sub0/f3.yaml"),
    "edit a kept file in place": lambda root: _edit_in_place(root / ".rendered.kept/d0/sub0/f0.yaml"),
    "replace a kept file": lambda root: _replace(root / ".rendered.kept/d1/sub1/f1.yaml"),
    "add a kept file": lambda root: (root / ".rendered.kept/d1/sub1/f1.yaml.extra").write_bytes(b"x"),
    "delete a kept file": lambda root: (root / ".rendered.kept/d1/sub1/f1.yaml").unlink(),
    "touch a kept directory": lambda root: _touch_dir(root / ".rendered.kept/d5"),
    "truncate the manifest": lambda root: os.truncate(root / ".rendered.manifest", 100),
    "garbage manifest": lambda root: (root / ".rendered.manifest").write_bytes(b"\x00garbage{["),
    "empty manifest": lambda root: (root / ".rendered.manifest").write_bytes(b""),
    "wrong digests in the manifest": lambda root: _forge_digests(root / ".rendered.manifest", resign=False),
    "wrong digests, re-signed": lambda root: _forge_digests(root / ".rendered.manifest", resign=True),
    "manifest is a directory": lambda root: _directory(root / ".rendered.manifest"),
    "kept tree removed": lambda root: fs.remove(root / ".rendered.kept"),
}


def _forge_digests(location: Path, resign: bool) -> None:
    """Swap two files' digests in both records (stats untouched), optionally with a valid checksum."""
    head, _, body = location.read_bytes().partition(b"\n")
    visible, kept = manifest.decode_body(body, with_kept=True)
    assert visible is not None and kept is not None
    for files, _, _ in (visible, kept):
        for path in ("d0/sub0/f0.yaml", "d6/sub0/f6.yaml"):
            if path in files:
                files[path] = ("0" * 40, *files[path][1:])
    body = manifest.encode_body(visible, kept)
    if resign:
        head = head.rpartition(b" ")[0] + b" " + manifest._checksum(body)
    location.write_bytes(head + b"\n" + body)


@pytest.mark.parametrize("how", list(TAMPER))
def test_tampering_never_produces_a_wrong_tree(how: str, target: Path) -> None:
    warm(target)
    TAMPER[how](target.parent)
    for plan in (C, B, A, C):
        write_tree(target, plan)
        assert tree(target) == expected(plan), how
        assert diff_tree(target, plan).clean
        assert not [h for h in helpers(target) if ".tmp-" in h or ".old-" in h]


def test_tampered_visible_tree_reports_the_true_diff(target: Path) -> None:
    warm(target)
    (target / "d3/sub0/f3.yaml").write_bytes(b"hand edit\n")  # same inode as in the kept tree
    (target / "d3/stray.txt").write_bytes(b"x")
    assert last_written(target) is None
    assert diff_tree(target, A) == TreeDiff(stale=("d3/sub0/f3.yaml",), extra=("d3/stray.txt",))
    assert write_tree(target, A) == TreeDiff(stale=("d3/sub0/f3.yaml",), extra=("d3/stray.txt",))
    assert tree(target) == expected(A)


def test_racy_entries_are_read(target: Path) -> None:
    """A path recorded in the same tick as its last change is verified by its content."""
    write_tree(target, A)
    visible = manifest.load(target).visible
    assert visible is not None
    path = "d0/sub0/f0.yaml"
    lying = record.Record(dict(visible.files), dict(visible.dirs), set())
    lying.files[path] = ("0" * 40, *visible.files[path][1:])  # type: ignore[assignment]
    assert record.verify(target, lying, None)  # stats alone cannot tell
    lying.racy = {path}
    assert not record.verify(target, lying, None)
    extra = target / "d0" / "late.yaml"
    extra.write_bytes(b"x")
    os.utime(target / "d0", ns=(visible.dirs["d0"][1], visible.dirs["d0"][1]))
    dirs = {**visible.dirs, "d0": record.dir_rec((target / "d0").lstat())}
    racy_dir = record.Record(dict(visible.files), dirs, {"d0"})
    assert not record.verify(target, racy_dir, None)  # the listing shows the unrecorded entry
    extra.unlink()


# ---------------------------------------------------------------- Kept entries


def test_kept_entries_are_served_from_either_tree(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(target)  # visible A, kept B
    plan: dict[str, bytes | Kept] = {p: Kept(content_digest(c)) for p, c in A.items()}
    plan["d0/sub0/f0.yaml"] = Kept(content_digest(B["d0/sub0/f0.yaml"]))  # only the kept tree has it
    plan["new/b.yaml"] = Kept(content_digest(B["new/b.yaml"]))
    plan["fresh.yaml"] = b"fresh\n"
    writes = Counter(monkeypatch, fs, "write_file")

    diff = write_tree(target, plan)

    want = {**A, "d0/sub0/f0.yaml": B["d0/sub0/f0.yaml"], "new/b.yaml": B["new/b.yaml"], "fresh.yaml": b"fresh\n"}
    assert tree(target) == expected(want)
    assert diff == TreeDiff(stale=("d0/sub0/f0.yaml",), missing=("fresh.yaml", "new/b.yaml"))
    assert len(writes.calls) == 1


@pytest.mark.parametrize("state", ["warm", "cold", "no manifest"])
def test_kept_unavailable_changes_nothing(state: str, target: Path) -> None:
    write_tree(target, B)
    if state == "warm":
        write_tree(target, A)
    elif state == "cold":
        (target / "d6/sub0/f6.yaml").write_bytes(b"edited\n")  # the manifest no longer verifies
    else:
        (target.parent / ".rendered.manifest").unlink()
    before, recorded = tree(target), (target.parent / ".rendered.manifest").read_bytes() if state == "warm" else b""
    before_stats = stats(target)
    plan: dict[str, bytes | Kept] = {**A, "d0/sub0/f0.yaml": Kept(content_digest(b"never written\n"))}

    with pytest.raises(KeptUnavailable) as info:
        write_tree(target, plan)

    assert info.value.path == "d0/sub0/f0.yaml"
    assert (tree(target), stats(target)) == (before, before_stats)
    if state == "warm":
        assert (target.parent / ".rendered.manifest").read_bytes() == recorded
    assert not [h for h in helpers(target) if ".tmp-" in h or ".old-" in h]
    write_tree(target, A)
    assert tree(target) == expected(A)


def test_kept_for_an_edited_file_is_unavailable(target: Path) -> None:
    write_tree(target, A)
    (target / "d0/sub0/f0.yaml").write_bytes(b"edited\n")
    with pytest.raises(KeptUnavailable):
        write_tree(target, {**A, "d0/sub0/f0.yaml": Kept(content_digest(A["d0/sub0/f0.yaml"]))})
    assert (target / "d0/sub0/f0.yaml").read_bytes() == b"edited\n"


def test_check_and_diff_accept_kept(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(target)
    plan: dict[str, bytes | Kept] = {p: Kept(content_digest(c)) for p, c in A.items()}
    plan["d0/sub0/f0.yaml"] = b"planned bytes\n"
    reads = Counter(monkeypatch, read, "_same_content")
    assert diff_tree(target, plan) == TreeDiff(stale=("d0/sub0/f0.yaml",))
    assert reads.calls == []  # the manifest verified: digests only
    assert check_tree(target, {p: Kept(content_digest(c)) for p, c in A.items()}) == TreeDiff()
    (target / "d2/sub2/f2.yaml").write_bytes(b"edited\n")  # now the files are read
    assert diff_tree(target, plan) == TreeDiff(stale=("d0/sub0/f0.yaml", "d2/sub2/f2.yaml"))
    assert reads.calls


def test_last_written(target: Path) -> None:
    assert last_written(target) is None
    write_tree(target, A)
    assert last_written(target) == {p: content_digest(c) for p, c in A.items()}
    os.utime(target / "d1", ns=(1, 1))
    assert last_written(target) is None


# ---------------------------------------------------------------- the streaming writer


def test_streaming_writer_holds_no_bytes(target: Path) -> None:
    size, count = 1 << 20, 64
    write_tree(target, {"seed.yaml": b"x"})
    tracemalloc.start()
    try:
        with tree_writer(target) as writer:
            for i in range(count):
                writer.add(f"big/{i:03}.bin", bytes([i]) * size)  # each buffer is garbage after add
            diff = writer.commit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(diff.missing) == count
    assert peak < 8 * size, f"peak {peak / size:.1f} MB for {count} MB added"
    assert (target / "big/063.bin").read_bytes() == bytes([63]) * size


@pytest.mark.parametrize("state", ["first", "cold", "warm"])
def test_leaving_without_commit_changes_nothing(state: str, target: Path) -> None:
    if state != "first":
        write_tree(target, B)
        if state == "warm":
            write_tree(target, A)
    before = tree(target) if target.exists() else None
    with pytest.raises(RuntimeError, match="caller failed"), tree_writer(target) as writer:
        for path, content in C.items():
            writer.add(path, content)
        raise RuntimeError("caller failed")
    with tree_writer(target) as writer:
        writer.add("x.yaml", b"x")  # and no commit at all
    assert (tree(target) if target.exists() else None) == before
    assert not [h for h in helpers(target) if ".tmp-" in h or ".old-" in h]
    write_tree(target, C)
    assert tree(target) == expected(C)


def test_streaming_writer_validates_each_path(target: Path) -> None:
    with tree_writer(target) as writer:
        writer.add("a/b.yaml", b"1")
        with pytest.raises(ValueError, match="relative POSIX"):
            writer.add("../up", b"x")
        with pytest.raises(ValueError, match="twice"):
            writer.add("a/b.yaml", b"2")
        with pytest.raises(ValueError, match=r"'a/b\.yaml/c' is inside planned file a/b\.yaml"):
            writer.add("a/b.yaml/c", b"x")
        with pytest.raises(ValueError, match=r"'a/b\.yaml' is inside planned file a$"):
            writer.add("a", b"x")
        with pytest.raises(ValueError, match="must be bytes or Kept"):
            writer.add("s.yaml", "text")  # type: ignore[arg-type]
        with pytest.raises(KeptUnavailable):
            writer.add("k.yaml", Kept("0" * 40))
        writer.add("k.yaml", b"k")  # after KeptUnavailable, the bytes can still be planned
        assert writer.commit() == TreeDiff(missing=("a/b.yaml", "k.yaml"))
        with pytest.raises(ValueError, match="committed"):
            writer.add("late.yaml", b"x")
    assert tree(target) == expected({"a/b.yaml": b"1", "k.yaml": b"k"})


def test_streaming_writer_refuses_an_empty_plan(target: Path) -> None:
    write_tree(target, A)
    with pytest.raises(ModelfleetError, match="empty rendered/"), tree_writer(target) as writer:
        writer.commit()
    assert tree(target) == expected(A)


def test_without_exchange_nothing_is_kept(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(target)
    monkeypatch.setattr(fs, "exchange", lambda first, second: False)
    write_tree(target, C)  # the kept tree, updated, is renamed into place; the old one deleted
    assert tree(target) == expected(C)
    assert helpers(target) == [".rendered.lock", ".rendered.manifest"]
    write_tree(target, B)
    assert tree(target) == expected(B)
    assert helpers(target) == [".rendered.lock", ".rendered.manifest"]


def test_killed_update_leaves_an_untrusted_kept_tree(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flag is cleared before the kept tree's first change: an update that stops halfway
    (here an exception in place of the kill) leaves no manifest that trusts it."""
    warm(target)

    def fail(*args: Any) -> None:
        raise RuntimeError("stopped")

    with monkeypatch.context() as patch:
        patch.setattr("generator.write.tree._update", fail)
        with pytest.raises(RuntimeError, match="stopped"):
            write_tree(target, C)
    assert tree(target) == expected(A)
    assert manifest.load(target).kept is None
    # Replacing a kept file unlinked an inode rendered/ shared: its ctime changed, so rendered/
    # no longer verifies either and the next write reads it (once).
    assert last_written(target) is None
    write_tree(target, C)
    assert tree(target) == expected(C)
    assert kept_trusted(target)


def test_a_manifest_decoded_once_is_handed_out_as_copies(tmp_path: Path) -> None:
    target = tmp_path / "rendered"
    write_tree(target, {"a.yaml": b"a: 1\n", "d/b.yaml": b"b: 2\n"})
    first = manifest.load(target).visible
    assert first is not None
    first.files.clear()
    first.dirs.clear()
    second = manifest.load(target).visible
    assert second is not None and set(second.files) == {"a.yaml", "d/b.yaml"}
    write_tree(target, {"a.yaml": b"a: 3\n"})
    third = manifest.load(target).visible
    assert third is not None and set(third.files) == {"a.yaml"}, "a rewritten manifest is decoded again"
    assert last_written(target) == {"a.yaml": content_digest(b"a: 3\n")}
