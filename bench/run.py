"""modelfleet benchmark (issues 8 and 19): synthetic fleets, floors, targets, bench/RESULTS.md.

    .venv/bin/python bench/run.py            # full run, writes bench/RESULTS.md (~10-15 min on 2 cores)
    .venv/bin/python bench/run.py --quick    # one run per measurement, smaller fleets only for repeats
    .venv/bin/python bench/run.py --profile 1000x3   # cProfile one in-process render, print the top costs

Every command is timed as a fresh subprocess of this interpreter (``python -m generator``),
the way pre-commit and CI run it; peak RSS is that child's ``ru_maxrss`` from ``wait4``.
Stage times come from one in-process render per run in a fresh child, with the stage
functions that ``generator.pipeline.render`` calls wrapped by timers (exclusive time, so
``build_unit`` does not count the ``overlay`` it calls). The serialization floor
re-reads the rendered tree, then times dumping its documents with PyYAML's ``CSafeDumper``
and writing them (no fsync) into a fresh directory.

The targets are ratios measured in the same run, so they hold on any machine; absolute
seconds depend on the machine and on whatever else runs on it (each row reports min and
median; the targets use the minimum).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import fleetgen  # noqa: E402
import sizes  # noqa: E402

PY = sys.executable
# Environment of every child process; --ref points PYTHONPATH at an exported snapshot.
# Children may write bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE
# inherited (this machine sets it), every run compiled modelfleet's modules again, about
# 70 ms added to every measured command.
CHILD_ENV: dict[str, str] = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class _Source:
    """What is benchmarked: the installed working tree, or a commit exported by ``--ref``."""

    label: str = ""
    repo: Path = REPO


SOURCE = _Source()
IMPORT_FLOOR = "import pydantic, jinja2, yaml, jsonschema, kubernetes_validate"
HEAVY_MODULES = ("pydantic", "jinja2", "yaml", "jsonschema", "kubernetes_validate", "referencing", "promql_parser")
STAGES = ("load", "parse", "resolve", "build", "layout", "check", "plan", "other", "write")
# generator.pipeline, generator.units and generator.validation names -> stage; wrapped by name so the timing
# follows render()'s own order.
STAGE_OF = {
    "load_fleet": "load",
    "parse": "parse",
    "resolve": "resolve",
    "model_objects": "build",
    "model_dashboard": "build",
    "namespace_object": "build",
    "build_unit": "build",
    "shared_files": "build",
    "environment_findings": "check",
    "adapter_rules": "build",
    "gitops_objects": "build",
    "compose_file": "build",
    "environment_rule": "build",
    "rule_proof": "build",
    "runbooks": "build",
    "sli_for": "build",
    "build_image": "build",
    "build_bake": "build",
    "overlay": "layout",
    "namespaced": "layout",
    "check_environment": "check",
    "check_gitops": "check",
    "validate_compose": "check",
    "policy_findings": "check",
    "allowed_images": "check",
    "monitoring_findings": "check",
    "scan_secrets": "check",
    "plan": "plan",
}

# Targets of issues 8 and 19 (limits are ratios).
LIMIT_RENDER_VS_FLOOR = 1.5  # issue 19 (issue 8 had 3)
LIMIT_CHANGE_VS_ONE_MODEL = 1.5
LIMIT_VS_IMPORT_FLOOR = 2.0
LIMIT_SCALING = 11.0
LIMIT_RSS_MB = 300.0
LIMIT_PROOFS_VS_RENDER = 2.0


# ----------------------------------------------------------------------------- running


@dataclass
class Run:
    seconds: float
    rss_mb: float
    cpu: float  # user + system seconds of the child
    code: int
    stdout: str
    stderr: str


NEUTRAL_CWD = Path(tempfile.gettempdir())


def run(argv: Sequence[str], cwd: Path | None = None, timeout: float = 3600) -> Run:
    """Run ``argv``; wall time, the child's own peak RSS (wait4) and its output.

    The child never runs in the repository: ``python -m generator`` puts its working
    directory first on sys.path, which would shadow the package under test (``--ref``).
    """
    cwd = cwd or NEUTRAL_CWD
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=CHILD_ENV)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            seconds,
            usage.ru_maxrss / 1024.0,  # Linux: KiB
            usage.ru_utime + usage.ru_stime,
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


def modelfleet(root: Path, *args: str) -> list[str]:
    return [PY, "-m", "generator", "--root", str(root), *args]


@dataclass
class Series:
    """Repeated measurements of one thing."""

    times: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, result: Run, ok_codes: tuple[int, ...] = (0,)) -> None:
        if result.code not in ok_codes:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            self.failures.append(f"exit {result.code}: {' | '.join(tail)}")
            return
        self.times.append(result.seconds)
        self.rss.append(result.rss_mb)
        self.cpu.append(result.cpu)

    @property
    def min(self) -> float | None:
        return min(self.times) if self.times else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def cpu_min(self) -> float | None:
        return min(self.cpu) if self.cpu else None

    @property
    def peak_rss(self) -> float | None:
        return max(self.rss) if self.rss else None

    def cell(self) -> str:
        if not self.times:
            return "failed" if self.failures else "n/a"
        text = f"{fmt_s(self.min)} / {fmt_s(self.median)}"
        if self.cpu:
            text += f" (cpu {fmt_s(self.cpu_min)})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "times": self.times,
            "cpu": self.cpu,
            "rss_mb": self.rss,
            "failures": self.failures,
            "notes": self.notes,
        }


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s"


def repeat(times: int, argv_or_fn: Callable[[int], Run], series: Series, ok_codes: tuple[int, ...] = (0,)) -> Series:
    for index in range(times):
        series.add(argv_or_fn(index), ok_codes)
    return series


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ child: stage timings


class _StageClock:
    """Exclusive wall and CPU time per stage: a wrapped call inside another does not count twice."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.cpu: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.calls: dict[str, int] = dict.fromkeys(STAGES, 0)
        # [wall start, cpu start, wall spent in nested wrapped calls, cpu spent in them]
        self._stack: list[list[float]] = []

    def wrap(self, stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [time.perf_counter(), time.process_time(), 0.0, 0.0]
            self._stack.append(frame)
            try:
                return func(*args, **kwargs)
            finally:
                self._stack.pop()
                wall = time.perf_counter() - frame[0]
                cpu = time.process_time() - frame[1]
                self.totals[stage] = self.totals.get(stage, 0.0) + wall - frame[2]
                self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu - frame[3]
                self.calls[stage] = self.calls.get(stage, 0) + 1
                if self._stack:
                    self._stack[-1][2] += wall
                    self._stack[-1][3] += cpu

        timed.__wrapped__ = func  # type: ignore[attr-defined]
        return timed


def child_stages(root: Path) -> int:
    """Render ``root`` in-process with every stage timed; print one JSON line."""
    start = time.perf_counter()
    from generator import pipeline, units, validation
    from generator.cli import GC_THRESHOLDS
    from generator.write.read import check_tree
    from generator.write.tree import write_tree

    import_seconds = time.perf_counter() - start
    gc.set_threshold(*GC_THRESHOLDS)  # as the CLI process runs (generator.cli.main_entry)
    clock = _StageClock()
    missing = []
    for name, stage in STAGE_OF.items():
        found = False
        for module in (pipeline, units, validation):
            func = getattr(module, name, None)
            if callable(func):
                setattr(module, name, clock.wrap(stage, func))
                found = True
        if not found:
            missing.append(name)
    start, cpu_start = time.perf_counter(), time.process_time()
    rendered = pipeline.render(root)
    render_seconds = time.perf_counter() - start
    render_cpu = time.process_time() - cpu_start
    clock.totals["other"] = render_seconds - sum(v for k, v in clock.totals.items() if k not in ("other", "write"))
    clock.cpu["other"] = render_cpu - sum(v for k, v in clock.cpu.items() if k not in ("other", "write"))
    files = rendered.plan.files
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        target = Path(scratch) / "rendered"
        start, cpu_start = time.perf_counter(), time.process_time()
        write_tree(target, files)
        clock.totals["write"] = time.perf_counter() - start
        clock.cpu["write"] = time.process_time() - cpu_start
        start = time.perf_counter()
        check_tree(target, files)
        check_tree_seconds = time.perf_counter() - start
    objects = sum(len(e.objects) for e in rendered.environments) + sum(len(e.gitops) for e in rendered.environments)
    print(
        json.dumps(
            {
                "import": import_seconds,
                "render": render_seconds,
                "render_cpu": render_cpu,
                "stages": clock.totals,
                "cpu_stages": clock.cpu,
                "calls": clock.calls,
                "check_tree": check_tree_seconds,
                "files": len(files),
                "bytes": sum(len(b) for b in files.values()),
                "objects": objects,
                "unwrapped": missing,
            }
        )
    )
    return 0


# ------------------------------------------------------------ child: serialization floor


def child_floor(rendered: Path) -> int:
    """Dump the rendered tree's documents with CSafeDumper into a fresh directory; time it."""
    import yaml

    try:
        from yaml import CSafeDumper as Dumper
        from yaml import CSafeLoader as Loader
    except ImportError:  # pragma: no cover
        from yaml import SafeDumper as Dumper  # type: ignore[assignment]
        from yaml import SafeLoader as Loader  # type: ignore[assignment]

    items: list[tuple[str, list[Any] | bytes]] = []
    for path in sorted(rendered.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(rendered).as_posix()
        if path.suffix == ".yaml":
            items.append((rel, list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=Loader))))
        else:
            items.append((rel, path.read_bytes()))  # Dockerfiles, bake file: written as they are
    with tempfile.TemporaryDirectory(dir=rendered.parent) as scratch:
        out = Path(scratch) / "floor"
        start, cpu_start = time.perf_counter(), time.process_time()
        made: set[Path] = set()
        for rel, content in items:
            path = out / rel
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                text = yaml.dump_all(
                    content, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
                )
                path.write_text(text, encoding="utf-8")
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
    print(json.dumps({"seconds": seconds, "cpu": cpu, "files": len(items)}))
    return 0


# ------------------------------------------------------------------------ child: --help


def child_help() -> int:
    import io

    from generator import cli

    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["--help"])
    print(json.dumps({"heavy": [m for m in HEAVY_MODULES if m in sys.modules]}))
    return 0


# --------------------------------------------------------------------------- profiling


def profile(spec: str, out: Path | None, top: int) -> int:
    import cProfile
    import pstats

    models, envs = parse_spec(spec)
    with tempfile.TemporaryDirectory(prefix="modelfleet-profile-") as tmp:
        root = fleetgen.generate(Path(tmp) / "fleet", models=models, environments=envs)
        from generator import pipeline
        from generator.write.tree import write_tree

        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        rendered = pipeline.render(root)
        write_tree(root / "rendered", rendered.plan.files)
        profiler.disable()
        log(f"profiled render + write of {spec}: {time.perf_counter() - start:.1f} s (with profiler overhead)")
        if out is not None:
            profiler.dump_stats(out)
            log(f"wrote {out} (snakeviz/pstats)")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    return 0


# ---------------------------------------------------------------------------- the bench


@dataclass
class FleetResult:
    name: str
    models: int
    environments: int
    validate: Series = field(default_factory=Series)  # after an edit: no validate record to answer from
    validate_recorded: Series = field(default_factory=Series)  # nothing changed: the record answers
    render: Series = field(default_factory=Series)
    check: Series = field(default_factory=Series)
    change: Series = field(default_factory=Series)
    # The one-model fleet's render from scratch, run right after each render after one change:
    # the incremental target compares the two under the same conditions (a shared machine drifts).
    paired_one: Series = field(default_factory=Series)
    # The other kinds of one-model edit (fleetgen.EDIT_KINDS after the first), each paired the same way.
    kind_change: dict[str, Series] = field(default_factory=dict)
    kind_paired: dict[str, Series] = field(default_factory=dict)
    cold_check: Series = field(default_factory=Series)  # render --check as on a fresh clone: no cache
    no_cache: Series = field(default_factory=Series)  # render --no-cache
    floor: Series = field(default_factory=Series)
    stages: list[dict[str, Any]] = field(default_factory=list)
    files: int | None = None
    objects: int | None = None
    megabytes: float | None = None
    changed_files: list[int] = field(default_factory=list)
    bytes_table: str = ""  # bytes per model x environment by family (bench/sizes.py), taken before the fleet goes

    @property
    def every_render(self) -> tuple[Series, ...]:
        """Every measured render of this fleet (for its peak RSS)."""
        return (self.render, self.change, self.check, self.cold_check, self.no_cache)

    def change_baseline(self, one_model: FleetResult | None) -> Series | None:
        """The one-model renders a render after one change is compared with: those run beside
        it, else ``one_model``'s renders from scratch, measured before this fleet."""
        if self.paired_one.times:
            return self.paired_one
        return one_model.render if one_model is not None else None

    def stage_min(self, stage: str) -> float | None:
        values = [s["stages"].get(stage, 0.0) for s in self.stages]
        return min(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "environments": self.environments,
            "files": self.files,
            "objects": self.objects,
            "megabytes": self.megabytes,
            "validate": self.validate.to_json(),
            "validate_recorded": self.validate_recorded.to_json(),
            "render": self.render.to_json(),
            "check": self.check.to_json(),
            "change": self.change.to_json(),
            "paired_one": self.paired_one.to_json(),
            "kind_change": {kind: series.to_json() for kind, series in self.kind_change.items()},
            "kind_paired": {kind: series.to_json() for kind, series in self.kind_paired.items()},
            "cold_check": self.cold_check.to_json(),
            "no_cache": self.no_cache.to_json(),
            "floor": self.floor.to_json(),
            "stages": self.stages,
            "changed_files": self.changed_files,
        }


def parse_spec(spec: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", spec)
    if not match:
        raise SystemExit(f"fleet spec must look like 1000x3, got {spec!r}")
    return int(match.group(1)), int(match.group(2))


def clean_render_state(root: Path) -> None:
    """What "from scratch" removes: rendered/, its helpers and any render cache."""
    for path in [root / "rendered", root / ".modelfleet-cache", *root.glob(".rendered.*")]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def measure_validate(root: Path, runs: int, cold: Series, recorded: Series) -> None:
    """``validate`` as after an edit (its record of the inputs removed first, so every check
    runs: what pre-commit pays), then with nothing changed (the record answers)."""
    record = root / ".modelfleet-cache" / "validate.json"

    def without_record(_: int) -> Run:
        record.unlink(missing_ok=True)
        return run(modelfleet(root, "validate"))

    repeat(runs, without_record, cold)
    run(modelfleet(root, "validate"))  # untimed: writes the record (a racy input may keep it from being kept)
    repeat(runs, lambda _: run(modelfleet(root, "validate")), recorded)


_CHANGED = re.compile(r"\((\d+) files? changed\)")


def bench_fleet(
    spec: str, runs: dict[str, int], work: Path, *, full: bool = True, pair_with: Path | None = None
) -> FleetResult:
    """Measure one synthetic fleet. ``pair_with``: a one-model fleet rendered from scratch after
    each render after one change (``FleetResult.paired_one``)."""
    models, envs = parse_spec(spec)
    result = FleetResult(spec, models, envs)
    root = fleetgen.generate(work / f"fleet-{spec}", models=models, environments=envs, repo=SOURCE.repo)
    log(f"[{spec}] fleet generated at {root}")

    measure_validate(root, runs["validate"], result.validate, result.validate_recorded)
    log(f"[{spec}] validate {result.validate.cell()}, answered from its record {result.validate_recorded.cell()}")

    def floor_once() -> None:
        outcome = run([PY, str(HERE / "run.py"), "--child-floor", str(root / "rendered")])
        if outcome.code == 0:
            data = json.loads(outcome.stdout.strip().splitlines()[-1])
            result.floor.times.append(data["seconds"])
            result.floor.cpu.append(data["cpu"])
        else:
            result.floor.failures.append(outcome.stderr.strip()[-300:])

    def scratch(index: int) -> Run:
        clean_render_state(root)
        outcome = run(modelfleet(root, "render"))
        # The serialization floor of the tree just rendered, measured right after it: the target
        # compares the two side by side, so the machine's drift falls on both.
        if full and index < runs["floor"] and outcome.code == 0:
            floor_once()
        return outcome

    repeat(runs["render"], scratch, result.render)
    log(f"[{spec}] render from scratch {result.render.cell()}  peak RSS {result.render.peak_rss or 0:.0f} MB")
    if full:
        log(f"[{spec}] serialization floor, each right after a render {result.floor.cell()}")
    if not (root / "rendered").is_dir():
        return result
    if not full:
        return result

    repeat(runs["check"], lambda _: run(modelfleet(root, "render", "--check")), result.check)
    log(f"[{spec}] render --check {result.check.cell()}")

    def changed(index: int) -> Run:
        env_file, model = fleetgen.change_one_model(root, index)
        outcome = run(modelfleet(root, "render"))
        match = _CHANGED.search(outcome.stdout)
        if match:
            result.changed_files.append(int(match.group(1)))
        if index == 0:
            result.change.notes.append(f"{model} in environments/{env_file}")
        if pair_with is not None:
            clean_render_state(pair_with)
            result.paired_one.add(run(modelfleet(pair_with, "render")))
        return outcome

    # The first render after one from scratch has no old tree to keep, so it builds the next
    # one's .rendered.kept (hard links of every file): a one-off, timed apart. The timed runs
    # are the steady state of an edit loop (pre-commit, `make render` after each edit).
    fleetgen.change_one_model(root, 0)
    warm = run(modelfleet(root, "render"))
    result.change.notes.append(
        f"first render after the render from scratch (builds .rendered.kept): {warm.seconds:.2f} s"
    )
    repeat(runs["change"], changed, result.change)
    log(
        f"[{spec}] render after one change {result.change.cell()} (files changed: {result.changed_files}; "
        f"first after the scratch render {warm.seconds:.2f} s)"
        + (f"; one-model render beside it {result.paired_one.cell()}" if pair_with is not None else "")
    )
    if pair_with is not None:
        for kind in fleetgen.EDIT_KINDS[1:]:
            edits, paired = result.kind_change.setdefault(kind, Series()), result.kind_paired.setdefault(kind, Series())

            def edited(index: int, kind: str = kind, paired: Series = paired) -> Run:
                fleetgen.change(root, kind, index)
                outcome = run(modelfleet(root, "render"))
                clean_render_state(pair_with)
                paired.add(run(modelfleet(pair_with, "render")))
                return outcome

            repeat(runs["change"], edited, edits)
            log(f"[{spec}] render after one edit of {kind} {edits.cell()}; one-model render beside it {paired.cell()}")

    if runs.get("cold", 0):
        # CI's `render --check` on a fresh clone: rendered/ is committed, the cache and the
        # writer's manifest are not. Then `render --no-cache`. Each renders every unit.
        aside = work / f"aside-{spec}"
        aside.mkdir()
        helpers = [root / ".modelfleet-cache", *root.glob(".rendered.*")]
        for path in helpers:
            shutil.move(path, aside / path.name)
        repeat(runs["cold"], lambda _: run(modelfleet(root, "render", "--check")), result.cold_check)
        for path in helpers:
            shutil.move(aside / path.name, path)
        log(f"[{spec}] render --check on a fresh clone {result.cold_check.cell()}")
        repeat(runs["cold"], lambda _: run(modelfleet(root, "render", "--no-cache")), result.no_cache)
        log(f"[{spec}] render --no-cache {result.no_cache.cell()}")

    for _ in range(runs["stages"]):
        outcome = run([PY, str(HERE / "run.py"), "--child-stages", str(root)])
        if outcome.code == 0:
            data = json.loads(outcome.stdout.strip().splitlines()[-1])
            result.stages.append(data)
            result.files, result.objects = data["files"], data["objects"]
            result.megabytes = data["bytes"] / 1e6
        else:
            log(f"[{spec}] stage timing failed: {outcome.stderr.strip()[-500:]}")
    if result.stages:
        parts = ", ".join(f"{s} {result.stage_min(s):.2f}" for s in STAGES)
        log(f"[{spec}] stages (s): {parts}")
    if (root / "rendered").is_dir():
        result.bytes_table = sizes.table(root / "rendered", models, envs)
    shutil.rmtree(root, ignore_errors=True)
    return result


@dataclass
class Target:
    name: str
    measured: str
    limit: str
    ratio: float | None  # measured / limit; <= 1 is met
    why: str = ""

    @property
    def status(self) -> str:
        if self.ratio is None:
            return "not measured"
        if self.ratio <= 1.0:
            return "met"
        return f"missed ×{self.ratio:.2f}" if self.ratio < 1.1 else f"missed ×{self.ratio:.1f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def stage_breakdown(result: FleetResult) -> str:
    if not result.stages:
        return "no stage timing"
    total = sum(result.stage_min(s) or 0.0 for s in STAGES)
    parts = sorted(((result.stage_min(s) or 0.0, s) for s in STAGES), reverse=True)
    return ", ".join(f"{s} {v:.1f} s ({100 * v / total:.0f}%)" for v, s in parts[:4] if v > 0)


def evaluate(
    fleets: dict[str, FleetResult],
    import_floor: Series,
    example: dict[str, Series],
    one_model: dict[int, FleetResult],
    proofs: Any = None,  # bench/proofs.py ProofCost of the 100x3 fleet, None when not measured
) -> list[Target]:
    targets: list[Target] = []
    big = fleets.get("1000x3")
    floor = big.floor.min if big else None
    render = big.render.min if big else None
    r = ratio(render, floor)
    why = ""
    if r is not None and r > LIMIT_RENDER_VS_FLOOR and big is not None:
        why = f"render {fmt_s(render)} vs floor {fmt_s(floor)}; in-process stages: {stage_breakdown(big)}"
    cpu_r = ratio(big.render.cpu_min, big.floor.cpu_min) if big else None
    targets.append(
        Target(
            "1000×3 full render ≤ 1.5× serialization floor",
            f"{fmt_s(render)} = {fmt_ratio(r)} floor ({fmt_s(floor)}); CPU time {fmt_ratio(cpu_r)}",
            "≤ 1.5×",
            ratio(r, LIMIT_RENDER_VS_FLOOR),
            why,
        )
    )
    change = big.change.min if big else None
    base = one_model.get(3)
    baseline = big.change_baseline(base) if big is not None else (base.render if base else None)
    one = baseline.min if baseline else None
    r = ratio(change, one)
    kinds = [f"environment file {fmt_s(change)} / {fmt_s(one)} = {fmt_ratio(r)}"]
    for kind, series in big.kind_change.items() if big else ():
        paired = big.kind_paired.get(kind) if big else None
        kind_r = ratio(series.min, paired.min if paired else None)
        kinds.append(f"{kind} {fmt_s(series.min)} / {fmt_s(paired.min if paired else None)} = {fmt_ratio(kind_r)}")
        if kind_r is None or r is None or kind_r > r:
            r = kind_r
    why = ""
    if r is not None and r > LIMIT_CHANGE_VS_ONE_MODEL and big is not None:
        changed = big.changed_files[0] if big.changed_files else "?"
        why = (
            f"the delta path rebuilds and rewrites only the changed unit ({changed} file(s) differ; "
            f"{fmt_s(change)} against {fmt_s(render)} from scratch); what every run still pays whatever the "
            f"fleet's size: starting Python and importing the pipeline, hashing every input file, reading "
            f"the delta record (every file's digest) and the writer's manifest, verifying both trees with "
            f"one lstat per file ({big.files or '?'} files), and writing the new record and manifest"
        )
    cpu_r = ratio(big.change.cpu_min if big else None, baseline.cpu_min if baseline else None)
    targets.append(
        Target(
            "1000×3 render after a one-model edit of any kind ≤ 1.5× one-model fleet render",
            f"worst {fmt_ratio(r)}: "
            + "; ".join(kinds)
            + (" (each one-model render run right after)" if big is not None and baseline is big.paired_one else "")
            + f"; CPU time of the environment-file edit {fmt_ratio(cpu_r)}",
            "≤ 1.5×",
            ratio(r, LIMIT_CHANGE_VS_ONE_MODEL),
            why,
        )
    )
    imp = import_floor.min
    for key, label in (("validate", "validate after an edit"), ("check", "no-op render --check")):
        value = example[key].min
        r = ratio(value, imp)
        why = ""
        if r is not None and r > LIMIT_VS_IMPORT_FLOOR:
            gen = example.get("import_generator")
            why = (
                f"{label} {fmt_s(value)} vs import floor {fmt_s(imp)}; importing modelfleet's modules alone "
                f"takes {fmt_s(gen.min if gen else None)}"
            )
        cpu_r = ratio(example[key].cpu_min, import_floor.cpu_min)
        targets.append(
            Target(
                f"example fleet: {label} ≤ 2× import floor",
                f"{fmt_s(value)} = {fmt_ratio(r)} import floor ({fmt_s(imp)}); CPU time {fmt_ratio(cpu_r)}",
                "≤ 2×",
                ratio(r, LIMIT_VS_IMPORT_FLOOR),
                why,
            )
        )
    for small, large in (("10x3", "100x3"), ("100x3", "1000x3")):
        a, b = fleets.get(small), fleets.get(large)
        r = ratio(b.render.min if b else None, a.render.min if a else None)
        why = ""
        if r is not None and r > LIMIT_SCALING:
            why = "cost grows faster than the number of models: look for a quadratic step in the stage table"
        cpu_r = ratio(b.render.cpu_min if b else None, a.render.cpu_min if a else None)
        targets.append(
            Target(
                f"render {large} ≤ 11× render {small}",
                f"{fmt_s(b.render.min if b else None)} / {fmt_s(a.render.min if a else None)} = {fmt_ratio(r)}; "
                f"CPU time {fmt_ratio(cpu_r)}",
                "≤ 11×",
                ratio(r, LIMIT_SCALING),
                why,
            )
        )
    peak = max((v for s in big.every_render for v in s.rss) if big else (), default=None)
    why = ""
    if peak is not None and peak > LIMIT_RSS_MB:
        why = (
            "every render streams its files (to the writer, or to a digest for --check) and goes model by model; "
            "what it still holds is the validated fleet (every (environment, model) spec and the loaded spec files, "
            "about 100 MB at 1000×3), each file's digest and each unit's share of the shared files"
        )
    targets.append(
        Target(
            "peak RSS at 1000×3 ≤ 300 MB",
            "n/a" if peak is None else f"{peak:.0f} MB",
            "≤ 300 MB",
            ratio(peak, LIMIT_RSS_MB),
            why,
        )
    )
    r = ratio(proofs.promtool_seconds, proofs.render_seconds) if proofs is not None else None
    targets.append(
        Target(
            "promtool over 100×3 tests ≤ 2× render 100×3",
            "n/a"
            if proofs is None
            else f"{fmt_s(proofs.promtool_seconds)} for {proofs.files} files = {fmt_ratio(r)} render "
            f"({fmt_s(proofs.render_seconds)}); one promtool per core (bench/proofs.py)",
            "≤ 2×",
            ratio(r, LIMIT_PROOFS_VS_RENDER),
            "" if proofs is None or proofs.passed else "some promtool tests FAILED",
        )
    )
    return targets


def export_ref(ref: str, dest: Path) -> tuple[Path, Path]:
    """``git archive REF`` under ``dest``; returns (importable site dir, source tree).

    The site dir lays the package out as the wheel does (``generator.templates`` is
    ``templates/``, ``generator.schemas`` is ``schemas/``), so PYTHONPATH=site imports that
    commit's modelfleet ahead of the editable install of the working tree.
    """
    import io
    import tarfile

    blob = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True, check=True)
    src = dest / "src"
    src.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(blob.stdout)) as tar:
        tar.extractall(src, filter="data")
    site = dest / "site"
    site.mkdir()
    shutil.copytree(src / "generator", site / "generator")
    for package, folder in (("templates", "templates"), ("schemas", "schemas")):
        if (src / folder).is_dir():
            shutil.copytree(src / folder, site / "generator" / package, dirs_exist_ok=True)
    return site, src


def use_ref(ref: str, dest: Path) -> None:
    site, src = export_ref(ref, dest)
    CHILD_ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    SOURCE.label = f"{commit} (`--ref {ref}`: the committed tree, exported; uncommitted work excluded)"
    SOURCE.repo = src


def git_describe() -> str:
    if SOURCE.label:
        return SOURCE.label
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "generator", "templates"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return f"{head}{' + uncommitted changes to generator/ (the working tree as installed)' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(
    fleets: dict[str, FleetResult],
    one_model: dict[int, FleetResult],
    floors: dict[str, Series],
    example: dict[str, Series],
    targets: list[Target],
    *,
    help_heavy: list[str] | None,
    args: argparse.Namespace,
    elapsed: float,
    load_at_start: float,
) -> str:
    lines: list[str] = []
    add = lines.append
    add("# modelfleet benchmark results")
    add("")
    add("Written by `make bench` (`bench/run.py`); edit by hand only the last section. See `bench/README.md` for what")
    add("is measured and how, and `docs/scale.md` for what it means for a large fleet.")
    add("")
    add(f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    add(f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}")
    add(f"- Python {platform.python_version()} ({platform.python_implementation()})")
    add(f"- modelfleet: {git_describe()}")
    add(f"- mode: {'quick' if args.quick else 'full'}; whole run {elapsed / 60:.1f} min")
    add(
        f"- load average (1 min) at start / end: {load_at_start:.1f} / {os.getloadavg()[0]:.1f} "
        "(other work on the machine inflates medians)"
    )
    add("- cells are `min / median` wall seconds of fresh `python -m generator` processes; targets use the min")
    add(
        "- modelfleet's modules are byte-compiled before the first run, as an installed package's are "
        "(`PYTHONDONTWRITEBYTECODE` is not passed on to the children)"
    )
    add("")
    add("## Targets (issues 8 and 19)")
    add("")
    add("| target | measured | limit | status |")
    add("|---|---|---|---|")
    for t in targets:
        add(f"| {t.name} | {t.measured} | {t.limit} | **{t.status}** |")
    add("")
    add("## Floors")
    add("")
    add("| floor | min / median | runs |")
    add("|---|---|---|")
    add(f"| `python -c pass` | {floors['pass'].cell()} | {len(floors['pass'].times)} |")
    add(f'| import floor: `python -c "{IMPORT_FLOOR}"` | {floors["import"].cell()} | {len(floors["import"].times)} |')
    gen = example.get("import_generator")
    if gen:
        add(f"| `import generator.pipeline, generator.write.tree` (for comparison) | {gen.cell()} | {len(gen.times)} |")
    for name, result in fleets.items():
        if result.floor.times:
            add(
                f"| serialization floor {name} (CSafeDumper + write, {result.files} files; each right after a "
                f"render) | {result.floor.cell()} | {len(result.floor.times)} |"
            )
    add("")
    add("## Example fleet (5 models × 3 environments, this repository's)")
    add("")
    imp = floors["import"].min
    add("| command | min / median | × import floor | peak RSS |")
    add("|---|---|---|---|")
    commands = (
        ("help", "`--help`"),
        ("validate", "`validate` (after an edit: every check runs)"),
        ("validate_recorded", "`validate` (nothing changed: its record answers)"),
        ("render", "`render`"),
        ("check", "`render --check` (no-op)"),
    )
    for key, label in commands:
        series = example.get(key)
        if series is None:
            continue
        add(f"| {label} | {series.cell()} | {fmt_ratio(ratio(series.min, imp))} | {series.peak_rss or 0:.0f} MB |")
    if help_heavy is not None:
        add("")
        add(
            f"`--help` imports: {', '.join(help_heavy) if help_heavy else 'none of'} "
            f"{'(heavy)' if help_heavy else 'the heavy dependencies'}."
        )
    add("")
    add("## Synthetic fleets")
    add("")
    add(
        "| fleet (models × envs) | objects | files | MB | validate (after an edit) | render (scratch) | "
        "render --check | render after 1 change | peak RSS | render ÷ ser. floor | render ÷ 1-model render |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in fleets.values():
        baseline = r.change_baseline(one_model.get(r.environments))
        add(
            f"| {r.models} × {r.environments} | {r.objects or 'n/a'} | {r.files or 'n/a'} | "
            f"{(r.megabytes and round(r.megabytes, 1)) or 'n/a'} | {r.validate.cell()} | {r.render.cell()} | "
            f"{r.check.cell()} | {r.change.cell()} | "
            f"{max((v for series in r.every_render for v in series.rss), default=0):.0f} MB | "
            f"{fmt_ratio(ratio(r.render.min, r.floor.min))} | "
            f"{fmt_ratio(ratio(r.change.min, baseline.min if baseline else None))} (change) |"
        )
    for envs, r in sorted(one_model.items()):
        add(
            f"| 1 × {envs} (one-model baseline) | – | – | – | {r.validate.cell()} | {r.render.cell()} | – | – | "
            f"{r.render.peak_rss or 0:.0f} MB | – | – |"
        )
    for r in fleets.values():
        if r.paired_one.times:
            add(
                f"| 1 × {r.environments}, each run right after a {r.models} × {r.environments} render after one change "
                "| – | – | – "
                f"| – | {r.paired_one.cell()} | – | – | {r.paired_one.peak_rss or 0:.0f} MB | – | – |"
            )
    add("")
    add("Without the cache (each renders every unit; included in the peak RSS above):")
    add("")
    add("| fleet | `render --check` on a fresh clone (no cache) | peak RSS | `render --no-cache` | peak RSS |")
    add("|---|---|---|---|---|")
    for r in fleets.values():
        if r.cold_check.times or r.no_cache.times:
            add(
                f"| {r.models} × {r.environments} | {r.cold_check.cell()} | {r.cold_check.peak_rss or 0:.0f} MB | "
                f"{r.no_cache.cell()} | {r.no_cache.peak_rss or 0:.0f} MB |"
            )
    add("")
    add("## Pipeline stages (in-process, min over runs, seconds; exclusive time)")
    add("")
    add("| fleet | clock | import | " + " | ".join(STAGES) + " | render total | check_tree |")
    add("|---|---|---|" + "---|" * len(STAGES) + "---|---|")
    for name, r in fleets.items():
        if not r.stages:
            continue
        imp_s = min(s["import"] for s in r.stages)
        total = min(s["render"] for s in r.stages)
        ct = min(s["check_tree"] for s in r.stages)
        cells = " | ".join(f"{r.stage_min(s):.2f}" for s in STAGES)
        add(f"| {name} | wall | {imp_s:.2f} | {cells} | {total:.2f} | {ct:.2f} |")
        if all("cpu_stages" in s for s in r.stages):
            cpu_cells = " | ".join(f"{min(s['cpu_stages'].get(st, 0.0) for s in r.stages):.2f}" for st in STAGES)
            cpu_total = min(s["render_cpu"] for s in r.stages)
            add(f"| {name} | cpu | – | {cpu_cells} | {cpu_total:.2f} | – |")
    add("")
    add("`write` is `write_tree` into an empty directory (every file written, one `syncfs`, then one atomic swap);")
    add("`check_tree` is the comparison `render --check` does; `other` is time inside `render()` outside the")
    add("wrapped stage functions. `build` includes template rendering and parsing the templates' YAML.")
    missed = [t for t in targets if t.ratio is not None and t.ratio > 1.0]
    add("")
    add("## Missed targets: by how much and why")
    add("")
    if not missed:
        add("Every target is met.")
    for t in missed:
        add(f"- **{t.name}**: {t.status} (measured {t.measured}). {t.why}")
    failures = [
        (name, key, f)
        for name, r in {**fleets, **{f"1x{k}": v for k, v in one_model.items()}}.items()
        for key, s in (
            ("validate", r.validate),
            ("validate from its record", r.validate_recorded),
            ("render", r.render),
            ("check", r.check),
            ("change", r.change),
            ("check on a fresh clone", r.cold_check),
            ("render --no-cache", r.no_cache),
        )
        for f in s.failures
    ]
    if failures:
        add("")
        add("## Failed commands")
        add("")
        for name, key, f in failures:
            add(f"- {name} {key}: `{f}`")
    add("")
    return "\n".join(lines)


RUNS_FULL = {
    "small": {"validate": 5, "render": 5, "check": 5, "change": 5, "cold": 2, "floor": 3, "stages": 3},
    # A one-change render is short and noisy: as many runs as the 1x3 render it is compared with.
    "big": {"validate": 3, "render": 3, "check": 2, "change": 5, "cold": 1, "floor": 3, "stages": 1},
}
RUNS_QUICK = {
    "small": {"validate": 2, "render": 2, "check": 2, "change": 2, "cold": 1, "floor": 1, "stages": 1},
    "big": {"validate": 1, "render": 1, "check": 1, "change": 1, "cold": 1, "floor": 1, "stages": 1},
}


HAND_KEPT = "## Earlier runs and the optimisation log (kept by hand)"


def kept_by_hand(path: Path) -> str:
    """The hand-kept section at the end of the previous report, carried into the new one."""
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    at = old.find(HAND_KEPT)
    return "" if at < 0 else "\n" + old[at:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="modelfleet benchmark (issues 8 and 19)")
    parser.add_argument("--quick", action="store_true", help="fewer runs and no 100×20 fleet")
    parser.add_argument(
        "--fleets", default=None, help="comma-separated MODELSxENVS (default: 10x3,100x3,1000x3,100x20)"
    )
    parser.add_argument(
        "--output", type=Path, default=HERE / "RESULTS.md", help="markdown report (default: bench/RESULTS.md)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw measurements as JSON")
    parser.add_argument("--work", type=Path, default=None, help="where fleets are generated (default: a temp dir)")
    parser.add_argument(
        "--ref",
        default=None,
        help="benchmark this commit (git archive) instead of the installed working tree, e.g. HEAD",
    )
    parser.add_argument("--profile", metavar="MxE", help="cProfile one in-process render of a fleet and exit")
    parser.add_argument("--profile-out", type=Path, default=None, help="with --profile: write pstats here")
    parser.add_argument("--top", type=int, default=30, help="with --profile: rows to print")
    parser.add_argument("--child-stages", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-help", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_stages:
        return child_stages(args.child_stages)
    if args.child_floor:
        return child_floor(args.child_floor)
    if args.child_help:
        return child_help()
    if args.profile:
        return profile(args.profile, args.profile_out, args.top)

    load_at_start = os.getloadavg()[0]
    started = time.perf_counter()
    default = "10x3,100x3,1000x3" if args.quick else "10x3,100x3,1000x3,100x20"
    specs = [s.strip() for s in (args.fleets or default).split(",") if s.strip()]
    plan = RUNS_QUICK if args.quick else RUNS_FULL
    small_reps = 3 if args.quick else 7

    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelfleet-bench-")))
        work.mkdir(parents=True, exist_ok=True)
        if args.ref:
            use_ref(args.ref, work / "ref")
        # Warm-up: byte-compile every module of modelfleet (some are imported only by some
        # commands) and import it with its dependencies once, untimed.
        package = "import generator, pathlib; print(pathlib.Path(generator.__file__).parent)"
        where = run([PY, "-c", package]).stdout.strip()
        warm = run([PY, "-m", "compileall", "-q", where]) if where else None
        if warm is None or warm.code == 0:
            imports = "import generator.pipeline, generator.write.tree, generator.cli, generator.commands.schema"
            warm = run([PY, "-c", imports])
        if warm.code != 0:
            log(f"cannot import modelfleet with {PY}:\n{warm.stderr}")
            return 1

        floors = {"pass": Series(), "import": Series()}
        repeat(small_reps, lambda _: run([PY, "-c", "pass"]), floors["pass"])
        repeat(small_reps, lambda _: run([PY, "-c", IMPORT_FLOOR]), floors["import"])
        log(f"floors: python -c pass {floors['pass'].cell()}, import floor {floors['import'].cell()}")

        example: dict[str, Series] = {
            k: Series() for k in ("help", "validate", "validate_recorded", "render", "check", "import_generator")
        }
        ex_root = fleetgen.copy_example(work / "example", repo=SOURCE.repo)
        repeat(small_reps, lambda _: run([PY, "-m", "generator", "--help"]), example["help"])
        repeat(
            small_reps,
            lambda _: run([PY, "-c", "import generator.pipeline, generator.write.tree"]),
            example["import_generator"],
        )
        measure_validate(ex_root, small_reps, example["validate"], example["validate_recorded"])

        def ex_scratch(_: int) -> Run:
            clean_render_state(ex_root)
            return run(modelfleet(ex_root, "render"))

        repeat(small_reps, ex_scratch, example["render"])
        repeat(small_reps, lambda _: run(modelfleet(ex_root, "render", "--check")), example["check"])
        help_out = run([PY, str(HERE / "run.py"), "--child-help"])
        help_heavy = json.loads(help_out.stdout.strip().splitlines()[-1])["heavy"] if help_out.code == 0 else None
        log(
            f"example: --help {example['help'].cell()} (heavy imports: {help_heavy}), validate "
            f"{example['validate'].cell()} (from its record {example['validate_recorded'].cell()}), "
            f"render {example['render'].cell()}, --check {example['check'].cell()}"
        )

        one_model: dict[int, FleetResult] = {}
        for envs in sorted({parse_spec(s)[1] for s in specs}):
            one_model[envs] = bench_fleet(f"1x{envs}", plan["small"], work, full=False)
        pair_roots = {envs: work / f"fleet-1x{envs}" for envs in one_model}

        fleets: dict[str, FleetResult] = {}
        for spec in specs:
            models, envs = parse_spec(spec)
            size = "big" if models * envs >= 1000 else "small"
            pair = pair_roots.get(envs)
            fleets[spec] = bench_fleet(spec, plan[size], work, pair_with=pair if pair and pair.is_dir() else None)
        largest = max(fleets.values(), key=lambda r: r.models * r.environments if r.bytes_table else -1)
        output_bytes = f"\n## Output bytes\n\n{largest.bytes_table}\n" if largest.bytes_table else ""

    import proofs as proof_bench  # bench/proofs.py

    log("[proofs] render 100×3 and promtool test rules over its tests")
    proof_cost = proof_bench.measure(100, 3) if shutil.which("promtool") else None
    targets = evaluate(fleets, floors["import"], example, one_model, proof_cost)
    elapsed = time.perf_counter() - started
    text = markdown(
        fleets,
        one_model,
        floors,
        example,
        targets,
        help_heavy=help_heavy,
        args=args,
        elapsed=elapsed,
        load_at_start=load_at_start,
    )
    text += output_bytes
    args.output.write_text(text + kept_by_hand(args.output), encoding="utf-8")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "floors": {k: v.to_json() for k, v in floors.items()},
                    "example": {k: v.to_json() for k, v in example.items()},
                    "fleets": {k: v.to_json() for k, v in fleets.items()},
                    "one_model": {str(k): v.to_json() for k, v in one_model.items()},
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    print(text)
    log(f"wrote {args.output} in {elapsed / 60:.1f} min")
    return 0 if all(t.ratio is not None for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
