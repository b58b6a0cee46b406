"""Input records: what a successful run read, and what it concluded.

A record (``.modelfleet-cache/<command>.json`` in the fleet root) holds the generator
fingerprint, the state of every input (``models.yaml``, the list and content of
``environments/*.yaml``, and every file or directory the spec points at: its real path,
its type and, for a file, a hash of its bytes) and the result. The output of
``validate`` and ``render`` is a deterministic function of exactly those inputs, so when
the fingerprint and every input state still match, the recorded result is the result the
full run would give. Anything unreadable, malformed or from another generator is a miss.

Racy inputs (modified shortly before or during the run, see ``RACY_NS``) are never
recorded: their recorded content might not be the content the run read.

Imports nothing heavy, so a matching record answers before the pipeline is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.digest import content_digest, file_digest, stream_digest
from generator.incremental.fingerprint import generator_fingerprint
from generator.write.fs import write_atomic
from generator.write.walk import walk

CACHE_DIR = ".modelfleet-cache"
DISABLE_ENV = "MODELFLEET_NO_CACHE"
RECORD_VERSION = 1
RACY_NS = 2_000_000_000  # coarse file-system timestamps: a file this close to the run's start is racy


def cache_disabled() -> bool:
    return bool(os.environ.get(DISABLE_ENV))


def now_ns() -> int:
    return time.time_ns()


def _file_hash(path: Path) -> tuple[str, int]:
    """Hash of the file's bytes and its mtime, taken after reading it."""
    with path.open("rb") as handle:
        digest = stream_digest(handle)
        mtime = os.fstat(handle.fileno()).st_mtime_ns
    return digest, mtime


def path_state(root: Path, relative: str) -> tuple[list[str], int]:
    """The state of ``root/relative`` as the pipeline sees it, and its mtime (0 when none)."""
    try:
        real = (root / relative).resolve(strict=True)
        mode = real.stat().st_mode
        if stat.S_ISREG(mode):
            digest, mtime = _file_hash(real)
            return [relative, "file", str(real), digest], mtime
        if stat.S_ISDIR(mode):
            return [relative, "dir", str(real)], 0
        return [relative, "other", str(real)], 0
    except (OSError, ValueError, RuntimeError):
        return [relative, "missing"], 0


def fleet_state(root: Path, referenced: Iterable[str], *, racy_after: int | None = None) -> tuple[list[Any], int]:
    """Every input's state and the newest mtime among the files. With ``racy_after``, a file
    modified after that time is recorded as ``[path, "racy"]``, a state no file has: a
    record holding it treats the file as changed."""
    states = input_states(root, referenced, racy_after=racy_after)
    return (states.marked if racy_after is not None else states.plain), states.newest


@dataclass(frozen=True)
class InputStates:
    """Every input's state, taken once for all the records a run saves: ``plain`` as
    ``fleet_state`` gives it, ``marked`` with each file modified after ``racy_after`` as
    ``[path, "racy"]``, and the newest mtime among the files."""

    referenced: frozenset[str]
    plain: list[Any]
    marked: list[Any]
    newest: int


def input_states(root: Path, referenced: Iterable[str], *, racy_after: int | None = None) -> InputStates:
    """``InputStates`` of the fleet at ``root``: each input read and hashed once."""
    paths = sorted(set(referenced))
    plain: list[Any] = [str(root.resolve())]
    marked: list[Any] = list(plain)
    newest = 0
    env_dir = root / "environments"
    env_files = sorted(env_dir.glob("*.yaml")) if env_dir.is_dir() else []
    names = ["models.yaml", *(path.relative_to(root).as_posix() for path in env_files)]
    for relative in [*names, "--", *paths]:
        if relative == "--":
            plain.append(relative)
            marked.append(relative)
            continue
        state, mtime = path_state(root, relative)
        plain.append(state)
        marked.append([relative, "racy"] if racy_after is not None and mtime >= racy_after else state)
        newest = max(newest, mtime)
    return InputStates(frozenset(paths), plain, marked, newest)


def _record_path(root: Path, command: str) -> Path:
    return root / CACHE_DIR / f"{command}.json"


def _this_generators(root: Path, command: str) -> dict[str, Any] | None:
    """``command``'s record when this generator wrote it (its version and fingerprint), else
    None; ``OSError`` or ``ValueError`` when it cannot be read."""
    record = json.loads(_record_path(root, command).read_bytes())
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    if record.get("fingerprint") != generator_fingerprint():
        return None
    return record


def recorded_result(root: Path, command: str) -> dict[str, Any] | None:
    """The result recorded for ``command`` when every input still matches, else None."""
    if cache_disabled():
        return None
    try:
        record = _this_generators(root, command)
        if record is None:
            return None
        referenced, inputs, result = record["referenced"], record["inputs"], record["result"]
        if not (isinstance(referenced, list) and all(isinstance(r, str) for r in referenced)):
            return None
        if not isinstance(result, dict):
            return None
        state, _ = fleet_state(root, referenced)
        return result if state == inputs else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def save_record(
    root: Path,
    command: str,
    referenced: Iterable[str],
    result: Mapping[str, Any],
    started: int,
    *,
    states: InputStates | None = None,
) -> None:
    """Record ``result``; skipped when an input changed after ``started`` (a racy input).
    ``states``: the inputs' states taken after the run (``input_states``), when the caller
    has them for the same inputs. Never fails: a cache that cannot be written is only a
    slower next run."""
    if cache_disabled():
        return
    with contextlib.suppress(OSError, ValueError, TypeError):
        paths = sorted(set(referenced))
        if states is None or states.referenced != frozenset(paths):
            states = input_states(root, paths)
        if states.newest >= started - RACY_NS:
            return
        record = {
            "version": RECORD_VERSION,
            "fingerprint": generator_fingerprint(),
            "referenced": paths,
            "inputs": states.plain,
            "result": dict(result),
        }
        write_atomic(_record_path(root, command), json.dumps(record, sort_keys=True).encode("utf-8"), durable=False)


def tree_digest_of(digests: Mapping[str, str]) -> tuple[str, str]:
    """Digests of a tree given as path -> ``content_digest`` of the file's bytes: its paths in
    order and their bytes' digests in the same order (``_files_digest``), and its directories."""
    paths = sorted(digests)
    dirs: set[str] = set()
    for parent in {path.rpartition("/")[0] for path in paths}:  # each directory walked up once
        directory = parent
        while directory and directory not in dirs:
            dirs.add(directory)
            directory = directory.rpartition("/")[0]
    return _files_digest(paths, bytes.fromhex("".join([digests[path] for path in paths]))), _dirs_digest(dirs)


def _files_digest(paths: list[str], digests: bytes) -> str:
    """The digest of sorted ``paths`` (NUL-separated: no path holds a NUL) followed by their
    files' raw 20-byte digests, concatenated in the same order."""
    return content_digest(b"".join(["\0".join(paths).encode("utf-8", "surrogateescape"), b"\0\0", digests]))


def _dirs_digest(dirs: Iterable[str]) -> str:
    return content_digest("\0".join(sorted(dirs)).encode("utf-8", "surrogateescape"))


def disk_tree_digest(target: Path) -> tuple[str, str] | None:
    """``tree_digest_of`` the files under ``target``; None when anything under it is neither
    a regular file nor a directory (``render --check`` would call it stale) or unreadable."""
    entries: list[tuple[str, Path]] = []
    dirs: list[str] = []
    try:
        for rel, entry in walk(target):
            if entry.is_dir(follow_symlinks=False):
                dirs.append(rel)
            elif entry.is_file(follow_symlinks=False):
                entries.append((rel, Path(entry.path)))
            else:
                return None
        entries.sort()
        contents = "".join([file_digest(path) for _, path in entries])
    except OSError:
        return None
    return _files_digest([rel for rel, _ in entries], bytes.fromhex(contents)), _dirs_digest(dirs)


def changed_inputs(root: Path, command: str) -> list[str] | None:
    """The inputs (paths relative to ``root``) whose state differs from ``command``'s record:
    what changed since that run; None without a readable record of this generator."""
    try:
        record = _this_generators(root, command)
        if record is None:
            return None
        referenced, inputs = record["referenced"], record["inputs"]
        if not (isinstance(referenced, list) and isinstance(inputs, list)):
            return None
        state, _ = fleet_state(root, [str(r) for r in referenced])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    before, now = _states_by_path(inputs), _states_by_path(state)
    return sorted(path for path in before.keys() | now.keys() if before.get(path) != now.get(path))


def _states_by_path(states: list[Any]) -> dict[str, list[Any]]:
    """``fleet_state``'s list as path -> state (the root and the separator left out)."""
    return {str(s[0]): s for s in states if isinstance(s, list) and s and isinstance(s[0], str)}
