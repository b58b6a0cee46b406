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

Input series carry exactly the labels the queries select: every matcher of a selector is
satisfied (an example string for a regular expression, checked with ``re.fullmatch``), and
the good-request series breaks the error selector's own matchers (status 200 against 5..).
The expected descriptions render ``{{ $value }}`` as Prometheus does (``humanize``,
``humanizePercentage``, Go's ``%.4g``); the synthetic ratios have at most four significant
digits, so that rendering is exact.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import promql_parser

from ..resolve import ResolvedModel
from ..sli import Series, Sli
from ..slo import hours, plain_decimal
from .alertmodel import PERCENT, RAW_VALUE, VALUE, Alert, Burn, Scope, namespace_of
from .alerts import alert_annotations, alert_labels, model_alerts
from .opsalerts import OOM_WINDOW, hpa_name

PER_MINUTE = Decimal(1000)  # requests per minute of the synthetic traffic
LOW_TRAFFIC = Decimal("0.5")  # requests per minute that must never page
ABOVE, BELOW = Decimal("1.05"), Decimal("0.95")
TAIL = 10  # samples past the evaluation time
EQUAL, NOT_EQUAL, MATCH = (
    str(op) for op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.NotEqual, promql_parser.MatchOp.Re)
)

Labels = dict[str, str]
SeriesSpec = dict[str, str]

# ------------------------------------------------------------------ how Prometheus prints $value


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


# ------------------------------------------------------------------ label sets the selectors select


def regex_example(pattern: str) -> str:
    """A short string that the RE2 ``pattern`` matches in full (PromQL anchors regexes)."""
    example = _sequence(_alternatives(pattern)[0])
    if re.fullmatch(pattern, example) is None:
        raise ValueError(f"found no example for the regular expression {pattern!r}")
    return example


def _alternatives(pattern: str) -> list[str]:
    parts, depth, start, index = [], 0, 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 1
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    return [*parts, pattern[start:]]


def _closing(pattern: str, index: int) -> int:
    """The index of the bracket that closes the one at ``index``."""
    depth, opener = 0, pattern[index]
    closer = ")" if opener == "(" else "]"
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 1
        elif pattern[index] == opener:
            depth += 1
        elif pattern[index] == closer:
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ValueError(f"unbalanced {opener} in {pattern!r}")


def _atom(pattern: str, index: int) -> tuple[str, int]:
    char = pattern[index]
    if char == "\\":
        return pattern[index + 1], index + 2
    if char in "([":
        end = _closing(pattern, index)
        inner = pattern[index + 1 : end]
        if char == "(":
            return _sequence(_alternatives(inner.removeprefix("?:"))[0]), end + 1
        return ("x" if inner.startswith("^") else inner.lstrip("\\")[0]), end + 1
    return ("0" if char == "." else char), index + 1


def _sequence(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        atom, index = _atom(pattern, index)
        quantifier = pattern[index] if index < len(pattern) else ""
        if quantifier in ("?", "*", "+"):
            index += 1
        out.append("" if quantifier in ("?", "*") else atom)
    return "".join(out)


def _matchers(selector: str) -> tuple[str, list[promql_parser.Matcher]]:
    parsed = promql_parser.parse(selector)
    assert isinstance(parsed, promql_parser.VectorSelector) and parsed.name is not None
    return parsed.name, list(parsed.matchers.matchers)


def _holds(matcher: promql_parser.Matcher, value: str) -> bool:
    op = str(matcher.op)
    if op in (EQUAL, NOT_EQUAL):
        return (value == matcher.value) == (op == EQUAL)
    found = re.fullmatch(matcher.value, value) is not None
    return found == (op == MATCH)


def _satisfy(matcher: promql_parser.Matcher, preferred: str | None) -> str:
    candidates = [preferred] if preferred is not None else []
    if str(matcher.op) == EQUAL:
        candidates.append(matcher.value)
    elif str(matcher.op) == MATCH:
        candidates.append(regex_example(matcher.value))
    candidates += ["other", "x"]
    return next(value for value in candidates if _holds(matcher, value))


def _violate(matcher: promql_parser.Matcher) -> str:
    return next(value for value in ("200", "OK", "other", "") if not _holds(matcher, value))


def labels_for(selector: str, preferred: Labels | None = None) -> tuple[str, Labels]:
    """The metric name and a label set that ``selector`` selects."""
    name, matchers = _matchers(selector)
    prefer = preferred or {}
    return name, {m.name: _satisfy(m, prefer.get(m.name)) for m in matchers}


def selects(selector: str, labels: Labels) -> bool:
    _, matchers = _matchers(selector)
    return all(_holds(m, labels.get(m.name, "")) for m in matchers)


def series_text(name: str, labels: Labels) -> str:
    return name + "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


# ------------------------------------------------------------------ synthetic values


def _number(value: Decimal) -> str:
    return format(plain_decimal(value), "f")


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


def _counter(per_minute: Decimal, clock: Clock) -> str:
    return f"0+{_number(per_minute * clock.step)}x{clock.samples}"


def _steady(value: Decimal | int, minutes: int) -> str:
    return f"{_number(Decimal(value))}x{minutes + TAIL}"


def _significant(value: Decimal, digits: int = 4) -> Decimal:
    exponent = value.adjusted() - digits + 1
    return plain_decimal(value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN))


def _minutes(duration: str) -> int:
    return int(hours(duration) * 60)


@dataclass(frozen=True)
class Traffic:
    """Requests per minute and the share of them that is bad, from time 0."""

    per_minute: Decimal
    bad: Decimal

    def bad_per_minute(self) -> Decimal:
        return self.per_minute * self.bad


def _selector(series: Series, scope: str, suffix: str = "", extra: str = "") -> str:
    return series.select(scope, suffix, extra)


def request_series(sli: Sli, traffic: Traffic, clock: Clock) -> list[SeriesSpec]:
    """Counters whose error ratio is ``traffic.bad``: the error series and the good requests."""
    error_selector = _selector(sli.errors, sli.scope)
    error_name, error_labels = labels_for(error_selector)
    out = [{"series": series_text(error_name, error_labels), "values": _counter(traffic.bad_per_minute(), clock)}]
    counting = [r for r in sli.requests if r.name == error_name and selects(_selector(r, sli.scope), error_labels)]
    if not counting:  # the errors are a separate counter (TorchServe): the request counter counts them all
        name, labels = labels_for(_selector(sli.requests[0], sli.scope))
        return [*out, {"series": series_text(name, labels), "values": _counter(traffic.per_minute, clock)}]
    others = [r for r in sli.requests if r not in counting]
    good = others[0] if others else counting[0]
    name, labels = labels_for(_selector(good, sli.scope))
    if name == error_name:
        labels = _good_labels(_selector(good, sli.scope), error_selector, labels)
    good_per_minute = traffic.per_minute - traffic.bad_per_minute()
    return [*out, {"series": series_text(name, labels), "values": _counter(good_per_minute, clock)}]


def _good_labels(request_selector: str, error_selector: str, labels: Labels) -> Labels:
    """``labels`` changed so that the request selector still selects them and the error selector
    does not (e.g. status="200" against status=~"5..")."""
    _, matchers = _matchers(error_selector)
    unset = [m for m in matchers if m.name not in labels]
    for matcher in [*unset, *matchers]:
        candidate = labels | {matcher.name: _violate(matcher)}
        if selects(request_selector, candidate) and not selects(error_selector, candidate):
            return candidate
    if not selects(error_selector, labels):
        return labels
    raise ValueError(f"cannot build a good request that {error_selector} does not select")


def latency_series(model: ResolvedModel, sli: Sli, traffic: Traffic, clock: Clock) -> list[SeriesSpec]:
    """A histogram whose share of requests over the SLO threshold is ``traffic.bad``."""
    latency, histogram = model.spec.monitoring.slo.latency, sli.latency
    assert latency is not None and histogram is not None
    le = histogram.le_matcher(latency.thresholdMs)
    bucket, bucket_labels = labels_for(_selector(histogram.series, sli.scope, "_bucket", le))
    count, count_labels = labels_for(_selector(histogram.series, sli.scope, "_count"))
    good = traffic.per_minute - traffic.bad_per_minute()
    return [
        {"series": series_text(bucket, bucket_labels), "values": _counter(good, clock)},
        {"series": series_text(count, count_labels), "values": _counter(traffic.per_minute, clock)},
    ]


# ------------------------------------------------------------------ test groups


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
        return f"{_number(LOW_TRAFFIC)} requests/min, all bad: no page"
    above = case == "above"
    shown = ", ".join(
        f"{b.objective.kind} {_number(ratios[b.objective.kind])} {'>' if above else '<'} {_number(b.threshold)}"
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
    fire = [_spec(name, pod, _counter(slope, Clock(window + 5)))]
    return OpCase(fire, [_spec(name, pod, _steady(5, window + 5))], window + 5, float(rule.max + 1), {})


def _oom_case(model: ResolvedModel, scope: Scope) -> OpCase:
    pod, oom = _pod_labels(model, scope), _pod_labels(model, scope, reason="OOMKilled")
    minutes = _minutes(OOM_WINDOW)
    reason = _spec("kube_pod_container_status_last_terminated_reason", oom, _steady(1, minutes))
    restarted = _spec("kube_pod_container_status_restarts_total", pod, f"0x{minutes // 2} 1x{minutes}")
    old = _spec("kube_pod_container_status_restarts_total", pod, _steady(1, minutes))  # an OOM kill long ago
    return OpCase([reason, restarted], [reason, old], minutes, 1.0, {})


def _gauge_case(name: str, labels: Labels, values: tuple[int, int], minutes: int, value: float) -> OpCase:
    fire, silent = values
    return OpCase(
        [_spec(name, labels, _steady(fire, minutes))],
        [_spec(name, labels, _steady(silent, minutes))],
        minutes,
        value,
        {},
    )


def _at_max_case(model: ResolvedModel, scope: Scope) -> OpCase:
    most = model.spec.scaling.maxReplicas
    labels = labels_for(f"x{{{scope.matchers(horizontalpodautoscaler=hpa_name(model))}}}")[1]
    maximum = _spec("kube_horizontalpodautoscaler_spec_max_replicas", labels, _steady(most, 40))
    current = "kube_horizontalpodautoscaler_status_current_replicas"
    fire, silent = (
        [_spec(current, labels, _steady(most, 40)), maximum],
        [_spec(current, labels, _steady(most - 1, 40)), maximum],
    )
    return OpCase(fire, silent, 40, float(most), labels)


def _memory_case(model: ResolvedModel, scope: Scope) -> OpCase:
    pod, limit = _pod_labels(model, scope), _pod_labels(model, scope, resource="memory")
    limits = _spec("kube_pod_container_resource_limits", limit, _steady(1000, 20))
    used = "container_memory_working_set_bytes"
    return OpCase(
        [_spec(used, pod, _steady(950, 20)), limits], [_spec(used, pod, _steady(500, 20)), limits], 20, 0.95, {}
    )


def _throttled_case(model: ResolvedModel, scope: Scope) -> OpCase:
    pod = _pod_labels(model, scope)
    periods = _spec("container_cpu_cfs_periods_total", pod, _counter(Decimal(100), Clock(25)))
    throttled = "container_cpu_cfs_throttled_periods_total"
    fire = [_spec(throttled, pod, _counter(Decimal(30), Clock(25))), periods]
    return OpCase(fire, [_spec(throttled, pod, _counter(Decimal(0), Clock(25))), periods], 25, 0.3, {})


def _up_labels(model: ResolvedModel, sli: Sli) -> Labels:
    return labels_for(f"up{{{sli.scope}}}")[1] | {"pod": f"{model.name}-5d8f9c7b6-x2x4z"}


def _absent_case(model: ResolvedModel, scope: Scope) -> OpCase:
    up = _up_labels(model, scope.sli)
    pods = _spec("kube_pod_container_info", _pod_labels(model, scope), _steady(1, 15))
    return OpCase([_spec("up", up, _steady(0, 15)), pods], [_spec("up", up, _steady(1, 15)), pods], 15, 1.0, {})


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


__all__ = ["go_float", "humanize", "humanize_percentage", "regex_example", "render", "rules_test"]
