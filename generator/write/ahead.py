"""Both recorded trees checked by a forked child while the caller plans what to write.

``record.verify`` costs one ``lstat`` per recorded file (28,000 at 1,000 models and three
environments), time a render after a small edit would otherwise spend after planning. A
writer opened ahead of its plan (``tree_writer(ahead=True)``) forks a child that runs the same
checks on the same records, under the writer's lock (held by the parent), and answers with two
bytes; the parent plans meanwhile, then reads the answer. Anything short of a whole answer
(no ``fork``, a child that failed or was killed) is no answer: the parent checks itself.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from generator.write import record
from generator.write.record import Record


@dataclass
class Verified:
    """What the child found: the visible tree holds its record; the kept tree holds its own."""

    visible: bool
    kept: bool


@dataclass
class Ahead:
    """A forked check under way: its process and the read end of its answer."""

    pid: int
    answer_fd: int
    done: bool = False

    @classmethod
    def start(cls, target: Path, kept_path: Path, visible: Record, kept: Record | None, lock_fd: int) -> Ahead | None:
        """Fork the check of ``visible`` at ``target`` and ``kept`` at ``kept_path`` (checked
        against ``visible``, as the writer does); None where no child can be forked."""
        if not hasattr(os, "fork"):
            return None
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return None
        if pid == 0:  # the child: check, answer, leave without running the parent's exit code
            try:
                os.close(read_fd)
                os.close(lock_fd)  # the parent's descriptor keeps the lock
                shown = record.verify(target, visible, None)
                held = kept is not None and shown and "" in visible.dirs
                held = held and kept is not None and record.verify(kept_path, kept, None, visible)
                os.write(write_fd, b"%d%d" % (shown, held))
            finally:
                os._exit(0)
        os.close(write_fd)
        return cls(pid, read_fd)

    def result(self) -> Verified | None:
        """Wait for the child's answer; None without a whole one."""
        answer = b""
        try:
            while len(answer) < 2:
                chunk = os.read(self.answer_fd, 2 - len(answer))
                if not chunk:
                    break
                answer += chunk
        except OSError:
            answer = b""
        finally:
            self.close()
        if len(answer) != 2 or not set(answer) <= set(b"01"):
            return None
        return Verified(answer[0:1] == b"1", answer[1:2] == b"1")

    def close(self) -> None:
        """Reap the child (it ends on its own, soon: it only reads the trees); once."""
        if self.done:
            return
        self.done = True
        with contextlib.suppress(OSError):
            os.close(self.answer_fd)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)
