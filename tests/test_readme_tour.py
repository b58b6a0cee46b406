"""README.md's five-minute tour, run on a copy of the example fleet: its code blocks are
the script. A ``diff`` block that starts with ``--- <file>`` is an edit (its ``-`` lines
become its ``+`` lines); an ``sh`` block is run, command by command (``make render`` and
``make validate`` and ``modelfleet`` in-process, anything else with bash); a block right
after an ``sh`` block is what its last command prints, and must be exactly that. So the
test fails when the README or the generator drifts from the other."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.cli import main

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
TOUR_HEADING = "## A five-minute tour"
FENCE = re.compile(r"^( *)```(\w*)\s*$")
MAKE_TARGETS = {"make render": ["render"], "make validate": ["validate"]}


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    follows_block: bool  # only blank lines between it and the block before


def tour_text() -> str:
    readme = README.read_text(encoding="utf-8")
    start = readme.index(TOUR_HEADING)
    end = readme.find("\n## ", start + len(TOUR_HEADING))
    return readme[start : end if end >= 0 else len(readme)]


def tour_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` in order, each dedented by its fence's indentation."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index, gap_is_blank = 0, False
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            gap_is_blank = gap_is_blank and not lines[index].strip()
            index += 1
            continue
        indent, lang = len(opening.group(1)), opening.group(2)
        body: list[str] = []
        index += 1
        while not (FENCE.match(lines[index]) and lines[index].strip() == "```"):
            body.append(lines[index][indent:])
            index += 1
        blocks.append(Block(lang, "\n".join(body) + "\n", follows_block=gap_is_blank and bool(blocks)))
        index, gap_is_blank = index + 1, True
    return blocks


def is_edit(block: Block) -> bool:
    return block.lang == "diff" and block.text.startswith("--- ")


def apply_edit(root: Path, block: Block) -> None:
    lines = block.text.splitlines()
    name = lines[0].removeprefix("--- ").strip()
    assert lines[1] == f"+++ {name}", "an edit names its file in '--- <file>' and '+++ <file>'"
    old = "".join(line[1:] + "\n" for line in lines[2:] if line.startswith("-"))
    new = "".join(line[1:] + "\n" for line in lines[2:] if line.startswith("+"))
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the README's edit of {name} does not apply: {old!r} is not there exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def run_command(root: Path, command: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run one command of the tour in ``root``: its exit code and what it printed."""
    words = shlex.split(command)
    if words[0] == "make":
        assert command in MAKE_TARGETS, f"the tour runs {command!r}, which this test does not know"
        args = MAKE_TARGETS[command]
    elif words[0].endswith("modelfleet"):
        args = words[1:]
    else:
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        done = subprocess.run(["bash", "-c", command], cwd=root, capture_output=True, text=True, env=env, check=False)
        return done.returncode, done.stdout + done.stderr
    capsys.readouterr()
    code = main(["--root", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def run_tour(root: Path, text: str, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    """Run the tour ``text`` in ``root`` (a git repository); how many edits and outputs it checked."""
    blocks = tour_blocks(text)
    ran = {"edits": 0, "outputs": 0}
    for number, block in enumerate(blocks):
        if is_edit(block):
            apply_edit(root, block)
            ran["edits"] += 1
            continue
        if block.lang != "sh":
            continue
        following = blocks[number + 1] if number + 1 < len(blocks) else None
        shown = following if following is not None and following.follows_block and following.lang != "sh" else None
        commands = [line for line in block.text.splitlines() if line.strip() and not line.startswith("#")]
        for position, command in enumerate(commands):
            code, output = run_command(root, command, capsys)
            if shown is not None and position == len(commands) - 1:
                assert output.rstrip("\n") == shown.text.rstrip("\n"), f"README.md shows other output for {command!r}"
                ran["outputs"] += 1
            else:
                assert code == 0, f"{command!r} failed:\n{output}"
    return ran


@pytest.fixture
def fleet_repository(example_fleet: Path) -> Path:
    """The example fleet as the only commit of a fresh git repository."""
    assert shutil.which("promtool"), "promtool is missing: `make test` installs it (Debian package prometheus)"
    git(example_fleet, "init", "-q")
    git(example_fleet, "add", "-A")
    git(example_fleet, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", "commit", "-qm", "x")
    return example_fleet


def test_the_tour_runs_as_written(fleet_repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run_tour(fleet_repository, tour_text(), capsys)
    assert ran == {"edits": 2, "outputs": 5}, "the tour lost an edit or an output this test expects to check"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("environments/prod.yaml:27:28", "environments/prod.yaml:26:28"),  # explain's line number
        ("4\t4\trendered/tests/prod/", "5\t5\trendered/tests/prod/"),  # a changed-lines count
        ("-    values: 59x30 60x159\n   +    values: 79x30 80x159\n", ""),  # a changed line left out
    ],
)
def test_a_drifted_tour_fails(fleet_repository: Path, capsys: pytest.CaptureFixture[str], old: str, new: str) -> None:
    """The runner notices when the README's promise and the tool part ways."""
    text = tour_text()
    assert text.count(old) == 1
    with pytest.raises(AssertionError, match=re.escape("README.md shows other output")):
        run_tour(fleet_repository, text.replace(old, new), capsys)


def test_the_tour_names_files_that_exist() -> None:
    """Every ``rendered/...`` path the tour names (``<model>``, ``<env>`` standing for any)."""
    named = set(re.findall(r"`(rendered/[^`\s]*)`", tour_text()))
    assert named
    for path in sorted(named):
        pattern = re.sub(r"<[^>]+>", "*", path).rstrip("/")
        assert list(REPO.glob(pattern)), f"README.md's tour names {path}, which the example fleet does not render"
