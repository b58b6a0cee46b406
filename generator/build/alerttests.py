"""The proof that each alert fires: a ``promtool test rules`` file per model.

Burn-rate alerts, availability and latency side by side, per pair of windows, on synthetic
counters that keep one bad-request ratio from time 0: at 1.05x the threshold every alert of
the pair fires with the exact labels and annotations; at 0.95x it stays silent; with the
counters standing still (no traffic) it stays silent; and a page alert stays silent at half a
request per minute even when every request fails. Operational alerts: one firing and one
silent case each (a scaled-to-zero model's MetricsAbsent also stays silent without pods).
The model's own metric alerts are not exercised (their series are the model's), nor are
burn-rate alerts built on a ``monitoring.sli`` requestRate/errorRatio override (same reason).

When. A case is evaluated as soon as its short window is full: a burn that started at time 0
shows its whole ratio in the long window too (Prometheus rates over the samples a window
holds), so waiting for the long window proves nothing more for a constant ratio and costs up
to three days of 1-minute evaluations per case, about a minute of promtool per model.
``full_windows=True`` waits anyway. Samples come every sixth of the short window (every
minute for 5m), so each window holds several and a Prometheus 3 left-open range still two.

Input series (``series``) carry exactly the labels the queries select (``labelsets``): every
matcher of a selector is satisfied (an example string for a regular expression, checked with
``re.fullmatch``), and the good-request series breaks the error selector's own matchers
(status 200 against 5..). The expected descriptions render ``{{ $value }}`` as Prometheus does
(``promformat``: ``humanize``, ``humanizePercentage``, Go's ``%.4g``); the synthetic ratios
have at most four significant digits, so that rendering is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from generator.build.alertmodel import Alert, Burn, Scope, namespace_of, number
from generator.build.alerts import alert_annotations, alert_labels, model_alerts
from generator.build.identity import hpa_name
from generator.build.labelsets import Labels, labels_for
from generator.build.opsalerts import OOM_WINDOW
from generator.build.promformat import render
from generator.build.series import (
    Clock,
    SeriesSpec,
    Traffic,
    counter,
    latency_series,
    request_series,
    series_text,
    steady,
)
from generator.build.sli import Sli
from generator.build.slo import hours, plain_decimal
from generator.read.resolve import ResolvedModel

PER_MINUTE = Decimal(1000)  # requests per minute of the synthetic traffic
LOW_TRAFFIC = Decimal("0.5")  # requests per minute that must never page
ABOVE, BELOW = Decimal("1.05"), Decimal("0.95")

# ------------------------------------------------------------------ test groups


def _significant(value: Decimal, digits: int = 4) -> Decimal:
    exponent = value.adjusted() - digits + 1
    return plain_decimal(value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN))


def _minutes(duration: str) -> int:
    return int(hours(duration) * 60)


@dataclass(frozen=True)
class Proof:
    """What every case of one test file shares."""

    model: ResolvedModel
    sli: Sli
    environment: str
    full_windows: bool  # evaluate burn-rate cases when the long window is full, not the short one

    @property
    def scope(self) -> Scope:
        return Scope(self.model.name, namespace_of(self.model), self.sli)

    def expected(self, alert: Alert, value: float, extra: Labels) -> dict[str, Any]:
        annotations = alert_annotations(self.model, alert)
        annotations["description"] = render(alert.description, value)
        return {"exp_labels": alert_labels(self.model, alert, self.environment) | extra, "exp_annotations": annotations}


def _group(name: str, series: list[SeriesSpec], at: str, alert: str, exp: list[dict[str, Any]]) -> dict[str, Any]:
    test = {"eval_time": at, "alertname": alert, "exp_alerts": exp}
    return {"name": name, "interval": "1m", "input_series": series, "alert_rule_test": [test]}


def _synthesizable(sli: Sli, burn: Burn) -> bool:
    """False when the SLI behind the alert is an override whose series are unknown."""
    if sli.request_rate_override is not None:  # the traffic guard and the latency cases need it too
        return False
    return burn.objective.kind != "availability" or sli.error_ratio_override is None


# case -> (requests per minute, fires?); the bad ratio of each case is _ratio()
BURN_CASES: dict[str, tuple[Decimal, bool]] = {
    "above": (PER_MINUTE, True),
    "below": (PER_MINUTE, False),
    "no traffic": (Decimal(0), False),
    "low traffic": (LOW_TRAFFIC, False),
}


def _ratio(burn: Burn, case: str) -> Decimal:
    """The synthetic bad ratio of a case: threshold x 1.05 or x 0.95 (4 digits), else all bad."""
    if case == "above":
        return min(_significant(burn.threshold * ABOVE), Decimal(1))
    if case == "below":
        return _significant(burn.threshold * BELOW)
    return Decimal(1)


def _title(case: str, burns: list[tuple[Alert, Burn]], ratios: dict[str, Decimal]) -> str:
    if case == "no traffic":
        return "no traffic (the counters stand still): silent"
    if case == "low traffic":
        return f"{number(LOW_TRAFFIC)} requests/min, all bad: no page"
    above = case == "above"
    shown = ", ".join(
        f"{b.objective.kind} {number(ratios[b.objective.kind])} {'>' if above else '<'} {number(b.threshold)}"
        for _, b in burns
    )
    return f"{'fires' if above else 'silent'} at {ABOVE if above else BELOW}x the threshold: {shown}"


def _burn_series(proof: Proof, ratios: dict[str, Decimal], per_minute: Decimal, clock: Clock) -> list[SeriesSpec]:
    series = request_series(proof.sli, Traffic(per_minute, ratios.get("availability", Decimal(0))), clock)
    if "latency" in ratios:
        series += latency_series(proof.model, proof.sli, Traffic(per_minute, ratios["latency"]), clock)
    return series


def _window_groups(proof: Proof, burns: list[tuple[Alert, Burn]]) -> list[dict[str, Any]]:
    """The cases of the burn-rate alerts of one pair of windows, availability and latency side by side."""
    window = burns[0][1].window
    at = window.long if proof.full_windows else window.short
    clock, labels = Clock(_minutes(at), max(1, _minutes(window.short) // 6)), proof.scope.record_labels
    groups = []
    for case, (per_minute, fires) in BURN_CASES.items():
        if case == "low traffic" and window.severity != "page":
            continue
        ratios = {burn.objective.kind: _ratio(burn, case) for _, burn in burns}
        tests = [
            {
                "eval_time": at,
                "alertname": alert.doc.name,
                "exp_alerts": [proof.expected(alert, float(ratios[burn.objective.kind]), labels)] if fires else [],
            }
            for alert, burn in burns
        ]
        groups.append(
            {
                "name": f"{window.long}/{window.short} windows, {_title(case, burns, ratios)}",
                "interval": clock.interval,
                "input_series": _burn_series(proof, ratios, per_minute, clock),
                "alert_rule_test": tests,
            }
        )
    return groups


def _burn_groups(proof: Proof, alerts: list[Alert]) -> list[dict[str, Any]]:
    burns = [(a, a.burn) for a in alerts if a.burn is not None and _synthesizable(proof.sli, a.burn)]
    longs = sorted({burn.window.long for _, burn in burns}, key=_minutes)
    groups: list[dict[str, Any]] = []
    for long in longs:
        groups += _window_groups(proof, [(a, b) for a, b in burns if b.window.long == long])
    return groups


@dataclass(frozen=True)
class OpCase:
    """Series for one operational alert: what makes it fire (and its $value), what keeps it silent."""

    firing: list[SeriesSpec]
    silent: list[SeriesSpec]
    eval_minutes: int
    value: float
    labels: Labels  # labels the expression keeps from its series


def _pod_labels(model: ResolvedModel, scope: Scope, **extra: str) -> Labels:
    preferred = {"pod": f"{model.name}-5d8f9c7b6-x2x4z"}
    return labels_for(f"x{{{scope.containers(**extra)}}}", preferred)[1]


def _spec(name: str, labels: Labels, values: str) -> SeriesSpec:
    return {"series": series_text(name, labels), "values": values}


def _copies(series: list[SeriesSpec]) -> list[SeriesSpec]:
    """Fresh dicts, so that YAML writers emit no anchors for series two cases share."""
    return [dict(spec) for spec in series]


def _restarts_case(model: ResolvedModel, scope: Scope) -> OpCase:
    rule = model.spec.monitoring.alerts.podRestarts
    window, pod = rule.windowMinutes, _pod_labels(model, scope)
    slope = Decimal(rule.max + 1) / Decimal(window)
    name = "kube_pod_container_status_restarts_total"
    fire = [_spec(name, pod, counter(slope, Clock(window + 5)))]
    return OpCase(fire, [_spec(name, pod, steady(5, window + 5))], window + 5, float(rule.max + 1), {})


def _oom_case(model: ResolvedModel, scope: Scope) -> OpCase:
    pod, oom = _pod_labels(model, scope), _pod_labels(model, scope, reason="OOMKilled")
    minutes = _minutes(OOM_WINDOW)
    reason = _spec("kube_pod_container_status_last_terminated_reason", oom, steady(1, minutes))
    restarted = _spec("kube_pod_container_status_restarts_total", pod, f"0x{minutes // 2} 1x{minutes}")
    old = _spec("kube_pod_container_status_restarts_total", pod, steady(1, minutes))  # an OOM kill long ago
    return OpCase([reason, restarted], [reason, old], minutes, 1.0, {})


def _gauge_case(name: str, labels: Labels, values: tuple[int, int], minutes: int, value: float) -> OpCase:
    fire, silent = values
    return OpCase(
        [_spec(name, labels, steady(fire, minutes))],
        [_spec(name, labels, steady(silent, minutes))],
        minutes,
        value,
        {},
    )


def _at_max_case(model: ResolvedModel, scope: Scope) -> OpCase:
    most = model.spec.scaling.maxReplicas
    labels = labels_for(f"x{{{scope.matchers(horizontalpodautoscaler=hpa_name(model))}}}")[1]
    maximum = _spec("kube_horizontalpodautoscaler_spec_max_replicas", labels, steady(most, 40))
    current = "kube_horizontalpodautoscaler_status_current_replicas"
    fire, silent = (
        [_spec(current, labels, steady(most, 40)), maximum],
        [_spec(current, labels, steady(most - 1, 40)), maximum],
    )
    return OpCase(fire, silent, 40, float(most), labels)


def _memory_case(model: ResolvedModel, scope: Scope) -> OpCase:
    pod, limit = _pod_labels(model, scope), _pod_labels(model, scope, resource="memory")
    limits = _spec("kube_pod_container_resource_limits", limit, steady(1000, 20))
    used = "container_memory_working_set_bytes"
    return OpCase(
        [_spec(used, pod, steady(950, 20)), limits], [_spec(used, pod, steady(500, 20)), limits], 20, 0.95, {}
    )


def _throttled_case(model: ResolvedModel, scope: Scope) -> OpCase:
    pod = _pod_labels(model, scope)
    periods = _spec("container_cpu_cfs_periods_total", pod, counter(Decimal(100), Clock(25)))
    throttled = "container_cpu_cfs_throttled_periods_total"
    fire = [_spec(throttled, pod, counter(Decimal(30), Clock(25))), periods]
    return OpCase(fire, [_spec(throttled, pod, counter(Decimal(0), Clock(25))), periods], 25, 0.3, {})


def _up_labels(model: ResolvedModel, sli: Sli) -> Labels:
    return labels_for(f"up{{{sli.scope}}}")[1] | {"pod": f"{model.name}-5d8f9c7b6-x2x4z"}


def _absent_case(model: ResolvedModel, scope: Scope) -> OpCase:
    up = _up_labels(model, scope.sli)
    pods = _spec("kube_pod_container_info", _pod_labels(model, scope), steady(1, 15))
    return OpCase([_spec("up", up, steady(0, 15)), pods], [_spec("up", up, steady(1, 15)), pods], 15, 1.0, {})


OpFixture = Callable[[ResolvedModel, Scope], OpCase]
OP_CASES: dict[str, OpFixture] = {
    "op-restarts": _restarts_case,
    "op-oom": _oom_case,
    "op-crashloop": lambda m, s: _gauge_case(
        "kube_pod_container_status_waiting_reason", _pod_labels(m, s, reason="CrashLoopBackOff"), (1, 0), 15, 1.0
    ),
    "op-at-max": _at_max_case,
    "op-memory": _memory_case,
    "op-throttled": _throttled_case,
    "op-target-down": lambda m, s: _gauge_case("up", _up_labels(m, s.sli), (0, 1), 15, 1.0),
    "op-absent": _absent_case,
    "op-gpu-idle": lambda m, s: _gauge_case("DCGM_FI_DEV_GPU_UTIL", _pod_labels(m, s, gpu="0"), (2, 50), 70, 2.0),
    "op-gpu-busy": lambda m, s: _gauge_case("DCGM_FI_DEV_GPU_UTIL", _pod_labels(m, s, gpu="0"), (98, 50), 40, 98.0),
}


def _op_cases(proof: Proof, alert: Alert) -> list[dict[str, Any]]:
    fixture = OP_CASES.get(alert.kind)
    if fixture is None:
        return []
    case, name = fixture(proof.model, proof.scope), alert.doc.name
    at = f"{case.eval_minutes}m"
    groups = [
        _group(f"{name} fires", _copies(case.firing), at, name, [proof.expected(alert, case.value, case.labels)]),
        _group(f"{name} is silent", _copies(case.silent), at, name, []),
    ]
    if alert.kind == "op-absent" and proof.model.spec.scaling.minReplicas == 0:
        groups.append(_group(f"{name} is silent when scaled to zero", [], at, name, []))
    return groups


def rules_test(
    model: ResolvedModel, sli: Sli, environment: str, rule_file: str, *, full_windows: bool = False
) -> dict[str, Any]:
    """A ``promtool test rules`` file for the rules of ``prometheus_rule(model, sli, environment)``
    written to ``rule_file`` (a path relative to the test file, or absolute). ``full_windows``
    evaluates each burn-rate case when its long window is full (up to 3 days of 1-minute
    evaluations per case, about a minute of promtool per model) instead of its short one."""
    proof = Proof(model, sli, environment, full_windows)
    alerts = model_alerts(model, sli)
    tests = _burn_groups(proof, alerts)
    for alert in alerts:
        tests += _op_cases(proof, alert)
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


__all__ = ["rules_test"]
