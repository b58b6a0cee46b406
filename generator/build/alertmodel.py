"""What an alert is: the types every rule builder shares (``Objective``, ``Burn``, ``Alert``,
``Scope``), the ``$value`` placeholders of alert descriptions, and the helpers that write
decimals and label values into PromQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from generator.build.alerting import AlertDoc
from generator.build.identity import CONTAINER
from generator.build.sli import Sli
from generator.build.slo import BurnWindow, plain_decimal
from generator.read.resolve import ResolvedModel

RECORD_PREFIX = "modelfleet:sli_"
VALUE = "{{ $value | humanize }}"
PERCENT = "{{ $value | humanizePercentage }}"
RAW_VALUE = "{{ $value }}"
POD_NAME = "[a-z0-9]+-[a-z0-9]+"  # <pod-template-hash>-<suffix> of a Deployment's or a Rollout's pods


def number(value: Decimal) -> str:
    return format(plain_decimal(value), "f")


def quoted(value: str) -> str:
    return json.dumps(value)


# ------------------------------------------------------------------ what an alert is


@dataclass(frozen=True)
class Objective:
    """One SLO guarded by burn-rate alerts."""

    kind: str  # "availability" or "latency"
    percent: Decimal
    record: str  # recording rule prefix: modelfleet:sli_error_ratio
    path: tuple[str, ...]  # the spec field of the objective


@dataclass(frozen=True)
class Burn:
    objective: Objective
    window: BurnWindow
    threshold: Decimal


@dataclass(frozen=True)
class Alert:
    """An alerting rule and its documentation; ``kind`` tells rules_test how to exercise it."""

    doc: AlertDoc
    expr: str
    description: str  # may hold VALUE, PERCENT or RAW_VALUE
    kind: str
    for_: str | None = None
    burn: Burn | None = None


@dataclass(frozen=True)
class Scope:
    """The label matchers of one model in one namespace (None: the shared base)."""

    model: str
    namespace: str | None
    sli: Sli

    def matchers(self, **labels: str) -> str:
        pairs = ([("namespace", self.namespace)] if self.namespace is not None else []) + list(labels.items())
        return ",".join(f"{label}={quoted(value)}" for label, value in pairs)

    @property
    def record_labels(self) -> dict[str, str]:
        return {"model": self.model} | ({"namespace": self.namespace} if self.namespace is not None else {})

    def recorded(self, record: str, window: str) -> str:
        matchers = ",".join(f"{label}={quoted(value)}" for label, value in self.record_labels.items())
        return f"{record}:rate{window}{{{matchers}}}"

    @property
    def pods(self) -> str:
        """The model's pods: <model>-<pod-template-hash>-<suffix>, never those of a model named <model>-x."""
        return ",".join(part for part in (self.matchers(), f"pod=~{quoted(self.model + '-' + POD_NAME)}") if part)

    def containers(self, **labels: str) -> str:
        extra = "".join(f",{label}={quoted(value)}" for label, value in labels.items())
        return f"{self.pods},container={quoted(CONTAINER)}{extra}"


def namespace_of(model: ResolvedModel) -> str | None:
    return model.environment.namespace if model.environment is not None else None


def window_days(model: ResolvedModel) -> int:
    return model.spec.monitoring.slo.windowDays


def objectives(model: ResolvedModel) -> list[Objective]:
    slo = model.spec.monitoring.slo
    found = [Objective("availability", _percent(slo.availability), f"{RECORD_PREFIX}error_ratio", ("availability",))]
    if slo.latency is not None:
        path = ("latency", "percent")
        found.append(Objective("latency", _percent(slo.latency.percent), f"{RECORD_PREFIX}latency_bad_ratio", path))
    return found


def _percent(value: float) -> Decimal:
    return plain_decimal(Decimal(repr(value)))
