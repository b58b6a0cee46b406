"""Child processes of the live test: each in a process group of its own, all stopped on exit."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

T = TypeVar("T")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies without cleaning up (a
    SIGKILLed pytest cannot run the context manager's exit, and new sessions escape its group)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A port no one listens on now (bind to port 0 on loopback, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ChildDied(RuntimeError):
    pass


class Processes:
    """Starts children in new sessions (so each is a process group leader); on exit sends SIGTERM to
    every group, waits up to ``grace`` seconds, then SIGKILLs what is left, failure or not."""

    def __init__(self, log_dir: Path, grace: float = 5.0) -> None:
        self.log_dir, self.grace = log_dir, grace
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Child:
        log = self.log_dir / f"{name}.log"
        log_file = log.open("wb")
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - children are started before any client thread
        )
        child = Child(name, popen, log, log_file)
        self.children.append(child)
        return child

    def check(self) -> None:
        for child in self.children:
            if not child.alive():
                raise ChildDied(f"{child.name} exited with {child.popen.returncode}:\n{child.tail()}")

    def stop(self) -> None:
        for child in self.children:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in self.children:
            # The group may hold workers the leader started; kill it whether the leader exited or not.
            self._signal(child, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=5)
            child.log_file.close()

    @staticmethod
    def _signal(child: Child, sig: signal.Signals) -> None:
        # start_new_session: the child's pid is its process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.popen.pid, sig)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    *,
    procs: Processes | None = None,
    interval: float = 0.1,
) -> T:
    """Poll ``probe`` until it returns something other than None or False; a deadline, never a sleep."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if procs is not None:
            procs.check()
        try:
            value = probe()
        except (OSError, ValueError, KeyError) as error:
            value, last_error = None, error
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
