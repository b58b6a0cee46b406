"""Command line: argument parsing and the one error boundary.

Exit codes: 0 ok; 1 invalid input or stale output; 2 usage error; 3 internal error
(a short message, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import Finding, ModelfleetError, UsageError

if TYPE_CHECKING:
    from .cache import UnitCache

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


NO_CACHE_HELP = (
    "neither read nor write .modelfleet-cache/ (the same as setting MODELFLEET_NO_CACHE=1); "
    "the cache never changes the output, it only skips work whose inputs did not change"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print and exit
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelfleet",
        description="Render a fleet of ML model services from models.yaml into rendered/.",
    )
    parser.add_argument("--root", default=".", help="fleet root holding models.yaml (default: current directory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    validate = sub.add_parser("validate", help="check models.yaml and environments/*.yaml")
    validate.add_argument("--format", choices=("text", "json", "github"), default="text")
    validate.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    render = sub.add_parser("render", help="write rendered/ (or --check that it is current)")
    render.add_argument("--check", action="store_true", help="exit 1 if rendered/ is stale; write nothing")
    render.add_argument("--format", choices=("text", "json", "github"), default="text")
    render.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    explain = sub.add_parser("explain", help="show a resolved value and the file:line that set it")
    explain.add_argument("environment")
    explain.add_argument("model")
    explain.add_argument("path", help="field path, for example scaling.maxReplicas or secrets[0].env")
    diff = sub.add_parser("diff", help="what the working tree changes against a git revision, per environment")
    diff.add_argument("--base", required=True, metavar="REF", help="git revision to compare with, e.g. origin/main")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    promote = sub.add_parser("promote", help="copy a model's image and artifact from one environment to another")
    promote.add_argument("model")
    promote.add_argument("--from", dest="source", required=True, metavar="ENV", help="environment to copy from")
    promote.add_argument("--to", dest="target", required=True, metavar="ENV", help="environment to copy to")
    schema = sub.add_parser("schema", help="regenerate schemas/*.json and docs/reference.md from the spec models")
    schema.add_argument("--check", action="store_true", help="exit 1 if schemas/ is stale; write nothing")
    return parser


def _emit(stream: TextIO, text: str) -> None:
    if text:
        stream.write(text)
        stream.flush()


def _report(findings: Sequence[Finding], fmt: str, stream: TextIO) -> None:
    from . import report

    if fmt == "json":
        _emit(sys.stdout, report.format_json(findings))
    elif fmt == "github":
        _emit(sys.stdout, report.format_github(findings))
    else:
        _emit(stream, report.format_text(findings, color=stream.isatty() and "NO_COLOR" not in os.environ))


def _cmd_validate(root: Path, fmt: str, use_cache: bool) -> int:
    from . import report
    from .inputs import now_ns, recorded_result, save_record

    result = recorded_result(root, "validate") if use_cache else None
    if result is None or not all(isinstance(result.get(k), int) for k in ("models", "environments")):
        from .load import load_fleet
        from .validation import validate_recorded

        started = now_ns()
        resolution, referenced = validate_recorded(load_fleet(root))
        result = {"models": len(resolution.base), "environments": len(resolution.environments)}
        if use_cache:
            save_record(root, "validate", referenced, result, started)
    count, envs = result["models"], result["environments"]
    if fmt == "json":
        _emit(sys.stdout, report.format_json([]))
    elif fmt == "text":
        _emit(sys.stdout, report.format_ok(f"{count} models, {envs} environments valid"))
    return EXIT_OK


def _render_summary(files: int, objects: int, environments: int, changes: int) -> str:
    return (
        f"rendered/ written: {files} files, {objects} objects in "
        f"{environments} environments ({changes} {'file' if changes == 1 else 'files'} changed)"
    )


_RENDER_KEYS = ("files", "objects", "environments", "models")


def _current_render(root: Path, check: bool) -> dict[str, Any] | None:
    """The recorded render result when the inputs and rendered/ on disk both still match it."""
    from .inputs import disk_tree_digest, recorded_result, tree_digest_of
    from .write.fs import shared_lock
    from .write.read import last_recorded, last_written

    result = recorded_result(root, "render")
    if result is None or not all(isinstance(result.get(k), int) for k in _RENDER_KEYS):
        return None
    target = root / "rendered"
    if not check and (any(root.glob(".rendered.tmp-*")) or any(root.glob(".rendered.old-*"))):
        return None  # leftovers of an interrupted render: the full path removes them
    plain_dir = target.is_dir() and not target.is_symlink()
    recorded = last_recorded(target) if plain_dir else None
    if recorded is not None and tree_digest_of(recorded)[0] != result.get("tree"):
        return None  # the last write wrote another tree: no need to look at the disk
    written = last_written(target) if plain_dir else None  # a verified manifest: no file is read
    if written is not None:
        on_disk: tuple[str, str] | None = tree_digest_of(written)
    else:
        with shared_lock(target):
            on_disk = disk_tree_digest(target) if plain_dir else None
    if on_disk is None or [on_disk[0], on_disk[1] if not check else result.get("dirs")] != [
        result.get("tree"),
        result.get("dirs"),
    ]:
        return None
    return result


def _cmd_render(root: Path, check: bool, use_cache: bool) -> int:
    from . import report
    from .digest import content_digest
    from .write.read import check_tree
    from .write.tree import write_tree

    current = _current_render(root, check) if use_cache else None
    if current is not None:
        if check:
            _emit(sys.stdout, report.format_ok(f"rendered/ is current ({current['files']} files)"))
        else:
            summary = _render_summary(current["files"], current["objects"], current["environments"], 0)
            _emit(sys.stdout, report.format_ok(summary))
        return EXIT_OK
    from .cache import UnitCache
    from .inputs import now_ns
    from .pipeline import render_fresh

    started = now_ns()
    cache = UnitCache(root, enabled=use_cache, writable=not check)  # --check writes nothing
    if check:
        streamed = _check_streamed(root, cache)
    else:
        delta = _render_delta(root, cache, started) if use_cache else None
        streamed = delta or _render_streamed(root, cache, started, save=use_cache)
    if streamed is not None:
        _emit(sys.stdout, report.format_ok(streamed))
        return EXIT_OK
    rendered = render_fresh(root)  # a finding stopped the streaming render: report it
    files = rendered.plan.files
    environments = len(rendered.resolution.environments)
    if use_cache and not check:
        digests = {path: content_digest(data) for path, data in files.items()}
        _save_input_records(
            root,
            started,
            rendered.referenced,
            digests,
            objects=rendered.object_count,
            environments=environments,
            models=len(rendered.resolution.base),
        )
    target = root / "rendered"
    if check:
        check_tree(target, files)
        _emit(sys.stdout, report.format_ok(f"rendered/ is current ({len(files)} files)"))
        return EXIT_OK
    diff = write_tree(target, files)
    summary = _render_summary(len(files), rendered.object_count, environments, diff.changed)
    _emit(sys.stdout, report.format_ok(summary))
    return EXIT_OK


def _render_delta(root: Path, cache: UnitCache, started: int) -> str | None:
    """``render`` through ``generator.delta`` when only per-model overrides changed: the
    summary line, or None when the delta path declines.

    The cyclic collector is off meanwhile: the delta path holds a few large acyclic tables
    (the record, the manifest's records, the plan) and rebuilds at most
    ``delta.MAX_CHANGED_UNITS`` units, and each young-generation pass over its 100,000
    objects cost 10-15 ms at 1000x3 (30 ms a run) for nothing collected."""
    gc.disable()
    try:
        return _render_delta_now(root, cache, started)
    finally:
        gc.enable()


def _render_delta_now(root: Path, cache: UnitCache, started: int) -> str | None:
    from .delta import render_delta

    delta = render_delta(root, cache, started)
    if delta is None:
        return None
    from .write.planned import Kept, KeptUnavailable
    from .write.tree import write_tree

    planned = {path: Kept(value) if isinstance(value, str) else value for path, value in delta.files.items()}
    try:
        diff = write_tree(root / "rendered", planned)
    except KeptUnavailable:  # rendered/ no longer holds a file the record names: build it all
        return None
    _save_records(root, cache, started, delta.record, delta.referenced)
    return _render_summary(len(planned), delta.objects, delta.environments, diff.changed)


def _check_streamed(root: Path, cache: UnitCache) -> str | None:
    """``render --check`` keeping only each file's digest (the files are compared by digest);
    None when a finding needs the full path."""
    from .cache import unit_cache
    from .incremental import Unstreamable
    from .pipeline import render
    from .sinks import DigestSink
    from .write.planned import Kept
    from .write.read import check_tree

    sink = DigestSink()
    try:
        with unit_cache(cache):
            rendered = render(root, sink)
    except Unstreamable:
        return None
    planned: dict[str, bytes | Kept] = {path: Kept(found) for path, found in sink.digests.items()}
    planned.update(rendered.plan.files)  # a render that did not stream
    check_tree(root / "rendered", planned)
    return f"rendered/ is current ({len(planned)} files)"


def _render_streamed(root: Path, cache: UnitCache, started: int, *, save: bool = True) -> str | None:
    """``render`` with the unit cache (or without: ``cache`` disabled), each file handed to the
    writer as soon as it exists, so the render never holds the whole tree; None when a
    finding needs the full path. The writer (and its lock) is taken at the first file: a
    spec that fails validation leaves every tree alone. ``save``: record the render."""
    from .cache import unit_cache
    from .incremental import Unstreamable
    from .pipeline import render
    from .sinks import WriterSink
    from .write.tree import write_tree

    with contextlib.ExitStack() as stack:
        sink = WriterSink(root / "rendered", stack)
        try:
            with unit_cache(cache):
                rendered = render(root, sink)
        except Unstreamable:
            return None
        for path, data in rendered.plan.files.items():  # a render that did not stream
            sink(path, data)
        if sink.writer is None or not sink.added:
            write_tree(root / "rendered", {})  # the empty plan's error
        assert sink.writer is not None
        diff = sink.writer.commit()
    record = rendered.delta_record
    if record is not None and save:
        _save_records(root, cache, started, record, rendered.referenced)
    environments = len(rendered.resolution.environments)
    return _render_summary(sink.added, rendered.object_count, environments, diff.changed)


def _save_records(
    root: Path, cache: UnitCache, started: int, record: dict[str, Any], referenced: frozenset[str]
) -> None:
    """The delta record and the input records of ``render`` and ``validate``, after a write."""
    from .delta import save_delta_record

    save_delta_record(root, cache, record, started)
    summary = record["summary"]
    _save_input_records(
        root,
        started,
        referenced,
        record["files"],
        objects=int(summary["objects"]),
        environments=int(summary["environments"]),
        models=int(summary["models"]),
    )


def _save_input_records(
    root: Path,
    started: int,
    referenced: frozenset[str],
    digests: Mapping[str, str],
    *,
    objects: int,
    environments: int,
    models: int,
) -> None:
    """The input records of ``render`` (the written tree, by its files' ``content_digest``)
    and ``validate``."""
    from .inputs import save_record, tree_digest_of

    tree, dirs = tree_digest_of(digests)
    result = {"files": len(digests), "objects": objects, "environments": environments, "models": models}
    save_record(root, "render", referenced, {**result, "tree": tree, "dirs": dirs}, started)
    save_record(root, "validate", referenced, {"models": models, "environments": environments}, started)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_path(text: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for match in _PATH_PART.finditer(text):
        name, index = match.groups()
        parts.append(int(index) if index is not None else name)
    return tuple(parts)


def _cmd_explain(root: Path, env_name: str, model_name: str, path_text: str) -> int:
    from .explain import explain

    _emit(sys.stdout, explain(root, env_name, model_name, _split_path(path_text)))
    return EXIT_OK


def _cmd_schema(root: Path, check: bool) -> int:
    from . import report
    from .errors import Location
    from .schema import stale_generated, write_generated

    if check:
        stale = stale_generated(root)
        if stale:
            raise ModelfleetError(
                Finding("stale: differs from the spec models", Location(name), hint="run `modelfleet schema`")
                for name in stale
            )
        _emit(sys.stdout, report.format_ok("schemas/ and docs/reference.md are current"))
        return EXIT_OK
    changed = write_generated(root)
    _emit(sys.stdout, report.format_ok(f"schemas/ and docs/reference.md written ({len(changed)} changed)"))
    return EXIT_OK


def _cmd_diff(root: Path, base: str, fmt: str) -> int:
    from .diff import diff

    result = diff(root, base)
    text = {"text": result.format_text, "markdown": result.format_markdown, "json": result.format_json}[fmt]()
    _emit(sys.stdout, text)
    return EXIT_OK


def _cmd_promote(root: Path, model: str, source: str, target: str) -> int:
    from . import report
    from .pipeline import render
    from .promote import promote
    from .write.tree import write_tree

    result = promote(root, model, source, target)
    if not result.changed:
        _emit(sys.stdout, report.format_ok(f"{target} already runs what {source} runs for {model}; nothing to do"))
        return EXIT_OK
    _emit(sys.stdout, result.diff)
    diff = write_tree(root / "rendered", render(root).plan.files)
    changes = diff.changed
    summary = (
        f"promoted {model} from {source} to {target}: image {result.new_image}, artifact {result.new_artifact}; "
        f"rendered/ updated ({changes} {'file' if changes == 1 else 'files'} changed)"
    )
    _emit(sys.stdout, report.format_ok(summary))
    return EXIT_OK


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    root = Path(args.root)
    if args.command is None:
        raise UsageError("a command is required\n" + build_parser().format_usage().rstrip())
    if not root.is_dir():
        raise UsageError(f"--root {args.root} is not a directory")
    if args.command == "validate":
        return _cmd_validate(root, args.format, not args.no_cache)
    if args.command == "render":
        return _cmd_render(root, args.check, not args.no_cache)
    if args.command == "explain":
        return _cmd_explain(root, args.environment, args.model, args.path)
    if args.command == "diff":
        return _cmd_diff(root, args.base, args.format)
    if args.command == "promote":
        return _cmd_promote(root, args.model, args.source, args.target)
    return _cmd_schema(root, args.check)


def _format_of(argv: Sequence[str]) -> str:
    for index, arg in enumerate(argv):
        if arg == "--format" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--format="):
            return arg.split("=", 1)[1]
    return "text"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; the one place errors become output."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except ModelfleetError as exc:
        _report(exc.findings, _format_of(args), sys.stderr)
        return EXIT_INVALID
    except UsageError as exc:
        _emit(sys.stderr, f"modelfleet: usage error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _emit(sys.stderr, "modelfleet: interrupted\n")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # argparse --help
        return int(exc.code) if isinstance(exc.code, int) else EXIT_OK
    except Exception as exc:
        _emit(
            sys.stderr,
            f"modelfleet: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in modelfleet; please report it with the command you ran.\n",
        )
        return EXIT_INTERNAL


# The collector's thresholds for the CLI process. A render builds a large heap of long-lived,
# acyclic objects (specs, objects, output bytes) and frees almost nothing cyclic: with the
# default thresholds the full collections that rescan that heap took 23 % of a 300-model
# render's CPU time for 73 objects collected. Rarer collections keep the collector for the
# little cyclic garbage there is.
GC_THRESHOLDS = (100_000, 50, 100)


def main_entry() -> None:
    """The console script (and `python -m generator`): main() in a process of its own.

    The process ends with ``os._exit`` once the output is flushed, as mypy's ``--fast-exit``
    does: the interpreter's own shutdown frees every object one by one, which took 90 ms
    after a render of a 1,000-model fleet, for memory the kernel reclaims at once. Nothing
    is left to do by then: every file a command writes is closed (and where needed synced)
    before ``main`` returns, the commands start no threads or child processes, and the two
    exit handlers the imports register (``logging``'s flush of handlers modelfleet never
    adds, ``certifi``'s release of a certificate file it never unpacked) have nothing to do."""
    gc.set_threshold(*GC_THRESHOLDS)
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
