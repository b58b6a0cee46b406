"""Concurrency and refusals: renders at once, a check during a render, Ctrl-C, and a rendered/ that
cannot or must not be written.

Every render here is a real ``python -m generator`` process on a copy of the example fleet whose spec
was changed, so a render replaces the committed tree (stale, missing and extra files). Where a test
needs a process to stop at a given step, it runs the CLI under ``python -c`` with a hook that wraps
a step of ``generator.write`` (see tests/faults.py): the hook writes a marker file and waits for a release
file, or signals the process itself, or raises.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from generator.errors import StaleOutputError
from generator.write import read

pytestmark = pytest.mark.slow  # left out of `make test-fast`

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOCK = ".rendered.lock"
KEPT = {LOCK, ".rendered.kept", ".rendered.manifest"}
INTERRUPTED = "modelfleet: interrupted\n"

Tree = dict[str, bytes | None]  # relative path -> file bytes; directories end in "/" and map to None

HOOKS = r"""
import json, sys

from tests.faults import install

JOB = json.loads(sys.argv[1])
install(JOB)
from generator.cli import main

sys.exit(main(JOB["argv"]))
"""

# ---------------------------------------------------------------- helpers


def tree_of(target: Path) -> Tree | None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        return {"": b"<not a directory>"}
    if not target.exists():
        return None
    tree: Tree = {}
    for dirpath, dirnames, filenames in os.walk(target):
        base = Path(dirpath).relative_to(target)
        for name in dirnames:
            tree[(base / name).as_posix() + "/"] = None
        for name in filenames:
            path = Path(dirpath, name)
            tree[(base / name).as_posix()] = b"<symlink>" if path.is_symlink() else path.read_bytes()
    return tree


def snapshot(root: Path) -> Tree | None:
    return tree_of(root / "rendered")


def stat_tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Inode, mode and mtime of rendered/ and everything under it."""
    target = root / "rendered"
    return {
        p.relative_to(root).as_posix(): (p.lstat().st_ino, p.lstat().st_mode, p.lstat().st_mtime_ns)
        for p in [target, *sorted(target.rglob("*"))]
    }


def leftovers(root: Path) -> list[str]:
    """Helpers next to rendered/ other than the lock, the kept tree and its manifest."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".rendered.") and p.name not in KEPT)


def change_spec(root: Path) -> None:
    """Edit the copied spec so that a render stales, adds and removes files in rendered/."""
    prod = root / "environments" / "prod.yaml"
    text = prod.read_text(encoding="utf-8")
    text, count = re.subn(r"maxReplicas: (\d+)", lambda m: f"maxReplicas: {int(m[1]) + 1}", text, count=1)
    assert count == 1, "no maxReplicas in environments/prod.yaml to bump"
    prod.write_text(text, encoding="utf-8")
    models = root / "models.yaml"
    text = models.read_text(encoding="utf-8")
    models.write_text(re.sub(r"(registry: )(\S+)", r"\1next.\2", text, count=1), encoding="utf-8")
    dev = root / "environments" / "dev.yaml"
    text = dev.read_text(encoding="utf-8")
    dev.write_text(re.sub(r"\benabled: false\b[^\n]*", "scaling: {maxReplicas: 1}", text, count=1), encoding="utf-8")
    staging = root / "environments" / "staging.yaml"
    text = staging.read_text(encoding="utf-8")
    if "\n  sentiment:" not in text:
        staging.write_text(text.rstrip("\n") + "\n  sentiment:\n    enabled: false\n", encoding="utf-8")


def findings_between(old: Tree, new: Tree) -> set[tuple[str, str]]:
    """What ``render --check`` reports for a disk holding ``old`` when the spec renders ``new``."""
    old_files = {p for p, c in old.items() if c is not None}
    new_files = {p for p, c in new.items() if c is not None}
    return (
        {(f"rendered/{p}", "stale") for p in old_files & new_files if old[p] != new[p]}
        | {(f"rendered/{p}", "missing") for p in new_files - old_files}
        | {(f"rendered/{p}", "extra") for p in old_files - new_files}
    )


def parse_check(stdout: str) -> set[tuple[str, str]]:
    """The findings of ``render --check --format json`` as (file, kind)."""
    report = json.loads(stdout)
    return {(e["file"], e["message"].split(":", 1)[0]) for e in report["errors"]}


def changed_count(stdout: str) -> int:
    match = re.search(r"\((\d+) files? changed\)", stdout)
    assert match, stdout
    return int(match[1])


def start(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "generator", "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )


def start_hooked(root: Path, *args: str, **job: Any) -> subprocess.Popen[str]:
    job = {"argv": ["--root", str(root), *(args or ("render",))], **job}
    return subprocess.Popen(
        [PYTHON, "-c", HOOKS, json.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"process did not finish in {timeout}s: {err}")
    return proc.returncode, out, err


def wait_for(path: Path, *procs: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until ``path`` exists; fail if one of ``procs`` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"process ended with {proc.returncode} before {path.name}: {out} {err}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear in {timeout}s")
        time.sleep(0.005)


def pause(tmp: Path, name: str, target: str, nth: int = 1, when: str = "after") -> dict[str, Any]:
    return {
        "action": "pause",
        "target": target,
        "nth": nth,
        "when": when,
        "marker": str(tmp / f"{name}.paused"),
        "release": str(tmp / f"{name}.release"),
    }


# ---------------------------------------------------------------- fixtures


@dataclass
class Fleet:
    template: Path
    old: Tree
    new: Tree

    def copy(self, target: Path) -> Path:
        shutil.copytree(self.template, target, symlinks=True)
        return target

    @property
    def changes(self) -> int:
        return len(findings_between(self.old, self.new))


def scratch_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tmpfs when there is one (renders are disk-bound here), else the usual temporary directory."""
    shm = Path("/dev/shm")
    if sys.platform.startswith("linux") and shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="modelfleet-concurrency-", dir=shm))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("concurrency-fast")


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from scratch_base(tmp_path_factory)


@pytest.fixture(scope="module")
def fleet(fast: Path) -> Fleet:
    template = fast / "template"
    template.mkdir()
    shutil.copy2(REPO / "models.yaml", template / "models.yaml")
    for name in ("environments", "services", "rendered"):
        shutil.copytree(REPO / name, template / name, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))
    change_spec(template)
    reference = shutil.copytree(template, fast / "reference")
    code, _, err = finish(start(reference, "render"))
    assert code == 0, err
    old, new = snapshot(template), snapshot(reference)
    assert old and new and old != new
    assert {kind for _, kind in findings_between(old, new)} == {"stale", "missing", "extra"}
    return Fleet(template, old, new)


@pytest.fixture
def work(fast: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A per-test directory on the fast scratch space."""
    path = fast / re.sub(r"\W", "_", request.node.name)
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- renders at once


@pytest.mark.parametrize("count", [2, 4])
def test_simultaneous_renders_are_serialised(count: int, fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    procs = [start(root, "render") for _ in range(count)]
    results = [finish(proc) for proc in procs]

    assert [(code, err) for code, _, err in results] == [(0, "")] * count
    assert all(out.startswith("ok: rendered/ written") for _, out, _ in results)
    # Each run compares the disk under the lock: one replaces the tree, the others find it current.
    assert sorted(changed_count(out) for _, out, _ in results) == [0] * (count - 1) + [fleet.changes]
    assert snapshot(root) == fleet.new
    assert leftovers(root) == []


def test_a_second_render_waits_for_the_lock(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    holder = pause(work, "a", "tree._build")  # the new tree is complete but not swapped in
    first = start_hooked(root, hooks=[holder])
    wait_for(Path(holder["marker"]), first)
    locked = work / "b.locked"
    second = start_hooked(
        root,
        entered=str(work / "b.entered"),
        hooks=[
            {"action": "mark", "target": "fs.remove_leftovers", "nth": 1, "when": "before", "marker": str(locked)}
        ],
    )
    wait_for(work / "b.entered", second)
    time.sleep(0.5)

    assert second.poll() is None, "the second render did not wait for the lock"
    assert not locked.exists()
    assert snapshot(root) == fleet.old
    assert len(leftovers(root)) == 1  # the first render's temporary tree; the second made none

    Path(holder["release"]).touch()
    (code1, out1, err1), (code2, out2, err2) = finish(first), finish(second)
    assert (code1, err1, code2, err2) == (0, "", 0, "")
    assert (changed_count(out1), changed_count(out2)) == (fleet.changes, 0)
    assert snapshot(root) == fleet.new
    assert leftovers(root) == []


def test_a_killed_lock_holder_lets_the_waiting_render_finish(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    holder = pause(work, "a", "fs.write_file", nth=10)  # half-built temporary tree
    first = start_hooked(root, hooks=[holder])
    wait_for(Path(holder["marker"]), first)
    second = start_hooked(root, entered=str(work / "b.entered"))
    wait_for(work / "b.entered", second)

    os.kill(first.pid, signal.SIGKILL)
    assert finish(first)[0] == -signal.SIGKILL
    code, out, err = finish(second)

    assert (code, err) == (0, "")
    assert changed_count(out) == fleet.changes
    assert snapshot(root) == fleet.new
    assert leftovers(root) == []  # the killed render's temporary tree is gone


# ---------------------------------------------------------------- render --check during a render


def test_check_during_a_render_waits_and_sees_the_new_tree(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    holder = pause(work, "a", "tree._build")
    render = start_hooked(root, hooks=[holder])
    wait_for(Path(holder["marker"]), render)

    # The check waits for the writer's lock instead of reading a tree that is being replaced...
    check = start(root, "render", "--check")
    time.sleep(1.0)
    assert check.poll() is None, "render --check must wait for the render holding the lock"

    # ...and once the render has swapped the new tree in, it sees all of it.
    Path(holder["release"]).touch()
    assert finish(render)[0] == 0
    code, out, err = finish(check)
    assert (code, err) == (0, "")
    assert out.startswith("ok: rendered/ is current")


def test_check_interrupted_by_a_swap_reports_old_or_new(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    # Readers share the lock file that renders create; in a fresh clone no render has made it yet,
    # and a check racing the very first render there is not covered.
    (root / ".rendered.lock").touch()
    # The check has listed rendered/ and is about to compare the first file's content.
    reader = pause(work, "check", "read._same_content", when="before")
    check = start_hooked(root, "render", "--check", "--format", "json", hooks=[reader])
    wait_for(Path(reader["marker"]), check)
    render = start_hooked(root, entered=str(work / "render.entered"))
    wait_for(work / "render.entered", render)
    deadline = time.monotonic() + 2  # a check holding a read lock would keep the render waiting
    while render.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    Path(reader["release"]).touch()
    code, out, err = finish(check)
    assert finish(render)[0] == 0
    assert snapshot(root) == fleet.new

    seen = parse_check(out) if code == 1 else set()
    assert (code, seen) in [(0, set()), (1, findings_between(fleet.old, fleet.new))], (code, sorted(seen), err)


def test_checks_in_a_loop_during_renders_see_old_or_new(fleet: Fleet, work: Path) -> None:
    expected = {
        (f.location.file, f.message.split(":", 1)[0]) for f in _check_findings(fleet.template / "rendered", fleet)
    }
    odd: list[str] = []
    samples = 0
    for attempt in range(3):
        root = fleet.copy(work / f"fleet{attempt}")
        render = start(root, "render")
        while render.poll() is None:
            samples += 1
            try:
                seen = _check_findings(root / "rendered", fleet)
            except Exception as exc:  # a read error mid-swap is a half-written view as well
                odd.append(f"{type(exc).__name__}: {exc}")
                continue
            keys = {(f.location.file, f.message.split(":", 1)[0]) for f in seen}
            if keys not in (set(), expected):
                odd.append(f"{len(keys)} of {len(expected)} findings")
        assert finish(render)[0] == 0
        if odd:
            break
    print(f"\n{samples} checks during renders, {len(odd)} inconsistent: {odd[:5]}")
    assert odd == []


def _check_findings(target: Path, fleet: Fleet) -> list[Any]:
    """The findings ``render --check`` would report for ``target`` (in-process, same function)."""
    plan = {p: c for p, c in fleet.new.items() if c is not None}
    try:
        read.check_tree(target, plan)
    except StaleOutputError as exc:
        return list(exc.findings)
    return []


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_while_writing_keeps_the_old_tree(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    holder = pause(work, "a", "fs.write_file", nth=10)
    render = start_hooked(root, hooks=[holder])
    wait_for(Path(holder["marker"]), render)
    os.killpg(render.pid, signal.SIGINT)  # what a terminal does on Ctrl-C

    assert finish(render) == (130, "", INTERRUPTED)
    assert snapshot(root) == fleet.old
    assert leftovers(root) == []


SIGINT_POINTS = [
    ("before", "fs.remove_leftovers", 1, "old"),
    ("after", "fs.write_file", 1, "old"),
    ("after", "tree._build", 1, "old"),
    ("after", "fs.exchange", 1, "new"),
    ("before", "fs.keep", 1, "new"),
    ("before", "manifest.write", 1, "new"),
]


def test_ctrl_c_at_write_steps(fleet: Fleet, work: Path) -> None:
    def one(index: int) -> str:
        when, target, nth, expect = SIGINT_POINTS[index]
        root = fleet.copy(work / f"fleet{index}")
        hook = {"action": "signal", "signal": int(signal.SIGINT), "target": target, "nth": nth, "when": when}
        result = finish(start_hooked(root, hooks=[hook]))
        problems = []
        if result != (130, "", INTERRUPTED):
            problems.append(f"ended {result}")
        after = snapshot(root)
        state = "old" if after == fleet.old else "new" if after == fleet.new else "neither"
        if state != expect:
            problems.append(f"rendered/ is {state}")
        if leftovers(root):  # allowed after the swap (the old tree not yet deleted); the next run removes them
            code, _, err = finish(start(root, "render"))
            if (code, err) != (0, "") or snapshot(root) != fleet.new or leftovers(root):
                problems.append(f"the next render left {leftovers(root)}: {err}")
        return f"{when} {target} #{nth}: " + ("; ".join(problems) or "ok")

    with ThreadPoolExecutor(max_workers=3) as pool:
        lines = list(pool.map(one, range(len(SIGINT_POINTS))))
    print("\n" + "\n".join(lines))
    assert all(line.endswith(": ok") for line in lines), lines


def test_ctrl_c_in_the_fallback_swap_keeps_a_tree(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    hook = {"action": "signal", "signal": int(signal.SIGINT), "target": "os.rename", "nth": 1, "when": "after"}
    assert finish(start_hooked(root, fallback=True, hooks=[hook])) == (130, "", INTERRUPTED)
    assert snapshot(root) in (fleet.old, fleet.new), f"rendered/ is {'missing' if snapshot(root) is None else 'a mix'}"


STARTUP_INTERRUPT = r"""
import importlib.abc, os, runpy, signal, sys

class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith("generator."):  # `python -m generator` is importing its first module
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["modelfleet", *sys.argv[1:]]
runpy.run_module("generator", run_name="__main__", alter_sys=True)
"""


@pytest.mark.xfail(
    strict=True,
    reason="limitation: a SIGINT while runpy is still locating generator.__main__ (before any modelfleet code runs) "
    "gets Python's default KeyboardInterrupt traceback; generator/__main__.py catches it from its first line on",
)
def test_ctrl_c_during_startup_prints_no_traceback(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    result = subprocess.run(
        [PYTHON, "-c", STARTUP_INTERRUPT, "--root", str(root), "render"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )
    assert snapshot(root) == fleet.old
    assert (result.returncode, result.stderr) == (130, INTERRUPTED)


# ---------------------------------------------------------------- rendered/ that cannot or must not be written


def assert_clean_refusal(result: tuple[int, str, str], *needles: str) -> None:
    code, out, err = result
    assert (code, out) == (1, ""), result
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in err, err


def set_immutable(path: Path, on: bool) -> bool:
    """``chattr +i``: even root cannot create, delete or rename entries. False where unsupported."""
    if shutil.which("chattr") is None:
        return False
    result = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, check=False)
    return result.returncode == 0


@pytest.mark.parametrize("where", ["fleet root", "rendered"])
def test_unwritable_location_is_a_clean_error(where: str, fleet: Fleet, tmp_path: Path) -> None:
    """The directory holding rendered/ (or rendered/ itself) refuses changes, even to root."""
    root = fleet.copy(tmp_path / "fleet")  # chattr needs a disk filesystem, not tmpfs
    locked = root if where == "fleet root" else root / "rendered"
    stats = stat_tree(root)
    if os.geteuid() != 0:
        locked.chmod(0o555)
    elif not set_immutable(locked, True):
        pytest.skip("chattr +i is not available here")
    try:
        result = finish(start(root, "render"))
    finally:
        if os.geteuid() != 0:
            locked.chmod(0o755)
        else:
            set_immutable(locked, False)

    assert_clean_refusal(result, "cannot write rendered/: ", "hint: check that the directory holding rendered/")
    assert re.search(r"(Operation not permitted|Permission denied)", result[2])
    assert snapshot(root) == fleet.old and stat_tree(root) == stats
    assert leftovers(root) == []


def test_read_only_filesystem_is_a_clean_error(fleet: Fleet, work: Path) -> None:
    root = fleet.copy(work / "fleet")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root to mount a read-only bind")
    script = (
        'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97; exec "$2" -m generator --root "$1" render'
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(root), PYTHON],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )
    if result.returncode == 97 or "unshare:" in result.stderr:
        pytest.skip(f"cannot mount a read-only bind here: {result.stderr.strip()}")
    assert_clean_refusal(
        (result.returncode, result.stdout, result.stderr), "cannot write rendered/: Read-only file system"
    )
    assert snapshot(root) == fleet.old
    assert leftovers(root) == []


def test_permission_error_from_the_os_is_a_clean_error(fleet: Fleet, work: Path) -> None:
    """Portable: the temporary directory cannot be created (what a non-root user sees without write access)."""
    root = fleet.copy(work / "fleet")
    hook = {"action": "permission", "target": "tempfile.mkdtemp", "nth": 1, "when": "before", "filename": str(root)}
    result = finish(start_hooked(root, hooks=[hook]))
    assert_clean_refusal(result, f"cannot write rendered/: Permission denied ({root})")
    assert snapshot(root) == fleet.old
    assert leftovers(root) == []


@pytest.mark.parametrize("kind", ["symlink to a directory", "dangling symlink", "regular file"])
def test_rendered_that_is_not_a_plain_directory_is_refused(
    kind: str, fleet: Fleet, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = fleet.copy(work / "fleet")
    elsewhere = work / "elsewhere"
    shutil.move(root / "rendered", elsewhere)
    target = root / "rendered"
    if kind == "regular file":
        target.write_bytes(b"not a tree\n")
    else:
        target.symlink_to(elsewhere if kind == "symlink to a directory" else work / "nowhere")
    before_elsewhere = tree_of(elsewhere)

    code = main(["--root", str(root), "render"])
    out, err = capsys.readouterr()

    message = "is not a directory" if kind == "regular file" else "is a symbolic link; refusing to replace it"
    assert_clean_refusal((code, out, err), message)
    if kind == "regular file":
        assert target.read_bytes() == b"not a tree\n"
    else:
        assert target.is_symlink() and target.readlink() == (
            elsewhere if kind == "symlink to a directory" else work / "nowhere"
        )
    assert tree_of(elsewhere) == before_elsewhere
    assert leftovers(root) == []
