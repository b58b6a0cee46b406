"""What the alert proofs cost against a render (issue 19, point 1).

``measure(models, environments)`` generates a synthetic fleet (``fleetgen``), times a render from
scratch (``python -m generator --root FLEET render``) and then ``promtool test rules`` over every
rendered ``tests/*/*.rules-test.yaml``, the way CI runs them (docs/scale.md: ``ls ... | xargs -P
"$(nproc)" -n 50 promtool test rules``): the files split into one batch per core, one promtool
process per batch side by side; promtool's own start (~30 ms) is paid once per batch, not per
file. promtool opens a throwaway TSDB in ``$TMPDIR`` for every test group; with
a tmpfs at /dev/shm (Linux, GitHub's runners) TMPDIR points there, as CI should, so that no
group waits for a disk. Returns both times, the number of files and their bytes.

    .venv/bin/python bench/proofs.py --models 100 --environments 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fleetgen  # noqa: E402


@dataclass(frozen=True)
class ProofCost:
    render_seconds: float
    promtool_seconds: float
    files: int
    test_bytes: int  # bytes of rendered/tests (rules and their tests)
    passed: bool

    @property
    def ratio(self) -> float:
        return self.promtool_seconds / self.render_seconds


def promtool_env() -> dict[str, str]:
    """The environment promtool runs in: TMPDIR on a tmpfs when there is one, and one Go
    thread each (``GOMAXPROCS=1``): there is already one promtool per core, and Go's runtime
    would otherwise run as many threads in each as there are cores (15 % slower here)."""
    shm = Path("/dev/shm")
    tmpfs = shm.is_dir() and os.access(shm, os.W_OK)
    env = {**os.environ, "GOMAXPROCS": "1"}
    return {**env, "TMPDIR": str(shm)} if tmpfs else env


def promtool_all(tests: list[Path], jobs: int, env: dict[str, str] | None = None) -> tuple[float, bool]:
    """Seconds for ``promtool test rules`` over ``tests`` in ``jobs`` processes; did every test pass?"""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise RuntimeError("promtool is missing (Debian package prometheus)")
    batches = [tests[index::jobs] for index in range(jobs) if tests[index::jobs]]
    start = time.perf_counter()
    output = subprocess.PIPE, subprocess.STDOUT
    procs = [
        subprocess.Popen(
            [promtool, "test", "rules", *map(str, batch)],
            stdout=output[0],
            stderr=output[1],
            env=promtool_env() if env is None else env,
        )
        for batch in batches
    ]
    codes = [proc.wait() for proc in procs]
    seconds = time.perf_counter() - start
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.close()
    return seconds, all(code == 0 for code in codes)


def measure(models: int = 100, environments: int = 3, jobs: int | None = None) -> ProofCost:
    """Render a ``models`` x ``environments`` fleet from scratch and prove its alerts."""
    with tempfile.TemporaryDirectory(prefix="modelfleet-proofs-") as scratch:
        root = fleetgen.generate(Path(scratch) / "fleet", models=models, environments=environments)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "generator", "--root", str(root), "render"],
            cwd=scratch,
            check=True,
            capture_output=True,
        )
        render = time.perf_counter() - start
        tests = sorted((root / "rendered" / "tests").glob("*/*.rules-test.yaml"))
        size = sum(p.stat().st_size for p in (root / "rendered" / "tests").rglob("*") if p.is_file())
        seconds, passed = promtool_all(tests, jobs or os.cpu_count() or 1)
        return ProofCost(render, seconds, len(tests), size, passed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--environments", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="promtool processes (default: one per core)")
    args = parser.parse_args(argv)
    cost = measure(args.models, args.environments, args.jobs)
    print(
        f"render {cost.render_seconds:.2f} s; promtool over {cost.files} test files {cost.promtool_seconds:.2f} s "
        f"= {cost.ratio:.2f}x render; {'passed' if cost.passed else 'FAILED'}; rendered/tests {cost.test_bytes} bytes"
    )
    return 0 if cost.passed else 1


if __name__ == "__main__":
    sys.exit(main())
