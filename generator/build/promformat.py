"""How Prometheus prints ``{{ $value }}`` in an alert's annotations (``humanize``,
``humanizePercentage``, Go's ``%.4g`` and ``%v``), so that a test can expect a description
exactly as promtool renders it."""

from __future__ import annotations

import math
from decimal import Decimal

from generator.build.alertmodel import PERCENT, RAW_VALUE, VALUE


def _go_g4(value: float) -> str:
    """Go's fmt %.4g (same rules as Python's: exponent below 1e-4 and from 1e4, no trailing zeros)."""
    return format(value, ".4g")


def humanize(value: float) -> str:
    """Prometheus' template function humanize (SI prefixes, %.4g)."""
    if value == 0 or not math.isfinite(value):
        return _go_g4(value)
    prefix = ""
    if abs(value) >= 1:
        for candidate in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix, value = candidate, value / 1000
        return _go_g4(value) + prefix
    for candidate in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix, value = candidate, value * 1000
    return _go_g4(value) + prefix


def humanize_percentage(value: float) -> str:
    return _go_g4(value * 100) + "%"


def go_float(value: float) -> str:
    """Go's %v of a float64, as text/template prints ``{{ $value }}``: the shortest digits,
    in exponent form below 1e-4 and from 1e6."""
    if value == 0 or not math.isfinite(value):
        return {math.inf: "+Inf", -math.inf: "-Inf"}.get(value, "NaN" if value != 0 else "0")
    exact = Decimal(repr(value)).normalize()
    if -4 <= exact.adjusted() < 6:
        return format(exact, "f")
    return format(value, f".{len(exact.as_tuple().digits) - 1}e")


def render(template: str, value: float) -> str:
    """An annotation as Prometheus renders it for ``value``."""
    text = template.replace(VALUE, humanize(value)).replace(PERCENT, humanize_percentage(value))
    return text.replace(RAW_VALUE, go_float(value))
