"""write: a writer opened ahead of its plan (``tree_writer(ahead=True)``), whose trees a forked
child checks while the caller plans (``generator.write.ahead``), and plans given as kept
digests (``write_tree(target, planned, kept)``). Every test runs on the real file system."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from generator.digest import content_digest
from generator.write import fs, manifest, record
from generator.write.planned import KeptUnavailable, TreeDiff
from generator.write.read import diff_tree
from generator.write.tree import tree_writer, write_tree
from tests.test_write_kept import TAMPER, A, B, C, Counter, expected, helpers, kept_trusted, tree, warm


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "rendered"


def _ahead(target: Path, plan: dict[str, bytes], *, keep: bool = True) -> TreeDiff:
    """Write ``plan`` through a writer opened ahead: every file the visible tree holds with
    the planned bytes is planned by its digest (as the delta path plans), the rest as bytes."""
    visible = manifest.load(target).visible
    held = visible.files if visible is not None and keep else {}
    kept = {p: content_digest(c) for p, c in plan.items() if p in held and held[p][0] == content_digest(c)}
    new = {p: c for p, c in plan.items() if p not in kept}
    with tree_writer(target, ahead=True) as writer:
        writer.add_plan(new, kept)
        return writer.commit()


def test_ahead_writes_what_write_tree_writes(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(target)  # visible A, kept B
    writes = Counter(monkeypatch, fs, "write_file")
    checks = Counter(monkeypatch, record, "verify")
    assert _ahead(target, C) == TreeDiff(stale=("d1/sub1/f1.yaml",), extra=("d2/sub2/f2.yaml",))
    assert checks.calls == []  # both trees were checked by the forked child
    assert tree(target) == expected(C)
    assert len(writes.calls) == 1  # the one changed file; the rest linked or already in the kept tree
    assert kept_trusted(target)
    assert tree(target.parent / ".rendered.kept") == expected(A)
    for plan in (B, A, C, C):
        _ahead(target, plan)
        assert tree(target) == expected(plan)
        assert diff_tree(target, plan).clean
    assert not [h for h in helpers(target) if ".tmp-" in h or ".old-" in h]


@pytest.mark.parametrize("how", list(TAMPER))
def test_tampering_is_seen_by_the_forked_check(how: str, target: Path) -> None:
    """Whatever was changed by hand, the tree written ahead is exactly the plan: a digest the
    trees no longer hold is unavailable before anything changes, then the bytes are planned."""
    warm(target)
    TAMPER[how](target.parent)
    for plan in (C, B, A, C):
        try:
            _ahead(target, plan)
        except KeptUnavailable:
            _ahead(target, plan, keep=False)
        assert tree(target) == expected(plan), how
        assert diff_tree(target, plan).clean
        assert not [h for h in helpers(target) if ".tmp-" in h or ".old-" in h]


def test_an_edit_the_child_sees_is_rewritten(target: Path) -> None:
    warm(target)
    (target / "d3/sub0/f3.yaml").write_bytes(b"hand edit\n")  # in place: the kept tree's inode too
    new = {"d0/sub0/f0.yaml": b"changed\n"}
    kept = {p: content_digest(c) for p, c in A.items() if p not in new}
    with pytest.raises(KeptUnavailable), tree_writer(target, ahead=True) as writer:
        writer.add_plan(new, kept)  # the edited file's digest is held by neither tree now
    plan = {**A, **new}
    with tree_writer(target, ahead=True) as writer:
        writer.add_plan(plan)
        assert writer.commit() == TreeDiff(stale=("d0/sub0/f0.yaml", "d3/sub0/f3.yaml"))
    assert tree(target) == expected(plan)


def test_a_child_that_fails_leaves_the_check_to_the_writer(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that cannot answer (here its check raises) is no answer: the writer checks the
    trees itself, and trusts them as it would have."""
    warm(target)
    parent = os.getpid()
    original = record.verify

    def verify_here_only(*args: Any, **kwargs: Any) -> bool:
        if os.getpid() != parent:
            raise OSError("the child fails")
        return original(*args, **kwargs)

    monkeypatch.setattr(record, "verify", verify_here_only)
    writes = Counter(monkeypatch, fs, "write_file")
    checks = Counter(monkeypatch, record, "verify")
    _ahead(target, C)
    assert len(checks.calls) == 2  # the visible tree, then the kept one, here
    assert tree(target) == expected(C)
    assert len(writes.calls) == 1  # both trees were trusted: only the changed file written
    assert kept_trusted(target)


def test_leaving_before_the_plan_changes_nothing(target: Path) -> None:
    warm(target)
    before = manifest.load(target)
    with tree_writer(target, ahead=True):
        pass  # the delta path declined
    assert tree(target) == expected(A)
    assert tree(target.parent / ".rendered.kept") == expected(B)
    after = manifest.load(target)
    assert after.visible is not None and before.visible is not None
    assert after.visible.files == before.visible.files
    assert kept_trusted(target)


def test_kept_digests_and_bytes_never_share_a_path(target: Path) -> None:
    write_tree(target, A)
    path = "d0/sub0/f0.yaml"
    with pytest.raises(ValueError, match="twice"):
        write_tree(target, {path: A[path]}, {path: content_digest(A[path])})
    assert tree(target) == expected(A)
