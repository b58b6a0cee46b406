"""``modelfleet render`` and ``render --check``: the fastest way to a tree that is current.

In order: the input record answers when neither the inputs nor rendered/ changed since the
last render; the delta path rebuilds only changed per-model overrides; otherwise the one
render streams every file to the writer (or, for ``--check``, to a digest compared with
the disk). Each returns the summary line the CLI prints. The pipeline is imported only
past the first step: a render with nothing to do loads none of it.
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import ModelfleetError
from generator.incremental.inputrecord import (
    RACY_NS,
    InputStates,
    disk_tree_digest,
    input_states,
    now_ns,
    recorded_result,
    save_record,
    tree_digest_of,
)
from generator.write.fs import helper_name, shared_lock
from generator.write.planned import Kept, KeptUnavailable, TreeDiff
from generator.write.read import diff_tree, last_recorded, last_written
from generator.write.tree import TreeWriter, tree_writer, write_tree

if TYPE_CHECKING:
    from generator.incremental.cache import UnitCache
    from generator.output.rendered import UnitProgress
    from generator.output.shard import Shard

_RENDER_KEYS = ("files", "objects", "environments", "models")


def render_command(
    root: Path, *, check: bool, use_cache: bool, progress: UnitProgress | None = None, shard: Shard | None = None
) -> str:
    """Write rendered/ (or check it); the summary line. ``ModelfleetError`` on a finding or,
    with ``check``, a stale tree. ``progress``: told after each unit a full render renders.
    ``shard``: check only its part (``check`` only: a partial write would leave rendered/
    half old, half new)."""
    if shard is not None and not shard.whole:
        from generator.incremental.cache import UnitCache

        assert check, "only render --check takes a shard"
        checked = check_shard(root, UnitCache(root, enabled=use_cache, writable=False), shard, progress)
        return f"rendered/ is current for {shard.describe()} ({len(checked)} files checked)"
    current = _current_render(root, check) if use_cache else None
    if current is not None:
        if check:
            return f"rendered/ is current ({current['files']} files)"
        return _summary(current["files"], current["objects"], current["environments"], 0)
    from generator.incremental.cache import UnitCache

    started = now_ns()
    cache = UnitCache(root, enabled=use_cache, writable=not check)  # --check writes nothing
    if check:
        return _check_streamed(root, cache, progress)
    delta = _render_delta(root, cache, started) if use_cache else None
    return delta or _render_streamed(root, cache, started, save=use_cache, progress=progress)


def _summary(files: int, objects: int, environments: int, changes: int) -> str:
    return (
        f"rendered/ written: {files} files, {objects} objects in "
        f"{environments} {'environment' if environments == 1 else 'environments'} "
        f"({changes} {'file' if changes == 1 else 'files'} changed)"
    )


def _current_render(root: Path, check: bool) -> dict[str, Any] | None:
    """The recorded render result when the inputs and rendered/ on disk both still match it."""
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


def _render_delta(root: Path, cache: UnitCache, started: int) -> str | None:
    """``render`` through the delta path when only per-model overrides changed: the summary
    line, or None when the delta path declines.

    The cyclic collector is off meanwhile: the delta path holds a few large acyclic tables
    (the record, the manifest's records, the plan) and rebuilds at most
    ``delta.MAX_CHANGED_UNITS`` units, so collecting would rescan those tables for nothing."""
    from generator.commands.delta import render_delta
    from generator.incremental.deltarecord import load_record

    gc.disable()
    try:
        record = load_record(root, cache) if cache.enabled else None
        if record is None:
            return None
        with contextlib.ExitStack() as stack:
            writer = _writer_ahead(root / "rendered", stack)
            delta = render_delta(root, cache, started, record, writer.may_hold if writer is not None else None)
            if delta is None:
                return None
            try:
                if writer is None:
                    diff = write_tree(root / "rendered", delta.new, delta.kept)
                else:
                    writer.add_plan(delta.new, delta.kept)
                    diff = writer.commit()
            except KeptUnavailable:  # rendered/ no longer holds a file the record names: build it all
                return None
        _save_records(root, cache, started, delta.record, delta.referenced)
        return _summary(len(delta.kept) + len(delta.new), delta.objects, delta.environments, diff.changed)
    finally:
        gc.enable()


def _writer_ahead(target: Path, stack: contextlib.ExitStack) -> TreeWriter | None:
    """The writer of ``target`` opened before the delta path plans, so that a forked child
    checks both trees meanwhile (``generator.write.ahead``); None where there is no tree to
    check or the writer cannot be opened (``write_tree`` then says why, if it comes to it).
    Only where the last write left its lock file and no leftovers: a render the delta path
    declines, and a finding then stops, changes nothing on disk."""
    if target.is_symlink() or not target.is_dir():
        return None
    lock = target.parent / helper_name(target, "lock")
    leftovers = (helper_name(target, "tmp-"), helper_name(target, "old-"))
    if not lock.is_file() or any(p.name.startswith(leftovers) for p in target.parent.iterdir()):
        return None
    try:
        writer: TreeWriter = stack.enter_context(tree_writer(target, ahead=True))
    except ModelfleetError:
        return None
    return writer


def _check_streamed(root: Path, cache: UnitCache, progress: UnitProgress | None) -> str:
    """``render --check`` keeping only each file's digest (the files are compared by digest)."""
    from generator import pipeline
    from generator.commands.staleness import CheckSink, stale_error

    target = root / "rendered"
    sink = CheckSink(target)
    rendered = pipeline.render(root, cache, sink, progress=progress)
    diff = diff_tree(target, {path: Kept(found) for path, found in sink.digests.items()})
    if not diff.clean:  # one comparison: a render swapping rendered/ in meanwhile is seen whole or not at all
        envs = [env.spec.name for env in rendered.resolution.environments]
        raise stale_error(root, diff, sink.kept, envs, use_cache=cache.enabled)
    return f"rendered/ is current ({len(sink.digests)} files)"


def check_shard(root: Path, cache: UnitCache, shard: Shard, progress: UnitProgress | None = None) -> list[str]:
    """``render --check`` of one shard: the files it checked (those it renders and those on
    disk it owns, see ``output.shard``), sorted; ``ModelfleetError`` on a finding of its own
    or a stale file."""
    from generator import pipeline
    from generator.commands.shards import check_names, known_names, narrowed, outside
    from generator.commands.staleness import CheckSink, stale_error
    from generator.errors import ModelfleetError

    try:
        validated = pipeline.validate_for_render(root, cache)
    except ModelfleetError as exc:
        envs, models = known_names(root)
        check_names(shard, envs, models)
        own = narrowed(exc, shard, models)
        raise ModelfleetError(own or [outside(len(exc.findings))]) from None
    resolution = validated.resolution
    envs = [env.spec.name for env in resolution.environments]
    check_names(shard, envs, [model.name for model in resolution.base])
    target = root / "rendered"
    sink = CheckSink(target)
    try:
        pipeline.render(root, cache, sink, validated=validated, progress=progress, shard=shard)
    except ModelfleetError as exc:
        raise ModelfleetError(narrowed(exc, shard, [m.name for m in resolution.base]) or exc.findings) from None
    found = diff_tree(target, {path: Kept(found) for path, found in sink.digests.items()})
    extra = tuple(path for path in found.extra if shard.owns(path, envs))
    diff = TreeDiff(found.stale, found.missing, extra)
    if not diff.clean:
        raise stale_error(root, diff, sink.kept, envs, use_cache=cache.enabled)
    return sorted({*sink.digests, *extra})


def _render_streamed(
    root: Path, cache: UnitCache, started: int, *, save: bool, progress: UnitProgress | None = None
) -> str:
    """``render`` with the unit cache (or without: ``cache`` disabled), each file handed to the
    writer as soon as it exists, so the render never holds the whole tree. The writer (and
    its lock) is taken at the first file: a spec that fails validation leaves every tree
    alone, and a finding after that leaves the writer uncommitted. ``save``: record the render."""
    from generator import pipeline
    from generator.incremental.sinks import WriterSink

    with contextlib.ExitStack() as stack:
        sink = WriterSink(root / "rendered", stack)
        rendered = pipeline.render(root, cache, sink, progress=progress)
        if sink.writer is None or not sink.added:
            write_tree(root / "rendered", {})  # the empty plan's error
        assert sink.writer is not None
        diff = sink.writer.commit()
    record = rendered.delta_record
    if record is not None and save:
        _save_records(root, cache, started, record, rendered.referenced)
    environments = len(rendered.resolution.environments)
    return _summary(sink.added, rendered.object_count, environments, diff.changed)


def _save_records(
    root: Path, cache: UnitCache, started: int, record: dict[str, Any], referenced: frozenset[str]
) -> None:
    """The delta record and the input records of ``render`` (the written tree, by its files'
    digests) and ``validate``, after a write. The inputs' states are taken once, after the
    write, for all three."""
    from generator.commands.delta import save_delta_record

    try:
        states: InputStates | None = input_states(root, referenced, racy_after=started - RACY_NS)
    except (OSError, ValueError):
        states = None
    save_delta_record(root, cache, record, started, states)
    summary = record["summary"]
    digests = record["files"]
    models, environments = int(summary["models"]), int(summary["environments"])
    tree, dirs = tree_digest_of(digests)
    result = {"files": len(digests), "objects": int(summary["objects"]), "environments": environments, "models": models}
    save_record(root, "render", referenced, {**result, "tree": tree, "dirs": dirs}, started, states=states)
    save_record(root, "validate", referenced, {"models": models, "environments": environments}, started, states=states)
