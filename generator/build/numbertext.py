"""Numbers as text: plain decimals for queries and JSON, and every way a histogram bound
(``le``) can be spelled.

PromQL matches ``le`` as a string. Each runtime writes its bounds its own way
(prometheus_client ``"0.2"``/``"1.0"``, prometheus-cpp ``"100"``, absl ``"%.6g"``) and
Prometheus 3 rewrites ``le`` on ingestion to OpenMetrics form (``le="100"`` is stored as
``le="100.0"``, https://prometheus.io/docs/prometheus/latest/migration/ "le and quantile label
values"; prometheus/prometheus model/textparse normalizeFloatsInLabelValues and
model/labels/float.go FormatOpenMetricsFloat). A matcher of a bound therefore names every
spelling the value can have.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal

Writer = Literal["python", "cpp", "absl", "unknown"]


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: Decimal("1E+3") -> "1000", Decimal("0.20") -> "0.2"."""
    return format(value.normalize(), "f")


def _shortest(value: Decimal) -> tuple[str, int]:
    """The shortest digits that round-trip ``float(value)``, and the exponent of the first."""
    exact = Decimal(repr(float(value))).normalize()
    _, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    return "".join(map(str, digits)), len(digits) + exponent - 1


def _fixed(digits: str, exponent: int) -> str:
    if exponent < 0:
        return "0." + "0" * (-exponent - 1) + digits
    if exponent + 1 >= len(digits):
        return digits + "0" * (exponent + 1 - len(digits))
    return f"{digits[: exponent + 1]}.{digits[exponent + 1 :]}"


def _scientific(digits: str, exponent: int) -> str:
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _go(value: Decimal) -> str:
    """Go's strconv.FormatFloat(v, 'g', -1, 64): exponent form below 1e-4 and from 1e6."""
    digits, exponent = _shortest(value)
    return _scientific(digits, exponent) if exponent < -4 or exponent >= 6 else _fixed(digits, exponent)


def _openmetrics(value: Decimal) -> str:
    """Prometheus 3's spelling of a stored ``le`` (labels.FormatOpenMetricsFloat)."""
    text = _go(value)
    return text if "." in text or "e" in text else f"{text}.0"


def _python(value: Decimal) -> str:
    """prometheus_client's floatToGoString."""
    text = repr(float(value))
    dot = text.find(".")
    if dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def _cpp(value: Decimal) -> str:
    """prometheus-cpp: std::to_chars, the shorter of fixed and exponent form (fixed on a tie)."""
    digits, exponent = _shortest(value)
    fixed, scientific = _fixed(digits, exponent), _scientific(digits, exponent)
    return scientific if len(scientific) < len(fixed) else fixed


def absl_text(value: Decimal) -> str:
    """absl::StrCat(double), which TF Serving uses: printf's %.6g."""
    return format(float(value), ".6g")


_WRITERS: dict[str, Callable[[Decimal], str]] = {"python": _python, "cpp": _cpp, "absl": absl_text}


def bound_spellings(value: Decimal, writer: Writer) -> list[str]:
    """Every spelling of the bound ``value`` as an ``le`` label: as ``writer`` prints it (as any
    writer might, when it is unknown) and as Prometheus 3 stores it; sorted."""
    writers = list(_WRITERS.values()) if writer == "unknown" else [_WRITERS[writer]]
    return sorted({write(value) for write in [*writers, _openmetrics]})
