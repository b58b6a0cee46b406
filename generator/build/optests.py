"""The operational alerts of one model on a promtool timeline: each alert's series hold a silent
value up to ``QUIET`` (checked silent there), switch to a firing value, and the condition holds
from the evaluation at ``ACTIVE``. An alert with ``for: d`` is then checked pending (not firing)
one step before the first evaluation at which it has held ``d`` and firing, with its exact
labels and annotations, at that one: a missing ``for`` fires at ``ACTIVE`` (Prometheus fires an
alert without ``for`` at the evaluation that first sees it), a ``for`` shorter by a step or more
fires a step early, and an expression already true in the silent part activates at ``QUIET`` or
earlier and fires early too. Steps of 30 minutes resolve the ``for`` of every operational alert
(10m, 15m, 30m, 1h) to the step: each fires at the first step at which it has held it. Alerts
that read the same series share it (restarts and OOM kills, the two scrape-target alerts); the
GPU saturation phase follows the idle one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from generator.build.alertmodel import Alert, Scope
from generator.build.identity import hpa_name
from generator.build.labelsets import Labels, labels_for
from generator.build.series import series_text
from generator.build.timeline import STALE, Check, Sample, Timeline
from generator.read.resolve import ResolvedModel

STEP = 30  # minutes between evaluations (the test file's evaluation_interval)
QUIET = STEP  # the last evaluation with the silent values
ACTIVE = 2 * STEP  # the first evaluation that sees the firing values
SWITCH = QUIET + 1  # the minute the gauges change

Expect = Callable[[Alert, float, Labels], list[dict[str, object]]]


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600)}
_SECONDS |= {"d": 24 * _SECONDS["h"], "w": 7 * 24 * _SECONDS["h"], "y": 365 * 24 * _SECONDS["h"]}


def _minutes(duration: str) -> int:
    """A Prometheus duration (``90s``, ``1h30m``) in whole minutes, rounded up."""
    seconds = sum((int(number) * _SECONDS[unit] for number, unit in _DURATION_PART.findall(duration)), Fraction(0))
    return math.ceil(seconds / 60)


def _up(minute: int) -> int:
    """``minute`` rounded up to an evaluation step."""
    return -(-minute // STEP) * STEP


@dataclass(frozen=True)
class Ops:
    """What the operational proofs of one model share."""

    model: ResolvedModel
    scope: Scope
    timeline: Timeline
    expect: Expect

    def pod(self, **extra: str) -> Labels:
        preferred = {"pod": f"{self.model.name}-5d8f9c7b6-x2x4z"}
        return labels_for(f"x{{{self.scope.containers(**extra)}}}", preferred)[1]

    def gauge(self, name: str, labels: Labels, before: Sample, after: Sample, switch: int = SWITCH) -> None:
        length = self.timeline.length
        self.timeline.put(series_text(name, labels), [before] * switch + [after] * (length - switch))

    def counter(self, name: str, labels: Labels, base: Decimal, per_minute: Decimal) -> None:
        """Flat at ``base`` up to ``QUIET``, then growing by ``per_minute``."""
        samples: list[Sample] = [base + per_minute * max(0, t - QUIET) for t in range(self.timeline.length)]
        self.timeline.put(series_text(name, labels), samples)

    def check(self, alert: Alert, fires: int, value: float, labels: Labels | None = None) -> None:
        """Silent at QUIET, pending one step before ``fires`` when the alert has a ``for``, firing at ``fires``."""
        name = alert.doc.name
        self.timeline.checks.append(_silent(QUIET, name))
        if alert.for_ is not None:
            self.timeline.checks.append(_silent(fires - STEP, name))
        self.timeline.checks.append(Check(fires, name, self.expect(alert, value, labels or {})))

    def held(self, alert: Alert, active: int = ACTIVE) -> int:
        """The first evaluation at which ``alert``, active from ``active``, has held its ``for``."""
        return active + _up(_minutes(alert.for_) if alert.for_ is not None else 0)


def _silent(minute: int, name: str) -> Check:
    return Check(minute, name, [])


RESTARTS = "kube_pod_container_status_restarts_total"
UP = "up"


def _restarted(ops: Ops) -> None:
    """One restart long ago, then ``max + 1`` at once at ``ACTIVE``: every window up to ``ACTIVE``
    from before the jump holds exactly that increase (samples at both ends, nothing extrapolated)."""
    rule = ops.model.spec.monitoring.alerts.podRestarts
    ops.gauge(RESTARTS, ops.pod(), Decimal(1), Decimal(rule.max + 2), switch=ACTIVE)


def _restarts(ops: Ops, alert: Alert) -> None:
    _restarted(ops)
    rule = ops.model.spec.monitoring.alerts.podRestarts
    ops.check(alert, _restarts_check(rule.windowMinutes), float(rule.max + 1))


def _restarts_check(window: int) -> int:
    """The first step whose window holds the jump and starts on a sample (not before 0)."""
    return max(ACTIVE, _up(window))


def _oom(ops: Ops, alert: Alert) -> None:
    _restarted(ops)
    ops.gauge("kube_pod_container_status_last_terminated_reason", ops.pod(reason="OOMKilled"), Decimal(1), Decimal(1))
    ops.check(alert, ACTIVE, 1.0)  # an OOM kill long ago (the restart counter stands still) is silent at QUIET


def _crashloop(ops: Ops, alert: Alert) -> None:
    labels = ops.pod(reason="CrashLoopBackOff")
    ops.gauge("kube_pod_container_status_waiting_reason", labels, Decimal(0), Decimal(1))
    ops.check(alert, ops.held(alert), 1.0)


def _at_max(ops: Ops, alert: Alert) -> None:
    most = ops.model.spec.scaling.maxReplicas
    labels = labels_for(f"x{{{ops.scope.matchers(horizontalpodautoscaler=hpa_name(ops.model))}}}")[1]
    ops.gauge("kube_horizontalpodautoscaler_spec_max_replicas", labels, Decimal(most), Decimal(most))
    ops.gauge("kube_horizontalpodautoscaler_status_current_replicas", labels, Decimal(most - 1), Decimal(most))
    ops.check(alert, ops.held(alert), float(most), labels)


def _memory(ops: Ops, alert: Alert) -> None:
    ops.gauge("kube_pod_container_resource_limits", ops.pod(resource="memory"), Decimal(1000), Decimal(1000))
    ops.gauge("container_memory_working_set_bytes", ops.pod(), Decimal(500), Decimal(950))
    ops.check(alert, ops.held(alert), 0.95)


def _throttled(ops: Ops, alert: Alert) -> None:
    ops.counter("container_cpu_cfs_periods_total", ops.pod(), Decimal(0), Decimal(100))
    ops.counter("container_cpu_cfs_throttled_periods_total", ops.pod(), Decimal(0), Decimal(30))
    ops.check(alert, ops.held(alert), 0.3)  # rate over 5m: all growth from QUIET on, 30 of 100 periods


def _up_labels(ops: Ops) -> Labels:
    return labels_for(f"up{{{ops.scope.sli.scope}}}")[1] | {"pod": f"{ops.model.name}-5d8f9c7b6-x2x4z"}


def _scaled_to_zero(ops: Ops) -> bool:
    return ops.model.spec.scaling.minReplicas == 0


def _up_series(ops: Ops) -> None:
    """One scrape target: healthy, then down. A model that may scale to zero has no pods and no
    target for a while before (checked silent at QUIET), after a healthy start (checked at 0)."""
    gone: list[Sample] = [Decimal(1)] * 3 + [STALE] + [None] * (SWITCH - 4)
    length = ops.timeline.length
    before: list[Sample] = gone if _scaled_to_zero(ops) else [Decimal(1)] * SWITCH
    ops.timeline.put(series_text(UP, _up_labels(ops)), before + [Decimal(0)] * (length - SWITCH))
    pods: list[Sample] = before if _scaled_to_zero(ops) else [Decimal(1)] * SWITCH
    ops.timeline.put(series_text("kube_pod_container_info", ops.pod()), pods + [Decimal(1)] * (length - SWITCH))


def _target_down(ops: Ops, alert: Alert) -> None:
    _up_series(ops)
    ops.check(alert, ops.held(alert), 1.0)


def _absent(ops: Ops, alert: Alert) -> None:
    _up_series(ops)
    ops.check(alert, ops.held(alert), 1.0)
    if _scaled_to_zero(ops):  # silent with a healthy target, before it scaled to zero
        ops.timeline.checks.append(_silent(0, alert.doc.name))


GPU = "DCGM_FI_DEV_GPU_UTIL"


def _gpu(ops: Ops, idle: Alert, busy: Alert) -> None:
    """Utilisation 50, then 2 (idle fires), then 98 (saturated fires)."""
    idle_fires = ops.held(idle)
    busy_from = idle_fires + 1
    length = ops.timeline.length
    samples: list[Sample] = [
        Decimal(50) if t < SWITCH else Decimal(2) if t < busy_from else Decimal(98) for t in range(length)
    ]
    ops.timeline.put(series_text(GPU, ops.pod(gpu="0")), samples)
    ops.check(idle, idle_fires, 2.0)
    ops.timeline.checks.append(_silent(idle_fires, busy.doc.name))  # an hour at 2%: not saturated
    ops.check(busy, ops.held(busy, _up(busy_from)), 98.0)


SIMPLE: dict[str, Callable[[Ops, Alert], None]] = {
    "op-restarts": _restarts,
    "op-oom": _oom,
    "op-crashloop": _crashloop,
    "op-at-max": _at_max,
    "op-memory": _memory,
    "op-throttled": _throttled,
    "op-target-down": _target_down,
    "op-absent": _absent,
}


def ops_length(alerts: list[Alert], model: ResolvedModel) -> int:
    """The last minute an operational check needs."""
    ends = [ACTIVE]
    for alert in alerts:
        if alert.kind == "op-restarts":
            ends.append(_restarts_check(model.spec.monitoring.alerts.podRestarts.windowMinutes))
        elif alert.kind == "op-gpu-busy":
            idle = next(a for a in alerts if a.kind == "op-gpu-idle")
            idle_end = ACTIVE + _up(_minutes(idle.for_ or "0m"))
            ends.append(_up(idle_end + 1) + _up(_minutes(alert.for_ or "0m")))
        elif alert.kind.startswith("op-"):
            ends.append(ACTIVE + _up(_minutes(alert.for_) if alert.for_ is not None else 0))
    return max(ends)


def operational_proofs(ops: Ops, alerts: list[Alert]) -> None:
    """Put the series and checks of every operational alert of ``alerts`` on the timeline."""
    for alert in alerts:
        prove = SIMPLE.get(alert.kind)
        if prove is not None:
            prove(ops, alert)
    idle = [a for a in alerts if a.kind == "op-gpu-idle"]
    busy = [a for a in alerts if a.kind == "op-gpu-busy"]
    if idle and busy:
        _gpu(ops, idle[0], busy[0])
