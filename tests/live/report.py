"""Checks of the live test and the driven-vs-recorded table they make.

Every comparison is recorded, passed or not, so one run shows every disagreement; the test fails
at the end when any check failed. A check with ``ok=None`` is information only (no verdict).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Check:
    phase: str
    name: str
    driven: str  # what the client did or expects
    recorded: str  # what Prometheus answered
    diff: str
    ok: bool | None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "FAIL", None: "info"}[self.ok]


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    return f"{value:.{digits}f}"


@dataclass
class Checks:
    items: list[Check] = field(default_factory=list)

    def add(
        self, phase: str, name: str, *, driven: str, recorded: str, diff: str = "-", ok: bool | None, note: str = ""
    ) -> bool:
        self.items.append(Check(phase, name, driven, recorded, diff, ok, note))
        return ok is not False

    def near(
        self,
        phase: str,
        name: str,
        *,
        driven: float,
        recorded: float | None,
        tolerance: float,
        relative: bool = False,
        note: str = "",
    ) -> bool:
        """``recorded`` within ``tolerance`` of ``driven`` (absolute, or relative to ``driven``)."""
        if recorded is None or math.isnan(recorded):
            return self.add(phase, name, driven=fmt(driven), recorded=fmt(recorded), ok=False, note=note or "no value")
        diff = recorded - driven
        bound = tolerance * abs(driven) if relative else tolerance
        shown = f"{diff:+.4f}" + (f" ({diff / driven:+.0%})" if relative and driven else "")
        limit = f"±{tolerance:.0%}" if relative else f"±{tolerance}"
        return self.add(
            phase,
            name,
            driven=fmt(driven),
            recorded=fmt(recorded),
            diff=f"{shown} [{limit}]",
            ok=abs(diff) <= bound,
            note=note,
        )

    def samples(self, phase: str, name: str, *, expected: int, got: int, detail: str = "", note: str = "") -> bool:
        """A query answered ``got`` samples where ``expected`` were due."""
        return self.add(
            phase,
            name,
            driven=f"{expected} sample(s)",
            recorded=f"{got} sample(s){detail}",
            diff=f"{got - expected:+d}",
            ok=got == expected,
            note=note,
        )

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.items if c.ok is False]

    def table(self) -> str:
        headers = ("phase", "check", "driven (client)", "recorded (Prometheus)", "difference", "verdict")
        rows = [(c.phase, c.name, c.driven, c.recorded, c.diff, c.verdict) for c in self.items]
        widths = [min(max(len(r[i]) for r in [headers, *rows]), cap) for i, cap in enumerate((6, 76, 30, 30, 30, 7))]

        def line(row: tuple[str, ...]) -> str:
            cells = [cell if len(cell) <= w else cell[: w - 1] + "~" for cell, w in zip(row, widths, strict=True)]
            return " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

        out = [line(headers), "-+-".join("-" * w for w in widths)]
        out += [line(r) for r in rows]
        notes = [f"  [{c.verdict}] {c.phase} / {c.name}: {c.note}" for c in self.items if c.note]
        if notes:
            out += ["", "notes:", *notes]
        return "\n".join(out)
