"""write: atomic replacement of rendered/, stale detection, failure modes."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from generator.errors import ModelfleetError, StaleOutputError
from generator.write import fs
from generator.write.planned import TreeDiff
from generator.write.read import check_tree, diff_tree, unified_diff
from generator.write.tree import write_tree

PLAN = {
    "base/fraud/deployment.yaml": b"kind: Deployment\n",
    "base/fraud/service.yaml": b"kind: Service\n",
    "gitops/prod.yaml": b"kind: Application\r\n",  # bytes kept exactly, no translation
    "README.md": b"generated\n",
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative POSIX path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def siblings(root: Path) -> list[str]:
    """Names next to ``root`` other than ``root`` itself and the lock file."""
    kept = {root.name, ".rendered.lock", ".rendered.kept", ".rendered.manifest"}
    return sorted(p.name for p in root.parent.iterdir() if p.name not in kept)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "rendered"


def test_first_write_creates_tree_with_modes(target: Path) -> None:
    diff = write_tree(target, PLAN)
    assert diff == TreeDiff(missing=tuple(sorted(PLAN)))
    assert tree(target) == PLAN
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert stat.S_IMODE((target / "base" / "fraud").stat().st_mode) == 0o755
    assert stat.S_IMODE((target / "README.md").stat().st_mode) == 0o644
    assert siblings(target) == []
    assert (target.parent / ".rendered.lock").exists()


def test_rewrite_updates_stale_creates_missing_removes_extra(target: Path) -> None:
    write_tree(target, PLAN)
    (target / "base" / "old").mkdir()
    (target / "base" / "old" / "left.yaml").write_bytes(b"x")
    new_plan = {**PLAN, "base/fraud/service.yaml": b"kind: Service # v2\n", "new/x.yaml": b"1"}
    del new_plan["README.md"]

    diff = write_tree(target, new_plan)

    assert diff == TreeDiff(
        stale=("base/fraud/service.yaml",),
        missing=("new/x.yaml",),
        extra=("README.md", "base/old/left.yaml"),
    )
    assert tree(target) == new_plan
    assert not (target / "base" / "old").exists()
    assert siblings(target) == []
    assert diff_tree(target, new_plan).clean


def test_noop_write_touches_nothing(target: Path) -> None:
    write_tree(target, PLAN)
    files = [target / p for p in PLAN] + [target, target / "base"]
    past = 1_000_000_000
    for path in files:
        os.utime(path, (past, past))
    inode = target.stat().st_ino

    diff = write_tree(target, PLAN)

    assert diff.clean
    assert diff == TreeDiff()
    assert target.stat().st_ino == inode
    assert all(path.stat().st_mtime == past for path in files)


def test_stray_empty_directory_is_removed(target: Path) -> None:
    write_tree(target, PLAN)
    (target / "empty").mkdir()
    assert write_tree(target, PLAN).clean
    assert not (target / "empty").exists()


def test_check_tree_reports_each_file(target: Path) -> None:
    write_tree(target, PLAN)
    (target / "README.md").write_bytes(b"edited by hand\n")
    (target / "gitops" / "prod.yaml").unlink()
    (target / "notes.txt").write_bytes(b"x")

    with pytest.raises(StaleOutputError) as info:
        check_tree(target, PLAN)

    got = [(str(f.location), f.message, f.hint) for f in info.value.findings]
    hint = "run `modelfleet render` (or `make render`) and commit rendered/"
    assert got == [
        ("rendered/README.md", "stale: content differs from what models.yaml renders", hint),
        ("rendered/gitops/prod.yaml", "missing: models.yaml renders this file", hint),
        ("rendered/notes.txt", "extra: no longer produced by models.yaml", hint),
    ]
    assert diff_tree(target, PLAN) == TreeDiff(
        stale=("README.md",), missing=("gitops/prod.yaml",), extra=("notes.txt",)
    )


def test_check_tree_clean_and_absent(target: Path) -> None:
    write_tree(target, PLAN)
    assert check_tree(target, PLAN) == TreeDiff()
    with pytest.raises(StaleOutputError) as info:
        check_tree(target.parent / "nothing-here", {"a.yaml": b""})
    assert [f.message for f in info.value.findings] == ["missing: models.yaml renders this file"]


def test_symlinked_file_is_stale(target: Path) -> None:
    write_tree(target, PLAN)
    real = target.parent / "real.md"
    real.write_bytes(PLAN["README.md"])
    (target / "README.md").unlink()
    (target / "README.md").symlink_to(real)
    assert diff_tree(target, PLAN).stale == ("README.md",)
    write_tree(target, PLAN)
    assert not (target / "README.md").is_symlink()
    assert real.read_bytes() == PLAN["README.md"]


def test_unified_diff(target: Path) -> None:
    write_tree(target, {"a.yaml": b"one\ntwo\n", "b.yaml": b"x"})
    plan = {"a.yaml": b"one\nthree\n", "c.yaml": b"new\n"}
    assert unified_diff(target, plan, "a.yaml") == (
        "--- a/rendered/a.yaml\n+++ b/rendered/a.yaml\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n"
    )
    assert unified_diff(target, plan, "b.yaml") == (
        "--- a/rendered/b.yaml\n+++ b/rendered/b.yaml\n@@ -1 +0,0 @@\n-x\n\\ No newline at end of file\n"
    )
    assert "+new\n" in unified_diff(target, plan, "c.yaml")
    assert unified_diff(target, {"a.yaml": b"one\ntwo\n"}, "a.yaml") == ""


def test_empty_plan_is_refused(target: Path) -> None:
    write_tree(target, PLAN)
    with pytest.raises(ModelfleetError, match="empty rendered/"):
        write_tree(target, {})
    assert tree(target) == PLAN


@pytest.mark.parametrize("path", ["", "/abs.yaml", "../up.yaml", "a/../b", "./a", "a//b", "a/", "a\\b", "a/./b"])
def test_bad_paths_are_programming_errors(target: Path, path: str) -> None:
    with pytest.raises(ValueError, match="relative POSIX"):
        write_tree(target, {path: b"x"})
    with pytest.raises(ValueError):
        diff_tree(target, {path: b"x"})
    assert not target.exists()


def test_file_and_directory_collision_is_a_programming_error(target: Path) -> None:
    with pytest.raises(ValueError, match="inside planned file"):
        write_tree(target, {"a": b"x", "a/b": b"y"})


def test_leftovers_of_a_crashed_run_are_removed(target: Path) -> None:
    write_tree(target, PLAN)
    for name in (".rendered.tmp-abc", ".rendered.old-def"):
        (target.parent / name / "sub").mkdir(parents=True)
        (target.parent / name / "sub" / "f").write_bytes(b"x")
    (target.parent / ".rendered.tmp-file").write_bytes(b"x")
    unrelated = target.parent / ".renderedness"
    unrelated.mkdir()

    assert write_tree(target, PLAN).clean  # even a no-op run cleans up

    assert siblings(target) == [".renderedness"]


def test_failed_swap_keeps_old_tree_then_recovers(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(target, PLAN)
    new_plan = {"only.yaml": b"new\n"}

    def crash(new: Path, old: Path) -> Path | None:
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(fs, "swap", crash)
        with pytest.raises(RuntimeError, match="power cut"):
            write_tree(target, new_plan)
    assert tree(target) == PLAN
    # A real crash skips the clean-up: leave a half-built tree behind.
    (target.parent / ".rendered.tmp-crashed").mkdir()

    write_tree(target, new_plan)

    assert tree(target) == new_plan
    assert siblings(target) == []


def test_fallback_without_renameat2(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(target, PLAN)
    monkeypatch.setattr(fs, "exchange", lambda first, second: False)
    write_tree(target, {"x.yaml": b"x"})
    assert tree(target) == {"x.yaml": b"x"}
    assert siblings(target) == []


def test_exchange_swaps_directories(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "f").write_bytes(b"1")
    if not fs.exchange(first, second):
        pytest.skip("renameat2(RENAME_EXCHANGE) unavailable here")
    assert (second / "f").read_bytes() == b"1"
    assert not (first / "f").exists()


def test_unwritable_location_is_a_user_error(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = target.parent
    if os.geteuid() == 0:  # root ignores permission bits: simulate the refusal

        def refuse(target: Path) -> Path:
            raise PermissionError(13, "Permission denied", str(target.parent))

        monkeypatch.setattr(fs, "new_temp_dir", refuse)
        with pytest.raises(ModelfleetError, match="cannot write rendered/: Permission denied"):
            write_tree(target, PLAN)
        assert not target.exists()
        return
    parent.chmod(0o500)
    try:
        with pytest.raises(ModelfleetError, match="cannot write rendered/: Permission denied"):
            write_tree(target, PLAN)
    finally:
        parent.chmod(0o755)
    assert not target.exists()


def test_missing_parent_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ModelfleetError, match="No such file or directory"):
        write_tree(tmp_path / "no" / "rendered", PLAN)


def test_target_that_is_a_file_is_a_user_error(target: Path) -> None:
    target.write_bytes(b"x")
    with pytest.raises(ModelfleetError, match="is not a directory"):
        write_tree(target, PLAN)
    assert target.read_bytes() == b"x"


def test_concurrent_writers_leave_one_complete_tree(target: Path) -> None:
    plans = [{f"p{i}/f{j}.yaml": f"{i}-{j}\n".encode() for j in range(30)} for i in range(4)]
    errors: list[BaseException] = []

    def run(plan: dict[str, bytes]) -> None:
        try:
            for _ in range(3):
                write_tree(target, plan)
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert tree(target) in plans
    assert siblings(target) == []
