"""Stage last, report: findings as text for people, JSON for tools, GitHub annotations.

This is the only module that formats findings. It never prints: every function returns
a string that ends with a newline (or is empty), and the CLI writes it.

Text (``format_text``), one block per finding, a blank line between blocks, then a
summary::

    models.yaml:14:20: error: models[0].scaling.minReplicas: minReplicas 12 is more ...
       14 |       minReplicas: 12
          |                    ^
      hint: lower minReplicas or raise maxReplicas

    1 error in models.yaml

JSON (``format_json``) is a contract: version 1 has exactly this shape (the ``#`` notes
are not part of it), keys in this order, ``indent=2``, ASCII only, a final newline::

    {
      "version": 1,          # bumped only on an incompatible change
      "valid": false,        # true exactly when "errors" is empty
      "errors": [
        {
          "file": "models.yaml",   # string, or null when the finding has no file
          "line": 14,              # 1-based int, or null when unknown
          "column": 20,            # 1-based int, or null when unknown
          "path": "models[0].scaling.minReplicas",  # field path, "" when none
          "message": "minReplicas 12 is more than maxReplicas 10",
          "hint": "lower minReplicas or raise maxReplicas"  # "" when none
        }
      ]
    }

Errors keep the caller's order (the caller sorts them by file and line).

GitHub (``format_github``) prints one ``::error`` workflow command per finding, escaped
as the Actions runner expects, so that each finding shows as an annotation on the line.
GitHub reads ``file=`` from the top of the repository: the caller passes the fleet root's
path from there as ``prefix`` (a fleet in a subdirectory of a monorepo).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from generator.errors import Finding

JSON_VERSION = 1
TAB_STOP = 8
MAX_LINE = 160
ELLIPSIS = "…"

_RED_BOLD = "\x1b[1;31m"
_CYAN = "\x1b[36m"
_RESET = "\x1b[0m"
# C0 and C1 control characters except tab and newline: a source line or a value quoted in
# a message must not move the cursor or recolour the user's terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# ---------------------------------------------------------------- text


def format_text(findings: Sequence[Finding], *, color: bool = False) -> str:
    """Findings for a terminal, in the given order, then a summary line.

    Returns ``""`` when there are no findings; the CLI prints ``format_ok`` instead.
    """
    if not findings:
        return ""
    blocks = [_text_block(finding, color=color) for finding in findings]
    return "\n\n".join([*blocks, _summary(findings)]) + "\n"


def format_ok(summary: str) -> str:
    """A success line: ``ok: 4 models × 3 environments valid``."""  # noqa: RUF002
    return f"ok: {_printable(summary)}\n"


def _text_block(finding: Finding, *, color: bool) -> str:
    lines = [_headline(finding, color=color)]
    lines.extend(_source_excerpt(finding))
    lines.extend(f"    {_printable(line)}".rstrip() for line in finding.detail.splitlines())
    if finding.hint:
        lines.append(f"  hint: {_printable(finding.hint)}")
    return "\n".join(lines)


def _headline(finding: Finding, *, color: bool) -> str:
    """``file:line:col: error: path: message``, leaving out the parts that are unknown."""
    error = _paint("error", _RED_BOLD, color=color)
    where = _where(finding)
    prefix = f"{_paint(_printable(where), _CYAN, color=color)}: " if where else ""
    field = f"{_printable(finding.path)}: " if finding.path else ""
    return f"{prefix}{error}: {field}{_printable(finding.full_message)}"


def _where(finding: Finding) -> str:
    location = finding.location
    if location is None:
        return ""
    where = location.file
    if location.line > 0:
        where += f":{location.line}"
        if location.column > 0:
            where += f":{location.column}"
    return where


def _paint(text: str, style: str, *, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text


def _printable(text: str) -> str:
    return _CONTROL.sub("?", text)


def _source_excerpt(finding: Finding) -> list[str]:
    """The source line under a line-number gutter, and a caret under the column."""
    location = finding.location
    if location is None or location.line <= 0 or finding.source_line is None:
        return []
    number = str(location.line)
    width = max(5, len(number))
    excerpt = _excerpt(finding.source_line, location.column)
    lines = [f"{number:>{width}} | {excerpt.text}".rstrip()]
    if excerpt.caret is not None:
        lines.append(f"{'':>{width}} | {' ' * excerpt.caret}^")
    return lines


@dataclass(frozen=True)
class _Excerpt:
    """A source line as shown, and the display column (0-based) of the caret, if any."""

    text: str
    caret: int | None


def _excerpt(source_line: str, column: int) -> _Excerpt:
    """Expand tabs, trim a long line around ``column``, and place the caret.

    Tabs become spaces up to the next multiple of ``TAB_STOP``; expanding the text
    before the column the same way gives the caret's place in the expanded line.
    """
    line = _printable(source_line.rstrip("\n"))
    shown = line.expandtabs(TAB_STOP)
    if column <= 0:
        return _Excerpt(_trim(shown, 0)[0], None)
    index = len(line[: column - 1].expandtabs(TAB_STOP))
    text, index = _trim(shown, index)
    return _Excerpt(text, _width(text[:index]))


def _trim(shown: str, index: int) -> tuple[str, int]:
    """Cut a line longer than ``MAX_LINE`` to a window around ``index``, marked with ``…``.

    Returns the text to show and where ``index`` landed in it. The result, ellipses
    included, is at most ``MAX_LINE`` characters long.
    """
    if len(shown) <= MAX_LINE:
        return shown, index
    budget = MAX_LINE - 2 * len(ELLIPSIS)
    start = min(max(index - budget // 2, 0), len(shown) - budget)
    end = start + budget
    head = ELLIPSIS if start > 0 else ""
    tail = ELLIPSIS if end < len(shown) else ""
    return f"{head}{shown[start:end]}{tail}", len(head) + index - start


def _width(text: str) -> int:
    """Terminal columns taken by ``text``: wide East Asian characters count two."""
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def _summary(findings: Sequence[Finding]) -> str:
    """``1 error in models.yaml``, ``3 errors in 2 files``, or ``2 errors``."""
    count = len(findings)
    noun = "error" if count == 1 else "errors"
    files = sorted({f.location.file for f in findings if f.location and f.location.file})
    if not files:
        return f"{count} {noun}"
    if len(files) == 1:
        return f"{count} {noun} in {_printable(files[0])}"
    return f"{count} {noun} in {len(files)} files"


# ---------------------------------------------------------------- json


def format_json(findings: Sequence[Finding]) -> str:
    """Findings as the versioned JSON document described in the module docstring."""
    document = {
        "version": JSON_VERSION,
        "valid": not findings,
        "errors": [_json_error(finding) for finding in findings],
    }
    return json.dumps(document, indent=2) + "\n"


def _json_error(finding: Finding) -> dict[str, str | int | None]:
    location = finding.location
    line = location.line if location and location.line > 0 else None
    column = location.column if location and line and location.column > 0 else None
    return {
        "file": location.file if location and location.file else None,
        "line": line,
        "column": column,
        "path": finding.path,
        "message": finding.full_message,
        "hint": finding.hint,
    }


# ---------------------------------------------------------------- github


def format_github(findings: Sequence[Finding], *, prefix: str = "") -> str:
    """One GitHub Actions ``::error`` command per finding; ``""`` when there are none.
    ``prefix`` (``""`` or ending in ``/``) goes before each fleet-relative file name."""
    return "".join(_github_command(finding, prefix) + "\n" for finding in findings)


def _github_command(finding: Finding, prefix: str) -> str:
    """``::error file=F,line=L,col=C,title=PATH::MESSAGE (hint: HINT)``."""
    properties = ",".join(f"{key}={_escape_property(value)}" for key, value in _github_properties(finding, prefix))
    message = finding.full_message + (f" (hint: {finding.hint})" if finding.hint else "")
    separator = " " if properties else ""
    return f"::error{separator}{properties}::{_escape_data(message)}"


def _github_properties(finding: Finding, prefix: str) -> list[tuple[str, str]]:
    """The known ones of file, line, col and title, in that order."""
    properties: list[tuple[str, str]] = []
    location = finding.location
    if location is not None and location.file:
        absolute = location.file.startswith("/")
        properties.append(("file", location.file if absolute else prefix + location.file))
        if location.line > 0:
            properties.append(("line", str(location.line)))
            if location.column > 0:
                properties.append(("col", str(location.column)))
    if finding.path:
        properties.append(("title", finding.path))
    return properties


def _escape_data(text: str) -> str:
    """Escape a command's message the way the Actions runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape a property value: as a message, and ``:`` and ``,`` too."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
