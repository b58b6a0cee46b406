"""Determinism (issue 7, point 5): `render` writes byte-identical trees whatever the hash
seed, locale, time zone and working directory, and a second render with nothing changed
touches no file.

The variants run as concurrent subprocesses (``python -m generator render``), each on its own
copy of the example fleet, and each tree is compared with the committed rendered/. Locales
that are not installed are skipped.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.cli import main
from tests.fleets import generated_fleet

REPO = Path(__file__).resolve().parent.parent
SECONDS = 300
# The variables a variant controls; everything else is inherited.
CONTROLLED = ("PYTHONHASHSEED", "TZ", "LANG", "LANGUAGE", "PYTHONUTF8", "PYTHONCOERCECLOCALE", "PYTHONIOENCODING")


@dataclass(frozen=True)
class Variant:
    id: str
    env: dict[str, str]
    cwd: str  # "root": run inside the fleet; "outside": a sibling directory, with --root
    root_arg: str = ""  # "absolute" or "relative" (with cwd "outside")
    locale: str = ""  # the locale the variant needs installed


VARIANTS = (
    Variant("seed0-C-UTC-in-root", {"PYTHONHASHSEED": "0", "LC_ALL": "C", "TZ": "UTC"}, "root"),
    Variant(
        "seed1-C.UTF-8-Chatham-abs-root",
        {"PYTHONHASHSEED": "1", "LC_ALL": "C.UTF-8", "TZ": "Pacific/Chatham"},
        "outside",
        "absolute",
        locale="C.UTF-8",
    ),
    Variant(
        "seed4242-en_US-Chatham-in-root",
        {"PYTHONHASHSEED": "4242", "LC_ALL": "en_US.UTF-8", "TZ": "Pacific/Chatham"},
        "root",
        locale="en_US.UTF-8",
    ),
    Variant(
        "random-tr_TR-UTC-relative-root",
        {"PYTHONHASHSEED": "random", "LC_ALL": "tr_TR.UTF-8", "TZ": "UTC"},
        "outside",
        "relative",
        locale="tr_TR.UTF-8",
    ),
    Variant(
        "seed123-LANG-tr_TR-Chatham-abs-root",
        {"PYTHONHASHSEED": "123", "LANG": "tr_TR.UTF-8", "LC_COLLATE": "tr_TR.UTF-8", "TZ": "Pacific/Chatham"},
        "outside",
        "absolute",
        locale="tr_TR.UTF-8",
    ),
    Variant(  # no UTF-8 anywhere: ASCII locale encoding, no C-locale coercion, no UTF-8 mode
        "seed7-ascii-locale-UTC-relative-root",
        {"PYTHONHASHSEED": "7", "LC_ALL": "C", "TZ": "UTC", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
        "outside",
        "relative",
    ),
)


def _normal(name: str) -> str:
    return name.lower().replace("-", "")


@functools.cache
def installed_locales() -> frozenset[str]:
    try:
        listing = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return frozenset({"c", "posix"})
    return frozenset(_normal(line.strip()) for line in listing.splitlines() if line.strip())


def locale_missing(variant: Variant) -> bool:
    return bool(variant.locale) and _normal(variant.locale) not in installed_locales()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    files: dict[str, bytes]


def _copy_fleet(target: Path) -> None:
    target.mkdir(parents=True)
    shutil.copy2(REPO / "models.yaml", target / "models.yaml")
    for name in ("environments", "services"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, Result]]:
    """Every runnable variant, rendered concurrently, each in its own copy of the fleet."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        running: dict[str, tuple[subprocess.Popen[str], Path]] = {}
        for variant in VARIANTS:
            if locale_missing(variant):
                continue
            fleet = base / variant.id / "fleet"
            _copy_fleet(fleet)
            outside = base / variant.id / "elsewhere" / "deeper"
            outside.mkdir(parents=True)
            args = [sys.executable, "-m", "generator"]
            if variant.cwd == "outside":
                root = str(fleet) if variant.root_arg == "absolute" else os.path.relpath(fleet, outside)
                args += ["--root", root]
            env = {k: v for k, v in os.environ.items() if k not in CONTROLLED and not k.startswith("LC_")}
            env.update(variant.env)
            process = subprocess.Popen(
                [*args, "render"],
                cwd=fleet if variant.cwd == "root" else outside,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            running[variant.id] = (process, fleet)
        out: dict[str, Result] = {}
        try:
            for name, (process, fleet) in running.items():
                stdout, stderr = process.communicate(timeout=SECONDS)
                out[name] = Result(process.returncode, stdout, stderr, tree(fleet / "rendered"))
        finally:
            for process, _ in running.values():
                if process.poll() is None:
                    process.kill()
                    process.communicate()
        yield out


@pytest.fixture(scope="module")
def committed() -> dict[str, bytes]:
    return tree(REPO / "rendered")


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_render_is_byte_identical_to_committed_tree(
    variant: Variant, results: dict[str, Result], committed: dict[str, bytes]
) -> None:
    if locale_missing(variant):  # decided when the test runs: collection runs no `locale -a`
        pytest.skip(f"locale {variant.locale} missing")
    result = results[variant.id]
    assert result.code == 0, f"render failed under {variant.env}:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    missing = sorted(set(committed) - set(result.files))
    extra = sorted(set(result.files) - set(committed))
    differ = sorted(p for p in set(committed) & set(result.files) if committed[p] != result.files[p])
    assert not (missing or extra or differ), (
        f"{variant.id}: rendered/ differs from the committed tree "
        f"(missing {missing[:5]}, extra {extra[:5]}, different {differ[:5]}); if every variant differs the "
        "same way, rendered/ is stale (test_golden), otherwise the output depends on the environment"
    )


def test_variants_agree_with_each_other(results: dict[str, Result]) -> None:
    """Independent of the committed tree: every variant wrote the same bytes."""
    trees = {name: r.files for name, r in results.items() if r.code == 0}
    assert len(trees) >= 2, "fewer than two variants could run"
    first_name, first = next(iter(trees.items()))
    for name, files in trees.items():
        assert files == first, f"{name} and {first_name} rendered different trees"


def _stat_tree(root: Path) -> dict[str, tuple[int, int]]:
    paths = [root, *sorted(root.rglob("*"))]
    return {p.relative_to(root.parent).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


def test_rerender_without_change_touches_nothing(example_fleet: Path) -> None:
    """After a render, a second one rewrites no file or directory: every inode and mtime stays."""
    assert main(["--root", str(example_fleet), "render"]) == 0
    rendered = example_fleet / "rendered"
    old = 1_000_000_000  # 2001: any write from now on moves an mtime away from it
    for path in [rendered, *rendered.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    before = _stat_tree(rendered)
    siblings = sorted(p.name for p in example_fleet.iterdir())
    assert main(["--root", str(example_fleet), "render"]) == 0
    after = _stat_tree(rendered)
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    assert not changed, f"a render without change touched: {changed[:10]}"
    assert sorted(p.name for p in example_fleet.iterdir()) == siblings, "a render without change left files behind"


# ------------------------------------------------- a render in worker processes (issue 19)

UNIT_FAULT = """
import sys
from tests.faults import install_unit_fault
install_unit_fault({fault!r})
from generator.cli import main
sys.exit(main({argv!r}))
"""


def _render_jobs(fleet: Path, jobs: int, *args: str, fault: dict[str, object] | None = None) -> Result:
    """``modelfleet render`` in a process of its own with ``MODELFLEET_JOBS=jobs`` (and a
    unit fault of ``tests.faults`` installed first, when given)."""
    argv = ["--root", str(fleet), "render", *args]
    command = [sys.executable, "-m", "generator", *argv]
    if fault is not None:
        command = [sys.executable, "-c", UNIT_FAULT.format(fault=fault, argv=argv)]
    done = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "MODELFLEET_JOBS": str(jobs)},
        capture_output=True,
        text=True,
        timeout=SECONDS,
        check=False,
    )
    rendered = fleet / "rendered"
    return Result(done.returncode, done.stdout, done.stderr, tree(rendered) if rendered.is_dir() else {})


def _fleet(kind: str, target: Path) -> Path:
    if kind == "example":
        _copy_fleet(target)
        return target
    return generated_fleet(target, models=12)


def _edit_models(fleet: Path) -> None:
    """One model's maxReplicas in models.yaml: a render then mixes cache hits and misses."""
    path = fleet / "models.yaml"
    text = path.read_text()
    match = re.search(r"maxReplicas: (\d+)", text)
    assert match is not None
    path.write_text(f"{text[: match.start(1)]}{int(match[1]) + 1}{text[match.end(1) :]}")


@pytest.mark.parametrize("kind", ["example", "synthetic"])
def test_parallel_render_is_byte_identical_to_sequential(kind: str, tmp_path: Path) -> None:
    """jobs=1 and jobs=2 write the same tree and print the same summary: from scratch, after
    an edit to models.yaml (cache hits and misses mixed), and with a warm cache but no
    rendered/ (hits its tree no longer holds, rebuilt). Each checks the other's tree."""
    fleets = {jobs: _fleet(kind, tmp_path / f"jobs{jobs}") for jobs in (1, 2)}
    steps: list[tuple[str, Callable[[Path], None]]] = [
        ("from scratch", lambda fleet: None),
        ("after an edit of models.yaml", _edit_models),
        ("with a warm cache and no rendered/", lambda fleet: shutil.rmtree(fleet / "rendered")),
    ]
    for label, step in steps:
        results = {}
        for jobs, fleet in fleets.items():
            step(fleet)
            results[jobs] = _render_jobs(fleet, jobs)
            assert results[jobs].code == 0, f"{label}, jobs={jobs}: {results[jobs].stderr}"
        assert results[1].stdout == results[2].stdout, label
        different = sorted(
            p
            for p in results[1].files.keys() | results[2].files.keys()
            if results[1].files.get(p) != results[2].files.get(p)
        )
        assert not different, f"{label}: jobs=1 and jobs=2 wrote different files: {different[:5]}"
    for jobs, fleet in fleets.items():
        other = 3 - jobs
        check = _render_jobs(fleet, other, "--check", "--no-cache")
        assert check.code == 0, f"render --check with jobs={other} on the tree of jobs={jobs}: {check.stderr}"


def test_parallel_render_reports_findings_as_the_sequential_one(tmp_path: Path) -> None:
    """Units that cannot be built (two environments, in two workers' models) are reported
    in the same order with the same text, and rendered/ is left alone."""
    fault = {
        "units": [["prod", "image-classifier-0001"], ["dev", "fraud-detector-0000"], ["prod", "churn-model-0001"]],
        "action": "finding",
    }
    results = {}
    for jobs in (1, 2):
        fleet = generated_fleet(tmp_path / f"jobs{jobs}", models=12)
        results[jobs] = _render_jobs(fleet, jobs, "--no-cache", fault=fault)
        assert results[jobs].code == 1, results[jobs].stderr
        assert results[jobs].files == {}, "a render with findings wrote rendered/"
    assert "injected finding" in results[1].stderr
    assert results[1].stderr == results[2].stderr
    assert results[1].stdout == results[2].stdout


@pytest.mark.parametrize("action", ["finding", "raise"])
def test_shared_files_built_in_workers_fail_as_in_the_render(action: str, tmp_path: Path) -> None:
    """Environments' shared files are built in workers when several need building: one that
    cannot be built (a finding) or that fails (a bug) ends the render as it does without
    workers, and rendered/ is left alone."""
    fault = {"environments": ["staging", "prod"], "action": action}
    results = {}
    for jobs in (1, 2):
        fleet = generated_fleet(tmp_path / f"jobs{jobs}", models=12)
        results[jobs] = _render_jobs(fleet, jobs, "--no-cache", fault=fault)
        assert results[jobs].code != 0, results[jobs].stderr
        assert results[jobs].files == {}, "a failed render wrote rendered/"
    if action == "finding":
        assert "staging: injected finding" in results[1].stderr and "prod: injected finding" in results[1].stderr
        assert results[1].stderr == results[2].stderr
    else:
        assert "injected fault" in results[1].stderr and "injected fault" in results[2].stderr
    assert results[1].code == results[2].code
    assert results[1].stdout == results[2].stdout
