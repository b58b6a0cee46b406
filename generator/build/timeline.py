"""One promtool test group as a timeline: every input series as a sample per minute (``None``
for none, ``STALE`` for a staleness marker), written in promtool's expanding notation
(``a+bxn`` is n+1 samples, ``_xn`` n missing ones), and the alert checks at their times.

promtool evaluates every rule of the rule files at each ``evaluation_interval`` step from 0 up to
the group's last ``eval_time``, in a fresh storage per test group (cmd/promtool/unittest.go,
``testGroup.test``: ``for ts := mint; ts.Before(maxt) || ts.Equal(maxt); ts = ts.Add(evalInterval)``
calls ``g.Eval`` on every group; a check at ``eval_time`` t compares the alerts firing after the
last step at or before t). So a proof costs (steps x rules) + a storage per group: one group
with few, coarse steps is the cheap proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from generator.build.alertmodel import number

STALE: Literal["stale"] = "stale"
Sample = Decimal | None | Literal["stale"]


def encode(samples: list[Sample]) -> str:
    """``samples`` (one a minute from time 0) in promtool's notation, runs folded."""
    parts: list[str] = []
    index = 0
    while index < len(samples):
        value = samples[index]
        end = index + 1
        if value is None:
            while end < len(samples) and samples[end] is None:
                end += 1
            parts.append(f"_x{end - index}")
        elif value == STALE:
            parts.append(STALE)
        else:
            assert isinstance(value, Decimal)
            following = samples[end] if end < len(samples) else None
            step = following - value if isinstance(following, Decimal) else None
            previous = value
            while step is not None and end < len(samples):
                nxt = samples[end]
                if not isinstance(nxt, Decimal) or nxt - previous != step:
                    break
                previous, end = nxt, end + 1
            runs = end - index - 1
            if runs == 0:
                parts.append(number(value))
            elif step == 0:
                parts.append(f"{number(value)}x{runs}")
            else:
                assert step is not None
                parts.append(f"{number(value)}+{number(step)}x{runs}")
        index = end
    return " ".join(parts)


@dataclass(frozen=True)
class Check:
    """An alert expected at ``minute``: firing with these labels and annotations, or silent."""

    minute: int
    alert: str
    expected: list[dict[str, Any]]


@dataclass
class Timeline:
    """The series and checks of one test group, filled by the burn-rate and operational proofs."""

    length: int  # minutes of samples
    series: dict[str, list[Sample]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def put(self, text: str, samples: list[Sample]) -> None:
        """Add a series; two proofs may share one only with the same samples."""
        padded = (samples + [samples[-1] if samples else None] * self.length)[: self.length]
        known = self.series.get(text)
        assert known is None or known == padded, f"two proofs need different samples of {text}"
        self.series[text] = padded

    def group(self, name: str) -> dict[str, Any]:
        checks = sorted(self.checks, key=lambda c: c.minute)
        return {
            "name": name,
            "interval": "1m",
            "input_series": [{"series": text, "values": encode(self.series[text])} for text in sorted(self.series)],
            "alert_rule_test": [
                {"eval_time": f"{c.minute}m", "alertname": c.alert, "exp_alerts": c.expected} for c in checks
            ],
        }
