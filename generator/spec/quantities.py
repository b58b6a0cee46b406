"""Numbers with units in the spec: Kubernetes quantities (and the number one stands for), pod
counts or percentages, percentages, ports and Prometheus durations."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from generator.spec.base import spec_error

QUANTITY_RE = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _quantity_before(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _check_quantity(value: str) -> str:
    if not QUANTITY_RE.match(value) or value.startswith("-"):
        raise spec_error(
            f"'{value}' is not a Kubernetes quantity",
            "write CPU as '500m' or '2', memory as '512Mi' or '4Gi'",
        )
    return value


def _check_duration(value: str) -> str:
    if not re.match(r"^([0-9]+(ms|s|m|h|d|w|y))+$", value):
        raise spec_error(f"'{value}' is not a Prometheus duration", "for example '5m' or '1h30m'")
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_before),
    AfterValidator(_check_quantity),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": QUANTITY_RE.pattern}, {"type": "number", "minimum": 0}]}),
]
Duration = Annotated[
    str, AfterValidator(_check_duration), WithJsonSchema({"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"})
]
Percent = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=1, le=65535)]


_QUANTITY_SUFFIX: dict[str, int | Decimal] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip


def quantity_value(text: str) -> Decimal:
    """The number a Kubernetes quantity stands for (``1Gi`` -> 1073741824)."""
    for suffix in sorted(_QUANTITY_SUFFIX, key=len, reverse=True):  # "Mi" before "M"
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * Decimal(_QUANTITY_SUFFIX[suffix])
    return Decimal(text)


def _check_surge(value: int | str) -> int | str:
    if isinstance(value, str) and not re.match(r"^(100|[1-9]?[0-9])%$", value):
        raise spec_error(f"'{value}' is not a pod count or a percentage", "write a whole number such as 1, or '25%'")
    if isinstance(value, int) and value < 0:
        raise spec_error(f"{value} is negative; a pod count is 0 or more", "write 0 or a positive number such as 1")
    return value


IntOrPercent = Annotated[
    int | str,
    Field(union_mode="left_to_right"),
    AfterValidator(_check_surge),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^(100|[1-9]?[0-9])%$"}]}
    ),
]
