"""Crash safety: SIGKILL a render anywhere and rendered/ is exactly the old tree or exactly the new one.

The fleet is the example fleet with a changed spec, so a render replaces the committed tree with a
different one (stale, missing and extra files). Three kinds of kill:

* a real, uninstrumented ``python -m generator render`` killed at delays from its start and at
  delays spread over its write stage (counted from the appearance of its temporary tree), each
  followed by a real ``render``;
* timed kills inside the write stage, at 40 delays spread over it;
* precise kills before and after the first, middle and last call of every step of the write
  stage (``generator.write`` helpers and the ``os``/``shutil``/``tempfile`` calls they make), in
  five situations: the renameat2 exchange (no manifest yet: the full build in a temporary tree,
  after which the old tree is kept), a trusted kept tree updated in place (its manifest flag
  cleared, files written, linked and removed, the exchange, the new manifest), the rename
  fallback, leftovers of an earlier crash, and a first render with no rendered/ yet.

The write-stage kills run in children forked from a warm helper process whose pipeline result is
computed once (the pipeline reads the fleet and writes nothing; the CLI and ``write_tree`` run
for real in every child), so a few hundred kill points stay cheap. Fleets live on a tmpfs when
there is one: fsync only matters for power loss, not for a killed process. After each kill,
rendered/ is compared byte for byte, as a whole, with the old and the new tree; then a normal
render must succeed, produce the new tree and leave no ``.rendered.tmp-*`` or ``.rendered.old-*``
behind (``.rendered.kept`` and ``.rendered.manifest`` may stay: they are the kept tree and its
record). Run with ``-s`` to see every kill point and its outcome.
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
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.write.tree import write_tree

pytestmark = pytest.mark.slow  # left out of `make test-fast`

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOCK = ".rendered.lock"
KEPT = {LOCK, ".rendered.kept", ".rendered.manifest"}  # helpers that stay between renders

Tree = dict[str, bytes | None]  # relative path -> file bytes; directories end in "/" and map to None

# ---------------------------------------------------------------- code run in the child processes

# The children install tests/faults.py: the write stage's steps wrapped, their calls counted while the
# writer runs, and the job's hook fired before or after the nth one: a signal to the process itself,
# an exception, or a pause.
HOOKS = r"""
import json, os, signal, sys, time
from pathlib import Path

from tests.faults import STATE, finish, install
"""

# One fresh interpreter per job: the real pipeline, then the CLI. argv[1] is the job as JSON.
RUN_ONE = (
    HOOKS
    + r"""
job = json.loads(sys.argv[1])
install(job)
from generator.cli import main
code = main(job["argv"])
finish(job)
sys.exit(code)
"""
)

# A warm helper: renders the fleet in argv[1] once, then for each job read from stdin (one JSON line)
# forks a child that installs the hooks and runs the CLI with that pipeline result, optionally
# SIGKILLs it after a delay, and answers one JSON line with how the child ended.
SERVER = (
    HOOKS
    + r"""
import dataclasses
import generator.cli, generator.pipeline, generator.report
from generator.cli import main

CACHED = generator.pipeline.render(Path(sys.argv[1]))


def replay(root, cache=None, sink=None, validated=None, progress=None):
    # the render, done once: its files go to the CLI's writer as a render hands them on
    for path, data in CACHED.plan.files.items():
        sink(path, data)
    return dataclasses.replace(CACHED, plan=generator.pipeline.Plan({}))


generator.pipeline.render = replay


def child(job):
    fd = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    install(job)
    code = main(job["argv"])
    sys.stdout.flush()
    sys.stderr.flush()
    finish(job)
    os._exit(code)


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            child(job)
        finally:
            os._exit(98)
    if job.get("delay") is not None:
        time.sleep(max(0.0, start + job["delay"] - time.monotonic()))
        os.kill(pid, signal.SIGKILL)  # a child that already ended is a zombie: the kill is a no-op
    _, status = os.waitpid(pid, 0)
    print(json.dumps({
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "elapsed": time.monotonic() - start,
    }), flush=True)
"""
)

# ---------------------------------------------------------------- trees


def snapshot(root: Path) -> Tree | None:
    """Everything under ``root/rendered``: file bytes and directories; None when it does not exist."""
    return tree_of(root / "rendered")


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


def leftovers(root: Path) -> list[str]:
    """``.rendered.*`` helpers next to rendered/ other than the lock file, the kept tree and its manifest."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".rendered.") and p.name not in KEPT)


def describe(tree: Tree | None, old: Tree | None, new: Tree) -> str:
    if tree == new:
        return "new"
    if tree == old:
        return "old" if old is not None else "absent"
    if tree is None:
        return "MISSING"
    reference = old or {}
    mixed_old = sorted(p for p in set(tree) | set(reference) if tree.get(p, b"?") != reference.get(p, b"?"))
    mixed_new = sorted(p for p in set(tree) | set(new) if tree.get(p, b"?") != new.get(p, b"?"))
    return f"MIX ({len(mixed_old)} paths differ from old, e.g. {mixed_old[:2]}; {len(mixed_new)} from new)"


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
    text = dev.read_text(encoding="utf-8")  # enable a model dev switched off: its overlay patches appear
    dev.write_text(re.sub(r"\benabled: false\b[^\n]*", "scaling: {maxReplicas: 1}", text, count=1), encoding="utf-8")
    staging = root / "environments" / "staging.yaml"
    text = staging.read_text(encoding="utf-8")  # switch a model off in staging: its patches disappear
    if "\n  sentiment:" not in text:
        staging.write_text(text.rstrip("\n") + "\n  sentiment:\n    enabled: false\n", encoding="utf-8")


def copy_example(target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copy2(REPO / "models.yaml", target / "models.yaml")
    for name in ("environments", "services", "rendered"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))
    return target


def cli(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "generator", "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=timeout,
    )


def fast_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch directory on tmpfs (cheap fsyncs) when there is one, else the usual temporary directory."""
    shm = Path("/dev/shm")
    if sys.platform.startswith("linux") and shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="modelfleet-crash-", dir=shm))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("crash-fast")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fast_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from fast_base(tmp_path_factory)


@dataclass
class Scenario:
    template: Path  # the changed spec with the old, committed rendered/
    old: Tree
    new: Tree
    render_seconds: float  # one real `python -m generator render` of the change
    write_seconds: float  # of which from the temporary tree's appearance to the exit

    def fleet(self, target: Path) -> Path:
        shutil.copytree(self.template, target, symlinks=True)
        return target


@pytest.fixture(scope="module")
def scenario(fast_dir: Path) -> Scenario:
    base = fast_dir / "scenario"
    template = copy_example(base / "template")
    change_spec(template)
    old = snapshot(template)
    assert old, "the example fleet has no rendered/"
    reference = shutil.copytree(template, base / "reference")
    start = time.monotonic()
    proc = start_render(reference)
    appeared = wait_for_temp_tree(reference, proc)
    code = proc.wait(timeout=60)
    end = time.monotonic()
    assert code == 0
    new = snapshot(reference)
    assert new and leftovers(reference) == []
    old_files = {p for p in old if not p.endswith("/")}
    new_files = {p for p in new if not p.endswith("/")}
    assert {p for p in old_files & new_files if old[p] != new[p]}, "the change stales no file"
    assert new_files - old_files, "the change adds no file"
    assert old_files - new_files, "the change removes no file"
    return Scenario(template, old, new, end - start, end - (appeared or end))


def start_render(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PYTHON, "-m", "generator", "--root", str(root), "render"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        start_new_session=True,
    )


def wait_for_temp_tree(root: Path, proc: subprocess.Popen[bytes]) -> float | None:
    """When a ``.rendered.tmp-*`` appeared next to rendered/; None if the process ended first."""
    while proc.poll() is None:
        if any(p.name.startswith(".rendered.tmp-") for p in root.iterdir()):
            return time.monotonic()
        time.sleep(0.0005)
    return None


class Server:
    """A warm helper process that forks one child per job (see SERVER)."""

    def __init__(self, template: Path) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", SERVER, str(template)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            start_new_session=True,
        )
        assert self.proc.stdin and self.proc.stdout
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        ready = self.stdout.readline()
        assert ready, "the helper process died while starting"

    def run(self, root: Path, **job: Any) -> dict[str, Any]:
        job = {"argv": ["--root", str(root), "render"], "out": str(root.parent / f"{root.name}.out"), **job}
        self.stdin.write(json.dumps(job) + "\n")
        self.stdin.flush()
        line = self.stdout.readline()
        assert line, "the helper process died"
        result: dict[str, Any] = json.loads(line)
        out = Path(job["out"])  # absent when the child was killed before it opened it
        result["output"] = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
        return result

    def close(self) -> None:
        self.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.stdout.close()


@pytest.fixture(scope="module")
def servers(scenario: Scenario) -> Iterator[list[Server]]:
    pool = [Server(scenario.template) for _ in range(max(2, min(4, os.cpu_count() or 2)))]
    try:
        yield pool
    finally:
        for server in pool:
            server.close()


# ---------------------------------------------------------------- kill runs


@dataclass
class Outcome:
    label: str
    state: str  # old / new / absent / MISSING / MIX (...)
    left: list[str]  # leftovers right after the kill
    problems: list[str]


def plant_leftovers(root: Path, scenario: Scenario) -> None:
    """What an earlier crashed run may leave: a half-built tree, a moved-away old tree, a stray file."""
    half = root / ".rendered.tmp-crashed"
    for path, content in list(scenario.new.items())[:7]:
        if content is None:
            (half / path).mkdir(parents=True, exist_ok=True)
        else:
            (half / path).parent.mkdir(parents=True, exist_ok=True)
            (half / path).write_bytes(content)
    shutil.copytree(root / "rendered", root / ".rendered.old-crashed")
    (root / ".rendered.tmp-stray").write_bytes(b"x")


MODES = {
    # mode: (fallback, planted leftovers, rendered/ exists beforehand)
    "exchange": (False, False, True),
    "kept": (False, False, True),
    "fallback": (True, False, True),
    "leftovers": (False, True, True),
    "first-render": (False, False, False),
}


def keep_a_tree(root: Path) -> None:
    """Leave rendered/ as it is, next to a trusted kept tree that differs from it in a few files."""
    rendered = root / "rendered"
    before = tree_of(rendered)
    assert before
    plan = {p: c for p, c in before.items() if c is not None}
    first = sorted(plan)[0]
    variant = {p: c for p, c in plan.items() if p != first}
    variant[sorted(plan)[len(plan) // 2]] += b"# the kept tree's version\n"
    variant["kept-only/extra.yaml"] = b"only in the kept tree\n"
    write_tree(rendered, variant)  # the full build; the copied tree is kept
    write_tree(rendered, plan)  # the kept tree updated in place and exchanged: rendered/ is as before
    assert tree_of(rendered) == before
    assert tree_of(root / ".rendered.kept") not in (None, before)
    assert (root / ".rendered.manifest").read_bytes().startswith(b"modelfleet-manifest 2 kept=1 ")


def prepare(scenario: Scenario, target: Path, mode: str) -> tuple[Path, Tree | None]:
    _, planted, exists = MODES[mode]
    root = scenario.fleet(target)
    if mode == "kept":
        keep_a_tree(root)
    if planted:
        plant_leftovers(root, scenario)
    if not exists:
        shutil.rmtree(root / "rendered")
    return root, (scenario.old if exists else None)


def kill_and_recover(server: Server, scenario: Scenario, target: Path, mode: str, label: str, **job: Any) -> Outcome:
    """Run one job that ends in SIGKILL, judge rendered/, then render normally and judge again."""
    fallback = MODES[mode][0]
    root, old = prepare(scenario, target, mode)
    problems: list[str] = []
    result = server.run(root, fallback=fallback, **job)
    if "hook" in job and result["signal"] != signal.SIGKILL:
        problems.append(f"the kill did not happen: {result}")
    after = snapshot(root)
    state = describe(after, old, scenario.new)
    left = leftovers(root)
    if after not in (old, scenario.new):
        stray = {name: describe(tree_of(root / name), old, scenario.new) for name in left}
        problems.append(f"rendered/ is {state} after the kill; helpers: {stray}")
    recovery = server.run(root, fallback=fallback)
    if recovery["code"] != 0 or not recovery["output"].startswith("ok: rendered/ written"):
        problems.append(f"the next render failed: {recovery}")
    if snapshot(root) != scenario.new:
        problems.append(f"the next render left {describe(snapshot(root), old, scenario.new)}")
    if leftovers(root):
        problems.append(f"the next render left {leftovers(root)}")
    shutil.rmtree(target, ignore_errors=True)
    return Outcome(label, state, left, problems)


def positions(count: int) -> list[int]:
    """First, middle and last call."""
    return sorted({1, (count + 1) // 2, count}) if count else []


# Steps below the write helpers: each is also inside a helper the other modes kill around.
LOW_LEVEL = {"os.open", "os.write", "os.fsync", "os.fchmod", "os.chmod"}


def run_parallel(servers: list[Server], jobs: list[Any], work: Any) -> list[Outcome]:
    """Share ``jobs`` among the helper processes; ``work(server, job)`` returns an Outcome."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def worker(index: int, server: Server) -> None:
        try:
            for position in range(index, len(jobs), len(servers)):
                outcomes[position] = work(server, jobs[position])
        except BaseException as exc:  # re-raised by the caller below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, s)) for i, s in enumerate(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [o for o in outcomes if o is not None]


def report(title: str, outcomes: list[Outcome]) -> None:
    print(f"\n{title}: {len(outcomes)} kill points")
    for outcome in outcomes:
        left = f" leftovers={','.join(outcome.left)}" if outcome.left else ""
        flag = "  <-- " + "; ".join(outcome.problems) if outcome.problems else ""
        print(f"  {outcome.label:<48} rendered/={outcome.state}{left}{flag}")


def trace(server: Server, scenario: Scenario, target: Path, mode: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Run the mode once without a kill; return the call counts of every step and how the run went."""
    root, _ = prepare(scenario, target, mode)
    trace_file = target.parent / f"{target.name}.trace.json"
    result = server.run(root, fallback=MODES[mode][0], trace=str(trace_file))
    assert result["code"] == 0, result["output"]
    assert snapshot(root) == scenario.new and leftovers(root) == []
    data = json.loads(trace_file.read_text())
    shutil.rmtree(target)
    return data["counts"], {**result, "exchanged": data["exchanged"]}


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("mode", list(MODES))
def test_sigkill_at_every_write_step(mode: str, scenario: Scenario, servers: list[Server], fast_dir: Path) -> None:
    base = fast_dir / f"precise-{mode}"
    base.mkdir()
    counts, traced = trace(servers[0], scenario, base / "trace", mode)
    if mode in ("exchange", "leftovers", "kept"):
        assert traced["exchanged"] == [True], "renameat2(RENAME_EXCHANGE) was not used: this machine tests less"
    if mode == "kept":  # the kept tree was updated in place, no temporary tree built
        assert counts.get("tree._update") == 1 and "tempfile.mkdtemp" not in counts, counts
    else:
        assert "tree._update" not in counts, counts
    if mode == "leftovers":
        assert counts.get("fs.remove", 0) >= 3, counts
    points = [
        (name, nth, when)
        for name, count in sorted(counts.items())
        if mode in ("exchange", "kept") or name not in LOW_LEVEL
        for nth in positions(count)
        for when in ("before", "after")
    ]
    hook = {"action": "signal", "signal": int(signal.SIGKILL)}

    def work(server: Server, point: tuple[int, tuple[str, int, str]]) -> Outcome:
        index, (name, nth, when) = point
        label = f"{when} {name} #{nth}/{counts[name]}"
        target = base / f"k{index}"
        outcome = kill_and_recover(
            server, scenario, target, mode, label, hook={**hook, "target": name, "nth": nth, "when": when}
        )
        if mode == "fallback" and outcome.state == "MISSING":
            # the known window of the fallback (see test_fallback_window_leaves_no_rendered): judged there
            outcome.problems = [p for p in outcome.problems if not p.startswith("rendered/ is MISSING")]
            outcome.state = "MISSING (fallback window)"
        return outcome

    outcomes = run_parallel(servers, list(enumerate(points)), work)
    report(f"SIGKILL at write steps, {mode}", outcomes)
    assert len(outcomes) >= 30  # the five modes: 150 precise kill points at least, 120 timed and 6 real besides
    assert {o.state for o in outcomes} >= {"new", "old" if MODES[mode][2] else "absent"}
    bad = [f"{o.label}: {'; '.join(o.problems)}" for o in outcomes if o.problems]
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize("mode", ["exchange", "kept", "leftovers"])
def test_sigkill_at_timed_points_in_the_write_stage(
    mode: str, scenario: Scenario, servers: list[Server], fast_dir: Path
) -> None:
    base = fast_dir / f"timed-{mode}"
    base.mkdir()
    _, traced = trace(servers[0], scenario, base / "trace", mode)
    span = traced["elapsed"]  # fork to exit of one child: the CLI and the whole write stage
    count = 40
    delays = [round(span * 1.1 * i / (count - 1), 6) for i in range(count)]

    def work(server: Server, job: tuple[int, float]) -> Outcome:
        index, delay = job
        target = base / f"d{index}"
        return kill_and_recover(server, scenario, target, mode, f"after {delay * 1000:.2f} ms", delay=delay)

    outcomes = run_parallel(servers, list(enumerate(delays)), work)
    report(f"SIGKILL at timed points of the write stage ({span * 1000:.1f} ms), {mode}", outcomes)
    bad = [f"{o.label}: {'; '.join(o.problems)}" for o in outcomes if o.problems]
    assert bad == [], "\n".join(bad)


def test_sigkill_a_real_render_at_timed_points(scenario: Scenario, fast_dir: Path) -> None:
    """The whole program, uninstrumented.

    Two kills at fixed delays from the start, four at delays spread over the write stage, counted
    from the moment the temporary tree appears (the process is not instrumented at all).
    """
    stage = scenario.write_seconds * 1.1
    delays: list[tuple[str, float]] = [("start", 0.0), ("start", scenario.render_seconds / 3)]
    delays += [("temp tree", stage * i / 3) for i in range(4)]

    def one(index: int) -> Outcome:
        root = scenario.fleet(fast_dir / f"real{index}")
        since, delay = delays[index]
        proc = start_render(root)
        if since == "temp tree":
            wait_for_temp_tree(root, proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)  # a no-op once the process has been reaped
        code = proc.wait()
        after = snapshot(root)
        state = describe(after, scenario.old, scenario.new)
        left = leftovers(root)
        problems = [] if after in (scenario.old, scenario.new) else [f"rendered/ is {state}"]
        recovery = cli(root, "render")
        if recovery.returncode != 0 or "Traceback" in recovery.stderr:
            problems.append(f"the next render failed: {recovery.returncode} {recovery.stderr}")
        if snapshot(root) != scenario.new or leftovers(root):
            problems.append(
                f"the next render left {describe(snapshot(root), scenario.old, scenario.new)} {leftovers(root)}"
            )
        shutil.rmtree(root)
        ended = "killed" if code == -signal.SIGKILL else f"had exited {code}"
        return Outcome(f"{delay * 1000:.0f} ms after {since} ({ended})", state, left, problems)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(one, range(len(delays))))
    took = f"full run {scenario.render_seconds * 1000:.0f} ms, write stage {scenario.write_seconds * 1000:.0f} ms"
    report(f"SIGKILL of a real render ({took})", outcomes)
    bad = [f"{o.label}: {'; '.join(o.problems)}" for o in outcomes if o.problems]
    assert bad == [], "\n".join(bad)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="LIMITATION (rename fallback only, where renameat2(RENAME_EXCHANGE) is unavailable): a kill between "
    "`rendered -> .rendered.old-*` and `.rendered.tmp-* -> rendered` leaves no rendered/ at all",
)
def test_fallback_window_leaves_no_rendered(scenario: Scenario, servers: list[Server], fast_dir: Path) -> None:
    target = fast_dir / "fallback-window"
    hook = {"action": "signal", "signal": int(signal.SIGKILL), "target": "os.rename", "nth": 1, "when": "after"}
    outcome = kill_and_recover(servers[0], scenario, target, "fallback", "after os.rename #1", hook=hook)
    assert outcome.state in ("old", "new"), outcome


# ---------------------------------------------------------------- a failed or refused run changes nothing


def stat_tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Inode, mode and mtime of rendered/ and everything under it."""
    target = root / "rendered"
    paths = [target, *sorted(target.rglob("*"))]
    return {p.relative_to(root).as_posix(): (p.lstat().st_ino, p.lstat().st_mode, p.lstat().st_mtime_ns) for p in paths}


def test_invalid_spec_changes_nothing(scenario: Scenario, tmp_path: Path) -> None:
    root = scenario.fleet(tmp_path / "fleet")
    prod = root / "environments" / "prod.yaml"
    prod.write_text(re.sub(r"maxReplicas: \d+", "maxReplicas: lots", prod.read_text(encoding="utf-8"), count=1))
    before, stats = snapshot(root), stat_tree(root)
    result = cli(root, "render")
    assert result.returncode == 1, result.stderr
    assert "maxReplicas" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(root) == before and stat_tree(root) == stats
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []


def test_check_of_a_stale_tree_writes_nothing(scenario: Scenario, tmp_path: Path) -> None:
    root = scenario.fleet(tmp_path / "fleet")
    before, stats = snapshot(root), stat_tree(root)
    result = cli(root, "render", "--check")
    assert result.returncode == 1
    assert "stale: content differs" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(root) == before and stat_tree(root) == stats
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []  # not even the lock file


@pytest.mark.parametrize(
    ("target", "nth", "expect"),
    [("fs.write_file", 5, "old"), ("fs.exchange", 1, "old")],
)
def test_internal_error_while_writing_is_short_and_keeps_the_old_tree(
    scenario: Scenario, tmp_path: Path, target: str, nth: int, expect: str
) -> None:
    """Point 7 end to end: a real process, an unexpected exception in the write stage."""
    root = scenario.fleet(tmp_path / "fleet")
    stats = stat_tree(root)
    job = {
        "argv": ["--root", str(root), "render"],
        "hook": {"action": "raise", "target": target, "nth": nth, "when": "before"},
    }
    result = subprocess.run(
        [PYTHON, "-c", RUN_ONE, json.dumps(job)], capture_output=True, text=True, check=False, cwd=REPO, timeout=60
    )
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == (
        "modelfleet: internal error: RuntimeError: injected fault\n"
        "This is a bug in modelfleet; please report it with the command you ran.\n"
    )
    assert describe(snapshot(root), scenario.old, scenario.new) == expect
    assert stat_tree(root) == stats
    assert leftovers(root) == []


# ---------------------------------------------------------------- a render's worker processes (issue 19)

# One render with MODELFLEET_JOBS=2 and a unit fault of tests/faults.py: a worker process inherits it.
WORKER_FAULT = r"""
import json, sys
from tests.faults import install_unit_fault
job = json.loads(sys.argv[1])
install_unit_fault(job["fault"])
from generator.cli import main
sys.exit(main(job["argv"]))
"""


def group_is_gone(pgid: int) -> bool:
    """No process of the process group ``pgid`` is left (a worker outliving its render)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(
    ("action", "code", "message"),
    [
        ("signal", 3, "ended early (killed by signal 9)"),
        ("raise", 3, "modelfleet: internal error: RuntimeError: injected fault\n"),
        ("interrupt", 130, "modelfleet: interrupted\n"),
    ],
)
def test_a_failing_worker_leaves_rendered_alone(
    scenario: Scenario, tmp_path: Path, action: str, code: int, message: str
) -> None:
    """A worker killed, failing or interrupted while it builds a unit: the render ends as the
    sequential one would (the same message), rendered/ is untouched, no helper is left behind
    and no worker outlives it; the next render succeeds."""
    root = scenario.fleet(tmp_path / "fleet")
    stats = stat_tree(root)
    fault = {"units": [["prod", "fraud-detector"]], "action": action, "signal": int(signal.SIGKILL)}
    job = {"argv": ["--root", str(root), "render"], "fault": fault}
    proc = subprocess.Popen(
        [PYTHON, "-c", WORKER_FAULT, json.dumps(job)],
        cwd=REPO,
        env={**os.environ, "MODELFLEET_JOBS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stdout) == (code, ""), stderr
    assert message in stderr and "Traceback" not in stderr, stderr
    assert group_is_gone(proc.pid), "a worker outlived the render"
    assert stat_tree(root) == stats
    assert leftovers(root) == []
    recovery = cli(root, "render")
    assert recovery.returncode == 0, recovery.stderr
    assert snapshot(root) == scenario.new


def test_ctrl_c_during_a_parallel_render(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the terminal's process group) while workers build units: the render
    says it was interrupted, writes no rendered/, leaves no helper and no process behind."""
    from tests.fleets import generated_fleet

    root = generated_fleet(tmp_path / "fleet", models=40)
    proc = subprocess.Popen(
        [PYTHON, "-m", "generator", "--root", str(root), "render"],
        cwd=REPO,
        env={**os.environ, "MODELFLEET_JOBS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    units = root / ".modelfleet-cache" / "units"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:  # the workers are storing units
        if units.is_dir() and sum(1 for _ in units.rglob("*")) > 30:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the render ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stdout, stderr) == (130, "", "modelfleet: interrupted\n")
    assert group_is_gone(proc.pid), "a worker outlived the render"
    assert not (root / "rendered").exists()
    assert leftovers(root) == []
