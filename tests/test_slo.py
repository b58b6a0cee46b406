"""slo: burn-rate windows and factors, exact decimal thresholds, reachability."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from generator.build.slo import (
    BurnWindow,
    as_percent,
    burn_factor,
    burn_windows,
    error_budget,
    hours,
    minimum_objective,
    objective,
    unreachable,
)


def table(window_days: int) -> list[tuple[str, str, str, str]]:
    return [(w.severity, w.long, w.short, str(w.factor)) for w in burn_windows(window_days)]


def test_thirty_days_is_the_sre_workbook_set() -> None:
    assert table(30) == [
        ("page", "1h", "5m", "14.4"),
        ("page", "6h", "30m", "6"),
        ("ticket", "1d", "2h", "3"),
        ("ticket", "3d", "6h", "1"),
    ]
    assert [str(w.budget_share) for w in burn_windows(30)] == ["0.02", "0.05", "0.1", "0.1"]


def test_other_windows_scale_the_factor_to_keep_the_budget_share() -> None:
    # factor = budget_share * window_hours / long_window_hours
    assert [f for *_, f in table(28)] == ["13.44", "5.6", "2.8", "0.9333"]  # 0.9333...: rounded to 4 places
    assert [f for *_, f in table(7)] == ["3.36", "1.4", "0.7", "0.2333"]
    assert [f for *_, f in table(90)] == ["43.2", "18", "9", "3"]
    for window in burn_windows(28)[:3]:  # the exact ones spend exactly their share
        assert Fraction(window.factor) * hours(window.long) == Fraction(window.budget_share) * 28 * 24


def test_windows_longer_than_the_slo_window_are_left_out() -> None:
    assert table(1) == [("page", "1h", "5m", "0.48"), ("page", "6h", "30m", "0.2"), ("ticket", "1d", "2h", "0.1")]
    assert [w.long for w in burn_windows(2)] == ["1h", "6h", "1d"]
    assert [w.long for w in burn_windows(3)] == ["1h", "6h", "1d", "3d"]
    with pytest.raises(ValueError):
        burn_windows(0)


@pytest.mark.parametrize(
    ("percent", "thresholds"),
    [
        (99.9, ["0.0144", "0.006", "0.003", "0.001"]),
        (99.5, ["0.072", "0.03", "0.015", "0.005"]),
        ("99.95", ["0.0072", "0.003", "0.0015", "0.0005"]),
        (Decimal("99.99"), ["0.00144", "0.0006", "0.0003", "0.0001"]),
        (95, ["0.72", "0.3", "0.15", "0.05"]),
    ],
)
def test_thresholds_are_exact_decimals(percent: float | str | Decimal, thresholds: list[str]) -> None:
    assert [format(w.threshold(percent), "f") for w in burn_windows(30)] == thresholds


def test_no_float_noise_where_floats_would_have_it() -> None:
    assert 14.4 * (1 - 0.999) != 0.0144  # the bug this module exists to avoid (sloth#341)
    assert str(burn_windows(30)[0].threshold(99.9)) == "0.0144"
    assert str(burn_windows(28)[3].threshold(99.9)) == "0.0009333"
    assert str(error_budget(99.9)) == "0.001"
    assert str(objective(99.9)) == "0.999"
    assert as_percent(error_budget(99.5)) == "0.5"
    assert as_percent(Decimal("0.144")) == "14.4"


def test_objective_must_be_a_percentage() -> None:
    for bad in (0, 100, "-1", "150"):
        with pytest.raises(ValueError):
            objective(bad)


def test_an_alert_that_would_need_an_error_ratio_above_one_is_unreachable() -> None:
    page = burn_windows(30)[0]
    assert not page.reachable(90)  # 14.4 x 0.1 = 1.44 > 1 (sloth#131)
    assert page.reachable(93.06)
    assert not page.reachable("93.05")  # 14.4 x 0.0695 = 1.0008
    assert [w.long for w in unreachable(90, 30)] == ["1h"]
    assert [w.long for w in unreachable(50, 30)] == ["1h", "6h", "1d"]  # 1x never is: its ratio is the budget
    assert unreachable(99.9, 30) == ()


def test_a_ratio_of_exactly_one_cannot_be_exceeded() -> None:
    window = BurnWindow("page", "1h", "5m", Decimal("0.02"), Decimal(2))
    assert window.threshold(50) == 1
    assert not window.reachable(50)


def test_minimum_objective_is_the_lowest_percent_with_which_the_alert_can_fire() -> None:
    # reachable iff objective > 1 - 1/factor; the answer is in hundredths of a percent, strictly above
    assert minimum_objective(Decimal("14.4")) == Decimal("93.06")  # 1 - 1/14.4 = 93.0555...%
    assert minimum_objective(Decimal(6)) == Decimal("83.34")
    assert minimum_objective(Decimal(3)) == Decimal("66.67")
    assert minimum_objective(Decimal(2)) == Decimal("50.01")  # 50 itself gives a ratio of exactly 1
    assert minimum_objective(Decimal("43.2")) == Decimal("97.69")
    assert minimum_objective(Decimal(1)) is None
    assert minimum_objective(Decimal("0.9333")) is None
    for factor in (Decimal("14.4"), Decimal(6), Decimal(3), Decimal(2), Decimal("13.44"), Decimal("43.2")):
        lowest = minimum_objective(factor)
        assert lowest is not None
        assert factor * error_budget(lowest) < 1
        assert factor * error_budget(lowest - Decimal("0.01")) >= 1


def test_burn_factor_is_exact_or_rounded_to_four_places() -> None:
    assert burn_factor(Decimal("0.02"), 30, "1h") == Decimal("14.4")
    assert burn_factor(Decimal("0.1"), 28, "3d") == Decimal("0.9333")
    assert burn_factor(Decimal("0.05"), 45, "6h") == Decimal(9)
    with pytest.raises(ValueError):
        hours("1w")
