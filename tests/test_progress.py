"""Progress on a terminal: the CLI in a real process whose stderr is a pseudo-terminal shows
"rendering <env> · <model> (n/N units)" there, and nothing else changes: stdout and the
exit code are those of a run whose stderr is a pipe. Silent on a pipe and with --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.fleets import generated_fleet

MODELS = 20  # a render of this fleet without the cache takes seconds: well past the display's delay
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run(root: Path, *args: str, tty: bool) -> tuple[int, bytes, str]:
    """The CLI in a child process: exit code, stdout (a pipe) and stderr (a pseudo-terminal
    of 200 columns when ``tty``, else a pipe), escape sequences removed."""
    command = [sys.executable, "-m", "generator", "--root", str(root), *args]
    env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    if not tty:
        done = subprocess.run(command, capture_output=True, env=env, check=False)
        return done.returncode, done.stdout, done.stderr.decode()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env) as child:
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        assert child.stdout is not None
        out = child.stdout.read()
        code = child.wait()
    return code, out, _ESCAPE.sub("", b"".join(chunks).decode("utf-8", errors="replace"))


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two copies of one generated and rendered fleet: for runs with stderr on a terminal and on a pipe."""
    first = generated_fleet(tmp_path_factory.mktemp("tty") / "fleet", models=MODELS)
    assert _run(first, "render", "--no-cache", tty=False)[0] == 0
    second = tmp_path_factory.mktemp("pipe") / "fleet"
    shutil.copytree(first, second)
    return first, second


def test_render_shows_units_on_a_terminal_and_the_same_stdout(fleets: tuple[Path, Path]) -> None:
    on_tty, on_pipe = fleets
    code, out, err = _run(on_tty, "render", "--no-cache", tty=True)
    assert (code, out) == _run(on_pipe, "render", "--no-cache", tty=False)[:2]
    assert code == 0 and out.startswith(b"ok: rendered/ written: ")
    units = re.findall(r"rendering (\w+) · ([\w-]+) \((\d+)/(\d+) units\)", err)
    assert units, err
    env, model, done, total = units[-1]
    assert env in {"dev", "staging", "prod"} and model.rsplit("-", 1)[1].isdigit()
    assert 0 < int(done) <= int(total)


def test_check_shows_progress_and_keeps_stdout_and_exit_code(fleets: tuple[Path, Path]) -> None:
    on_tty, on_pipe = fleets
    for root in fleets:
        (root / "rendered" / "stray.yaml").write_text("a: 1\n")
    try:
        code, out, err = _run(on_tty, "render", "--check", "--no-cache", "--format", "json", tty=True)
        assert "checking " in err and " units)" in err
        assert (code, out) == _run(on_pipe, "render", "--check", "--no-cache", "--format", "json", tty=False)[:2]
        assert code == 1 and b'"message": "extra: no longer produced by models.yaml"' in out
    finally:
        for root in fleets:
            (root / "rendered" / "stray.yaml").unlink()


def test_silent_with_quiet_and_on_a_pipe(fleets: tuple[Path, Path]) -> None:
    on_tty, _ = fleets
    code, out, err = _run(on_tty, "render", "--check", "--no-cache", "--quiet", tty=True)
    assert (code, err) == (0, "")
    assert out.startswith(b"ok: rendered/ is current")
    code, out, err = _run(on_tty, "render", "--check", "--no-cache", tty=False)
    assert (code, err) == (0, "")


def test_nothing_shows_before_the_delay_and_rich_stays_unloaded() -> None:
    """A command that ends before the display's delay leaves the terminal untouched."""
    code = (
        "import io, sys\nfrom generator.terminal import TerminalProgress\nstream = io.StringIO()\n"
        "with TerminalProgress(stream, 'rendering', show_after=3600) as progress:\n"
        "    progress.on_unit('prod', 'fraud-detector', 1, 3)\n"
        "print(repr(stream.getvalue()), 'rich' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "'' False\n"
