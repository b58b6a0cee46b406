"""The few error types of modelfleet and the Finding they carry.

Library code raises; only ``cli`` catches and only ``report`` prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

MAX_NAMED_MODELS = 6  # a grouped finding names this many models at most (the last slot says "and K more")


@dataclass(frozen=True, order=True)
class Location:
    """A place in a source file, 1-based line and column."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Finding:
    """One problem: where, which field, what is wrong, and how to fix it."""

    message: str
    location: Location | None = None
    path: str = ""
    hint: str = ""
    source_line: str | None = field(default=None, compare=False)
    models: tuple[str, ...] = field(default=(), compare=False)  # the models it concerns, when known
    detail: str = field(default="", compare=False)  # lines shown under it in text (a diff), not in JSON

    @property
    def full_message(self) -> str:
        """The message as shown: a finding several models share (the same rule broken at the
        same place, say an environment's default) names them, the first few and a count."""
        if len(self.models) < 2:
            return self.message
        named = self.models if len(self.models) <= MAX_NAMED_MODELS else self.models[: MAX_NAMED_MODELS - 1]
        more = len(self.models) - len(named)
        listed = ", ".join(named) + (f" and {more} more" if more else "")
        return f"{self.message}, for {len(self.models)} models: {listed}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location or Location("")
        return (loc.file, loc.line, loc.column, self.path, self.message)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings sorted by file and line, duplicates merged: one finding of several models
    (the same message at the same place) concerns all of them."""
    unique: dict[tuple[str, int, int, str, str], Finding] = {}
    models: dict[tuple[str, int, int, str, str], set[str]] = {}
    for finding in findings:
        key = finding.sort_key()
        unique.setdefault(key, finding)
        models.setdefault(key, set()).update(finding.models)
    out: list[Finding] = []
    for key in sorted(unique):
        finding = unique[key]
        if len(models[key]) > len(set(finding.models)):
            finding = replace(finding, models=tuple(sorted(models[key])))
        out.append(finding)
    return out


class ModelfleetError(Exception):
    """Invalid input or stale output: the user can fix it. Exit code 1."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = sorted_findings(findings)
        super().__init__("; ".join(f.full_message for f in self.findings))


class StaleOutputError(ModelfleetError):
    """``render --check`` found rendered/ out of date. Exit code 1."""


class UsageError(Exception):
    """The command line itself is wrong. Exit code 2."""


def path_str(path: Iterable[str | int]) -> str:
    """Render a field path as a breadcrumb: ``models[2].scaling.minReplicas``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out
