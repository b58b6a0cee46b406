"""Synthetic input series of a promtool test: counters that grow at a steady rate from time 0,
gauges that stand still, and the request and latency series of a model's SLI at a chosen share of
bad requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from generator.build.alertmodel import number
from generator.build.labelsets import Labels, good_labels, labels_for, selects
from generator.build.runtimemetrics import Series
from generator.build.sli import Sli
from generator.read.resolve import ResolvedModel

TAIL = 10  # samples past the evaluation time

SeriesSpec = dict[str, str]


def series_text(name: str, labels: Labels) -> str:
    return name + "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


@dataclass(frozen=True)
class Clock:
    """Samples every ``step`` minutes from time 0 to ``minutes``, and TAIL samples more."""

    minutes: int
    step: int = 1

    @property
    def samples(self) -> int:
        return self.minutes // self.step + TAIL

    @property
    def interval(self) -> str:
        return f"{self.step}m"


def counter(per_minute: Decimal, clock: Clock) -> str:
    return f"0+{number(per_minute * clock.step)}x{clock.samples}"


def steady(value: Decimal | int, minutes: int) -> str:
    return f"{number(Decimal(value))}x{minutes + TAIL}"


@dataclass(frozen=True)
class Traffic:
    """Requests per minute and the share of them that is bad, from time 0."""

    per_minute: Decimal
    bad: Decimal

    def bad_per_minute(self) -> Decimal:
        return self.per_minute * self.bad


def _selector(series: Series, scope: str, suffix: str = "", extra: str = "") -> str:
    return series.select(scope, suffix, extra)


Growth = list[tuple[str, Decimal]]  # (series, increase per minute)


def request_growth(sli: Sli, traffic: Traffic) -> Growth:
    """Counters whose error ratio is ``traffic.bad``: the error series and the good requests."""
    error_selector = _selector(sli.errors, sli.scope)
    error_name, error_labels = labels_for(error_selector)
    out = [(series_text(error_name, error_labels), traffic.bad_per_minute())]
    counting = [r for r in sli.requests if r.name == error_name and selects(_selector(r, sli.scope), error_labels)]
    if not counting:  # the errors are a separate counter (TorchServe): the request counter counts them all
        name, labels = labels_for(_selector(sli.requests[0], sli.scope))
        return [*out, (series_text(name, labels), traffic.per_minute)]
    others = [r for r in sli.requests if r not in counting]
    good = others[0] if others else counting[0]
    name, labels = labels_for(_selector(good, sli.scope))
    if name == error_name:
        labels = good_labels(_selector(good, sli.scope), error_selector, labels)
    return [*out, (series_text(name, labels), traffic.per_minute - traffic.bad_per_minute())]


def latency_growth(model: ResolvedModel, sli: Sli, traffic: Traffic) -> Growth:
    """A histogram whose share of requests over the SLO threshold is ``traffic.bad``."""
    latency, histogram = model.spec.monitoring.slo.latency, sli.latency
    assert latency is not None and histogram is not None
    le = histogram.le_matcher(latency.thresholdMs)
    bucket, bucket_labels = labels_for(_selector(histogram.series, sli.scope, "_bucket", le))
    count, count_labels = labels_for(_selector(histogram.series, sli.scope, "_count"))
    good = traffic.per_minute - traffic.bad_per_minute()
    return [(series_text(bucket, bucket_labels), good), (series_text(count, count_labels), traffic.per_minute)]


def _specs(growth: Growth, clock: Clock) -> list[SeriesSpec]:
    return [{"series": series, "values": counter(per_minute, clock)} for series, per_minute in growth]


def request_series(sli: Sli, traffic: Traffic, clock: Clock) -> list[SeriesSpec]:
    """``request_growth`` as counters from time 0."""
    return _specs(request_growth(sli, traffic), clock)


def latency_series(model: ResolvedModel, sli: Sli, traffic: Traffic, clock: Clock) -> list[SeriesSpec]:
    """``latency_growth`` as counters from time 0."""
    return _specs(latency_growth(model, sli, traffic), clock)
