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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from generator.errors import Finding, ModelfleetError, UsageError
from generator.spec.runtimes import RUNTIMES

if TYPE_CHECKING:
    from generator.output.shard import Shard
    from generator.terminal import TerminalProgress

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


QUIET_HELP = "show no progress on stderr (shown only on a terminal, for a command that takes a while)"
NO_CACHE_HELP = (
    "neither read nor write .modelfleet-cache/ (the same as setting MODELFLEET_NO_CACHE=1); "
    "the cache never changes the output, it only skips work whose inputs did not change"
)


def _shard_options(parser: argparse.ArgumentParser) -> None:
    """--env and --model: one shard of a CI matrix (see `modelfleet shards`)."""
    parser.add_argument("--env", action="append", default=[], metavar="NAME", help="only this environment (repeatable)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME", help="only this model (repeatable)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print and exit
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelfleet",
        description="Render a fleet of ML model services from models.yaml into rendered/.",
    )
    parser.add_argument("--root", default=".", help="fleet root holding models.yaml (default: current directory)")
    parser.add_argument("--version", action="store_true", help="print modelfleet's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    validate = sub.add_parser("validate", help="check models.yaml and environments/*.yaml")
    validate.add_argument("--format", choices=("text", "json", "github"), default="text")
    validate.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    validate.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    _shard_options(validate)
    render = sub.add_parser("render", help="write rendered/ (or --check that it is current)")
    render.add_argument("--check", action="store_true", help="exit 1 if rendered/ is stale; write nothing")
    render.add_argument("--format", choices=("text", "json", "github"), default="text")
    render.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    render.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    _shard_options(render)
    shards = sub.add_parser("shards", help="the shards of a CI matrix as JSON, each one `--env NAME`")
    shards.add_argument("--by", choices=("env",), default="env", help="what a shard is (default: env)")
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
    overview = sub.add_parser("overview", help="write the fleet at a glance as one HTML page (sortable, offline)")
    overview.add_argument("--output", default="overview.html", help="the page to write (default: overview.html)")
    overview.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    schema = sub.add_parser("schema", help="write the editor schemas (.modelfleet/schemas/ in a fleet repository)")
    schema.add_argument("--check", action="store_true", help="exit 1 if they are missing or stale; write nothing")
    init = sub.add_parser("init", help="write a new fleet repository (one model, dev and prod) and render it")
    init.add_argument("directory", nargs="?", default=".", help="default: the current directory")
    new_model = sub.add_parser("new-model", help="add a model to models.yaml, with its build context")
    new_model.add_argument("name")
    new_model.add_argument("--runtime", required=True, choices=RUNTIMES)
    return parser


def _emit(stream: TextIO, text: str) -> None:
    if text:
        stream.write(text)
        stream.flush()


def _report(findings: Sequence[Finding], fmt: str, stream: TextIO, root: Path) -> None:
    from generator import report

    if fmt == "json":
        _emit(sys.stdout, report.format_json(findings))
    elif fmt == "github":
        from generator.read.repository import repository_prefix

        _emit(sys.stdout, report.format_github(findings, prefix=repository_prefix(root)))
    else:
        _emit(stream, report.format_text(findings, color=stream.isatty() and "NO_COLOR" not in os.environ))


def _progress(label: str, quiet: bool) -> contextlib.AbstractContextManager[TerminalProgress | None]:
    """Progress on stderr when it is a terminal (see ``generator.terminal``); else nothing."""
    if quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return contextlib.nullcontext()
    from generator.terminal import TerminalProgress

    return TerminalProgress(sys.stderr, label)


def _shard(args: argparse.Namespace) -> Shard:
    from generator.commands.shards import shard_of

    return shard_of(args.env, args.model)


def _cmd_validate(root: Path, fmt: str, use_cache: bool, quiet: bool, shard: Shard) -> int:
    from generator import report
    from generator.commands.validate import validate_command

    with _progress("validating", quiet):
        valid = validate_command(root, use_cache=use_cache, shard=shard)
    if fmt == "json":
        _emit(sys.stdout, report.format_json([]))
    elif fmt == "text":
        models = f"{valid.models} model" + ("" if valid.models == 1 else "s")
        environments = f"{valid.environments} environment" + ("" if valid.environments == 1 else "s")
        scope = "" if shard.whole else f" (shard: {shard.describe()})"
        noun = "finding" if valid.elsewhere == 1 else "findings"
        elsewhere = f"; {valid.elsewhere} {noun} outside the shard" if valid.elsewhere else ""
        _emit(sys.stdout, report.format_ok(f"{models}, {environments} valid{scope}{elsewhere}"))
    return EXIT_OK


def _cmd_render(root: Path, check: bool, use_cache: bool, quiet: bool, shard: Shard) -> int:
    from generator import report
    from generator.commands.render import render_command

    if not check and not shard.whole:
        raise UsageError(
            "--env and --model go with render --check only: writing part of rendered/ would leave it "
            "half old, half new; run `modelfleet render` for the whole fleet"
        )
    with _progress("checking" if check else "rendering", quiet) as progress:
        summary = render_command(root, check=check, use_cache=use_cache, progress=progress, shard=shard)
    _emit(sys.stdout, report.format_ok(summary))
    return EXIT_OK


def _cmd_shards(root: Path, by: str) -> int:
    from generator.commands.shards import shards_json

    _emit(sys.stdout, shards_json(root, by))
    return EXIT_OK


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_path(text: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for match in _PATH_PART.finditer(text):
        name, index = match.groups()
        parts.append(int(index) if index is not None else name)
    return tuple(parts)


def _cmd_explain(root: Path, env_name: str, model_name: str, path_text: str) -> int:
    from generator.commands.explain import explain

    _emit(sys.stdout, explain(root, env_name, model_name, _split_path(path_text)))
    return EXIT_OK


def _cmd_schema(root: Path, check: bool) -> int:
    from generator import report
    from generator.commands.schema import is_modelfleet_checkout, outdated, write_generated
    from generator.errors import Location
    from generator.version import version

    checkout = is_modelfleet_checkout(root)
    what = "schemas/ and docs/reference.md" if checkout else ".modelfleet/schemas/"
    source = "the spec models" if checkout else f"the schemas of modelfleet {version()}"
    if check:
        found = outdated(root)
        if found:
            raise ModelfleetError(
                Finding(
                    "missing" if item.missing else f"stale: differs from {source}",
                    Location(item.path),
                    hint="run `modelfleet schema`",
                )
                for item in found
            )
        _emit(sys.stdout, report.format_ok(f"{what} {'are' if checkout else 'is'} current"))
        return EXIT_OK
    changed = write_generated(root)
    _emit(sys.stdout, report.format_ok(f"{what} written ({len(changed)} changed)"))
    return EXIT_OK


def _cmd_init(directory: Path) -> int:
    from generator import report
    from generator.commands.init import init
    from generator.commands.render import render_command

    written = init(directory)
    _emit(sys.stdout, report.format_ok(f"new fleet repository in {directory}: {len(written)} files written"))
    _emit(sys.stdout, report.format_ok(render_command(directory, check=False, use_cache=False)))
    _emit(sys.stdout, "next: set fleet.registry and fleet.gitops.repoURL in models.yaml, then git init, make hooks\n")
    return EXIT_OK


def _cmd_new_model(root: Path, name: str, runtime: str) -> int:
    from generator import report
    from generator.commands.newmodel import new_model

    added = new_model(root, name, runtime)
    also = f" and {', '.join(added.written)}" if added.written else ""
    also += f"; disabled in {', '.join(added.disabled_in)} (its policy needs digests)" if added.disabled_in else ""
    _emit(sys.stdout, report.format_ok(f"added {name} ({runtime}) to models.yaml{also}; next: modelfleet render"))
    return EXIT_OK


def _cmd_diff(root: Path, base: str, fmt: str) -> int:
    from generator.commands.diff import diff

    result = diff(root, base)
    text = {"text": result.format_text, "markdown": result.format_markdown, "json": result.format_json}[fmt]()
    _emit(sys.stdout, text)
    return EXIT_OK


def _cmd_overview(root: Path, output: str, use_cache: bool) -> int:
    from generator import report
    from generator.commands.overview import overview_command

    _emit(sys.stdout, report.format_ok(overview_command(root, Path(output), use_cache=use_cache)))
    return EXIT_OK


def _cmd_promote(root: Path, model: str, source: str, target: str) -> int:
    from generator import report
    from generator.commands.promote import promote
    from generator.pipeline import render
    from generator.write.tree import write_tree

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
    if args.version:
        from generator.version import version

        _emit(sys.stdout, f"modelfleet {version()}\n")
        return EXIT_OK
    if args.command is None:
        raise UsageError("a command is required\n" + build_parser().format_usage().rstrip())
    if not root.is_dir():
        raise UsageError(f"--root {args.root} is not a directory")
    if args.command == "validate":
        return _cmd_validate(root, args.format, not args.no_cache, args.quiet, _shard(args))
    if args.command == "render":
        return _cmd_render(root, args.check, not args.no_cache, args.quiet, _shard(args))
    if args.command == "shards":
        return _cmd_shards(root, args.by)
    if args.command == "explain":
        return _cmd_explain(root, args.environment, args.model, args.path)
    if args.command == "diff":
        return _cmd_diff(root, args.base, args.format)
    if args.command == "overview":
        return _cmd_overview(root, args.output, not args.no_cache)
    if args.command == "promote":
        return _cmd_promote(root, args.model, args.source, args.target)
    if args.command == "init":
        return _cmd_init(root / args.directory)
    if args.command == "new-model":
        return _cmd_new_model(root, args.name, args.runtime)
    return _cmd_schema(root, args.check)


def _option_of(argv: Sequence[str], option: str, default: str) -> str:
    for index, arg in enumerate(argv):
        if arg == option and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(f"{option}="):
            return arg.split("=", 1)[1]
    return default


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; the one place errors become output."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except ModelfleetError as exc:
        _report(exc.findings, _option_of(args, "--format", "text"), sys.stderr, Path(_option_of(args, "--root", ".")))
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
# acyclic objects (specs, objects, output bytes) and frees almost nothing cyclic, so the
# default thresholds' full collections rescan that heap for nothing.
# Rarer collections keep the collector for the little cyclic garbage there is.
GC_THRESHOLDS = (100_000, 50, 100)


def main_entry() -> None:
    """The console script (and `python -m generator`): main() in a process of its own.

    The process ends with ``os._exit`` once the output is flushed, as mypy's ``--fast-exit``
    does: the interpreter's own shutdown frees every object one by one, for memory the
    kernel reclaims at once. Nothing
    is left to do by then: every file a command writes is closed (and where needed synced),
    a render's worker processes are reaped, before ``main`` returns, and the two
    exit handlers the imports register (``logging``'s flush of handlers modelfleet never
    adds, ``certifi``'s release of a certificate file it never unpacked) have nothing to do."""
    gc.set_threshold(*GC_THRESHOLDS)
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
