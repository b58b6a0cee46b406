"""Fault injection for the crash and concurrency tests, run inside their child processes.

``install(job)`` wraps the steps of the write stage (``generator.write`` helpers and the
``os``/``shutil``/``tempfile`` calls they make). Calls made while the writer runs
(``write_tree``, an open ``tree_writer``, or ``diff_tree``, the comparison ``render --check``
makes) are counted per step, and each hook of the job fires before or after the nth call
of its step: a signal to the process itself, an exception, a permission error, a marker
file, or a pause until a release file appears. ``finish(job)`` writes the counts (and the
results of each exchange) to the job's trace file.

A job is a JSON object: ``hook`` (one) or ``hooks`` (a list) of ``{"target", "nth", "when",
"action", ...}``; ``fallback`` (pretend ``renameat2`` is missing); ``entered`` (a file
written whenever the writer is entered); ``trace``. The children import this module as
``tests.faults`` with the repository as their working directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from generator.write import fs, manifest, read, record, tree

TARGETS: dict[str, tuple[Any, str]] = {
    "fs.remove_leftovers": (fs, "remove_leftovers"),
    "read._scan": (read, "_scan"),
    "fs.new_temp_dir": (fs, "new_temp_dir"),
    "tree._build": (tree, "_build"),
    "fs.write_file": (fs, "write_file"),
    "fs.fsync_dir": (fs, "fsync_dir"),
    "fs.sync_tree": (fs, "sync_tree"),
    "fs.exchange": (fs, "exchange"),
    "fs.swap": (fs, "swap"),
    "fs.remove": (fs, "remove"),
    "read._same_content": (read, "_same_content"),
    "manifest.load": (manifest, "load"),
    "record.verify": (record, "verify"),
    "record.scan": (record, "scan"),
    "manifest.invalidate": (manifest, "invalidate"),
    "tree._update": (tree, "_update"),
    "fs.link": (fs, "link"),
    "fs.keep": (fs, "keep"),
    "manifest.write": (manifest, "write"),
    "tempfile.mkdtemp": (tempfile, "mkdtemp"),
    "tempfile.mkstemp": (tempfile, "mkstemp"),
    "shutil.rmtree": (shutil, "rmtree"),
    "os.open": (os, "open"),
    "os.write": (os, "write"),
    "os.fsync": (os, "fsync"),
    "os.fchmod": (os, "fchmod"),
    "os.chmod": (os, "chmod"),
    "os.mkdir": (os, "mkdir"),
    "os.rename": (os, "rename"),
    "os.link": (os, "link"),
    "os.pwrite": (os, "pwrite"),
    "os.unlink": (os, "unlink"),
    "os.rmdir": (os, "rmdir"),
}
STATE: dict[str, Any] = {"armed": 0, "counts": {}, "exchanged": []}
PAUSE_LIMIT = 60  # seconds a paused child waits for its release before giving up (exit 96)


def fire(hook: dict[str, Any]) -> None:
    action = hook["action"]
    if action == "signal":
        os.kill(os.getpid(), hook["signal"])
    elif action == "raise":
        raise RuntimeError("injected fault")
    elif action == "permission":
        raise PermissionError(13, "Permission denied", hook.get("filename", "rendered"))
    elif action == "mark":
        Path(hook["marker"]).write_text("")
    elif action == "pause":
        Path(hook["marker"]).write_text("paused")
        deadline = time.monotonic() + PAUSE_LIMIT
        while not Path(hook["release"]).exists():
            if time.monotonic() > deadline:
                os._exit(96)
            time.sleep(0.005)


def _wrap(name: str, hooks: list[dict[str, Any]]) -> None:
    owner, attr = TARGETS[name]
    original = getattr(owner, attr)
    mine = [hook for hook in hooks if hook["target"] == name]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE["armed"]:
            return original(*args, **kwargs)
        count = STATE["counts"][name] = STATE["counts"].get(name, 0) + 1
        hits = [hook for hook in mine if hook["nth"] == count]
        for hook in hits:
            if hook["when"] == "before":
                fire(hook)
        result = original(*args, **kwargs)
        if name == "fs.exchange":
            STATE["exchanged"].append(result)
        for hook in hits:
            if hook["when"] == "after":
                fire(hook)
        return result

    setattr(owner, attr, wrapper)


def _entered(job: dict[str, Any]) -> None:
    if job.get("entered"):
        Path(job["entered"]).write_text("")


def _arm(owner: Any, name: str, job: dict[str, Any]) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def armed(*args: Any, **kwargs: Any) -> Any:
        _entered(job)
        STATE["armed"] += 1
        try:
            return original(*args, **kwargs)
        finally:
            STATE["armed"] -= 1

    setattr(owner, name, armed)


def _arm_writer(job: dict[str, Any]) -> None:
    """The CLI streams a render into ``tree_writer``: armed while the writer is open."""
    original = tree.tree_writer

    @contextlib.contextmanager
    def armed(*args: Any, **kwargs: Any) -> Iterator[Any]:
        _entered(job)
        STATE["armed"] += 1
        try:
            with original(*args, **kwargs) as writer:
                yield writer
        finally:
            STATE["armed"] -= 1

    tree.tree_writer = armed  # type: ignore[assignment]


def install(job: dict[str, Any]) -> None:
    if job.get("fallback"):
        fs.exchange = lambda first, second: False  # type: ignore[assignment]
    hooks = [job["hook"]] if job.get("hook") else list(job.get("hooks", []))
    for name in TARGETS:
        _wrap(name, hooks)
    _arm(tree, "write_tree", job)
    _arm(read, "diff_tree", job)
    _arm_writer(job)


def finish(job: dict[str, Any]) -> None:
    if job.get("trace"):
        Path(job["trace"]).write_text(json.dumps({"counts": STATE["counts"], "exchanged": STATE["exchanged"]}))


def install_unit_fault(fault: dict[str, Any]) -> None:
    """Fail the building of units (``fault["units"]``: [environment, model] pairs) and of
    environments' shared files (``fault["environments"]``: names), in whichever process
    builds them (a render's forked worker inherits the fault): ``"signal"`` (the process
    kills itself with ``fault["signal"]``), ``"interrupt"`` (Ctrl-C reached it), ``"raise"``
    (a bug) or ``"finding"`` (it cannot be built: a ``ModelfleetError``)."""
    from generator import fanout
    from generator import units as unit_builders
    from generator.errors import Finding, ModelfleetError

    shared = unit_builders.shared_files  # closing an environment calls it, in the render or a worker
    environments = set(fault.get("environments", []))

    def act(finding: str) -> None:
        action = fault["action"]
        if action == "interrupt":
            raise KeyboardInterrupt
        if action == "finding":
            raise ModelfleetError([Finding(finding, hint="remove it")])
        fire(fault)

    def faulty_shared(resolution: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        if env.spec.name in environments:
            act(f"{env.spec.name}: injected finding")
        return shared(resolution, env, *args, **kwargs)

    unit_builders.shared_files = faulty_shared  # type: ignore[assignment]

    original = fanout.build_unit  # the render and its workers both build units through fanout.fresh_unit
    units = {tuple(unit) for unit in fault.get("units", [])}

    def faulty(env: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        if (env.spec.name, model.name) in units:
            act(f"{model.name} in {env.spec.name}: injected finding")
        return original(env, model, *args, **kwargs)

    fanout.build_unit = faulty  # type: ignore[assignment]


__all__ = ["STATE", "TARGETS", "finish", "fire", "install", "install_unit_fault"]
