"""Error-budget arithmetic of the multi-window multi-burn-rate alerts. Pure decimals, no PromQL.

An SLO of objective ``o`` (0.999 for "99.9") over ``windowDays`` days has an error budget of
``1 - o``. Burning at factor ``f`` means an error ratio of ``f * (1 - o)``: at ``f = 1`` the
budget lasts exactly the window. Each alert watches a long window (how much budget went) and
a short one (is it still going); it fires when the error ratio over both exceeds
``f * (1 - o)`` (Google SRE workbook, "Alerting on SLOs", table 5-8).

For a 30-day window the standard set is: page at 14.4x over 1h (short window 5m) and 6x over
6h (30m), ticket at 3x over 1d (2h) and 1x over 3d (6h). Each alert means "this share of the
whole budget was spent within the long window": 2 %, 5 %, 10 % and 10 %. For another window
the windows stay and the factor is scaled so that the share stays::

    factor = budget_share * window_hours / long_window_hours
    e.g. 30 days, 2 % in 1h:  0.02 * 30 * 24 / 1 = 14.4;  28 days: 0.02 * 28 * 24 / 1 = 13.44

A factor that is no finite decimal (28 days, 10 % in 3d: 0.9333...) is rounded to
``FACTOR_PLACES`` decimal places; the budget share it stands for moves by less than 0.01 %.
An alert whose long window is longer than the SLO window is left out (its budget has been
renewed before the window closes).

Thresholds are computed with ``decimal.Decimal`` from the objective's text, so 14.4 x (1 - 0.999)
prints as ``0.0144``, never ``0.014400000000000001``.

Reachability: an error ratio never exceeds 1, so an alert whose ``f * (1 - o) >= 1`` can never
fire. It is reachable exactly when ``o > 1 - 1/f``: the lower the objective, the larger the
budget and the higher the ratio the alert waits for. ``minimum_objective`` gives that bound.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Literal

Severity = Literal["page", "ticket"]

FACTOR_PLACES = 4
OBJECTIVE_PLACES = 2  # minimum_objective() answers in hundredths of a percent

HOURS = {"m": Fraction(1, 60), "h": Fraction(1), "d": Fraction(24)}


@dataclass(frozen=True)
class BurnWindow:
    """One burn-rate alert of an SLO window: fires when both windows burn faster than ``factor``."""

    severity: Severity
    long: str  # Prometheus duration, e.g. "1h"
    short: str  # e.g. "5m"
    budget_share: Decimal  # share of the whole error budget spent in ``long`` at ``factor``
    factor: Decimal

    def threshold(self, objective_percent: float | Decimal | str) -> Decimal:
        """The error ratio both windows must exceed: factor x (1 - objective), exact."""
        return plain_decimal(self.factor * error_budget(objective_percent))

    def reachable(self, objective_percent: float | Decimal | str) -> bool:
        return self.threshold(objective_percent) < 1


# severity, long window, short window, share of the budget (the 30-day set of the SRE workbook)
STANDARD: tuple[tuple[Severity, str, str, Decimal], ...] = (
    ("page", "1h", "5m", Decimal("0.02")),
    ("page", "6h", "30m", Decimal("0.05")),
    ("ticket", "1d", "2h", Decimal("0.1")),
    ("ticket", "3d", "6h", Decimal("0.1")),
)


def hours(duration: str) -> Fraction:
    """Hours in a simple duration such as "5m", "6h" or "3d"."""
    number, unit = duration[:-1], duration[-1:]
    if unit not in HOURS or not number.isdigit():
        raise ValueError(f"{duration!r} is not a duration of minutes, hours or days")
    return int(number) * HOURS[unit]


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros or exponent: 0.01440 -> 0.0144, 6.0 -> 6."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def _to_decimal(value: Fraction, places: int) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(exact) == value:
        return plain_decimal(exact)
    return plain_decimal(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def burn_factor(budget_share: Decimal, window_days: int, long_window: str) -> Decimal:
    """budget_share * window_hours / long_window_hours, exact or rounded to FACTOR_PLACES."""
    return _to_decimal(Fraction(budget_share) * window_days * 24 / hours(long_window), FACTOR_PLACES)


@functools.lru_cache(maxsize=64)
def burn_windows(window_days: int) -> tuple[BurnWindow, ...]:
    """The burn-rate alerts of an SLO over ``window_days`` days, fastest first (computed once
    per window: every model of a fleet asks, and the windows are immutable)."""
    if window_days < 1:
        raise ValueError(f"an SLO window of {window_days} days is empty")
    return tuple(
        BurnWindow(severity, long, short, share, burn_factor(share, window_days, long))
        for severity, long, short, share in STANDARD
        if hours(long) <= window_days * 24
    )


def objective(percent: float | Decimal | str) -> Decimal:
    """The objective as a ratio, from its text: 99.9 -> Decimal("0.999")."""
    text = repr(percent) if isinstance(percent, float) else str(percent)
    value = Decimal(text)
    if not 0 < value < 100:
        raise ValueError(f"objective {text} is not a percentage between 0 and 100")
    return value / 100


def error_budget(percent: float | Decimal | str) -> Decimal:
    """1 - objective: Decimal("0.001") for 99.9."""
    return plain_decimal(1 - objective(percent))


def minimum_objective(factor: Decimal) -> Decimal | None:
    """The lowest objective (percent, in hundredths) with which an alert of ``factor`` can fire.

    Reachable means factor x (1 - o) < 1, i.e. o > 1 - 1/factor. The answer is the smallest
    multiple of 0.01 % strictly above that bound; None when every objective works (factor <= 1).
    """
    if factor <= 1:
        return None
    bound = 100 * (1 - 1 / Fraction(factor))
    scale = 10**OBJECTIVE_PLACES
    hundredths = math.floor(bound * scale) + 1
    return _to_decimal(Fraction(hundredths, scale), OBJECTIVE_PLACES)


def unreachable(percent: float | Decimal | str, window_days: int) -> tuple[BurnWindow, ...]:
    """The burn-rate alerts that can never fire with this objective."""
    return tuple(window for window in burn_windows(window_days) if not window.reachable(percent))


def as_percent(ratio: Decimal) -> str:
    """A ratio as percent text without float noise: 0.001 -> "0.1", 0.144 -> "14.4"."""
    return format(plain_decimal(ratio * 100), "f")
