"""Work spread over forked processes, results handed back in order (Linux ``os.fork``).

``fork_map(func, items, jobs)`` forks ``jobs`` workers that inherit everything the caller
has already computed (nothing is pickled on the way in); worker ``w`` computes ``func`` of
items ``w, w + jobs, w + 2*jobs, ...`` and sends each result back through its own pipe, so
which worker computes an item is fixed by its position. The caller receives the results in
item order, while the workers run ahead; a thread per pipe reads them as they come.

A worker never returns into the caller's code: it leaves with ``os._exit``. When a worker
fails, iteration raises what ``func`` raised (``KeyboardInterrupt`` too), when it could be
pickled, with a ``WorkerFailed`` holding the worker's traceback as its cause; else (a
signal, a kill, an exit) ``WorkerFailed``. When the caller stops early
(an exception, ``KeyboardInterrupt``, closing the generator), every worker still running
is killed and reaped. Workers write nothing the caller has not asked for.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import queue
import signal
import struct
import threading
import traceback
from collections.abc import Callable, Generator, Sequence
from typing import Any, BinaryIO, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_HEADER = struct.Struct("<Q")
_OK, _FAILED = b"o", b"f"
_PR_SET_PDEATHSIG = 1
_END = object()  # a pipe's end: its worker has exited


class WorkerFailed(Exception):
    """A worker could not compute its items (its exception, its exit status or signal)."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def fork_map(func: Callable[[T], R], items: Sequence[T], jobs: int) -> Generator[R, None, None]:
    """``func(item)`` for each of ``items``, in order, computed by ``jobs`` forked workers."""
    jobs = max(1, min(jobs, len(items)))
    pids: list[int] = []
    readers: list[int] = []
    try:
        for worker in range(jobs):
            read_fd, write_fd = os.pipe()
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                gc.freeze()  # its collector never rescans (and so copies) the pages it inherited
                _die_with(parent)
                for fd in readers:
                    os.close(fd)
                os.close(read_fd)
                _work(func, items[worker::jobs], write_fd)
            os.close(write_fd)
            pids.append(pid)
            readers.append(read_fd)
        queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(jobs)]
        threads = [
            threading.Thread(target=_read_results, args=(os.fdopen(fd, "rb"), out), daemon=True)
            for fd, out in zip(readers, queues, strict=True)
        ]
        readers = []  # the threads own (and close) them now
        for thread in threads:
            thread.start()
        for index in range(len(items)):
            message = queues[index % jobs].get()
            if message is _END:
                raise WorkerFailed(f"worker {index % jobs} ended early ({_status(pids, index % jobs)})")
            kind, payload = message
            if kind == _FAILED:
                cause, text = payload
                failed = WorkerFailed(f"worker {index % jobs} failed:\n{text}")
                if isinstance(cause, KeyboardInterrupt):
                    raise KeyboardInterrupt from failed  # Ctrl-C reached the worker: the run is interrupted
                if isinstance(cause, Exception):
                    raise cause from failed  # as if the caller had raised it; the worker's traceback is the cause
                raise failed
            yield payload
    finally:
        for fd in readers:
            os.close(fd)
        _reap(pids)


def _work(func: Callable[[T], R], mine: Sequence[T], write_fd: int) -> None:
    """A worker's life: compute, send, ``os._exit`` (0 when every item was sent)."""
    code = 1
    try:
        with os.fdopen(write_fd, "wb") as out:
            try:
                for item in mine:
                    _send(out, _OK, func(item))
            except BaseException as exc:  # KeyboardInterrupt too: the caller learns why
                text = "".join(traceback.format_exception(exc))
                try:
                    pickle.dumps(exc)
                    _send(out, _FAILED, (exc, text))
                except Exception:
                    _send(out, _FAILED, (None, text))
                raise
        code = 0
    except BaseException:  # a worker reports through its pipe, never prints
        pass
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Have the kernel kill this worker when the caller dies (Linux ``PR_SET_PDEATHSIG``),
    so a killed render leaves no worker running; exit at once if it already died."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _send(out: BinaryIO, kind: bytes, payload: Any) -> None:
    data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)))
    out.write(data)
    out.flush()


def _read_results(pipe: BinaryIO, out: queue.SimpleQueue[Any]) -> None:
    """Each message of one worker's pipe into ``out``, then ``_END``."""
    with pipe:
        try:
            while True:
                header = pipe.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                (size,) = _HEADER.unpack(header)
                data = pipe.read(size)
                if len(data) < size:
                    break
                out.put(pickle.loads(data))  # our own worker's bytes
        except Exception:  # a broken message ends this worker's results
            pass
        finally:
            out.put(_END)


def _status(pids: list[int], worker: int) -> str:
    """How worker ``worker`` ended, once it has."""
    try:
        _, status = os.waitpid(pids[worker], 0)
    except ChildProcessError:
        return "already reaped"
    pids[worker] = 0
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _reap(pids: list[int]) -> None:
    """Kill every worker still running, and wait for each."""
    for pid in pids:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in pids:
        if pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
