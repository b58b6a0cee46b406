"""The proof that each alert fires: a ``promtool test rules`` file per model, one test group.

Cost. promtool evaluates every rule of the rule file at every ``evaluation_interval`` step from 0
to a group's last ``eval_time``, in a fresh storage per group (prometheus cmd/promtool/unittest.go,
``testGroup.test``, v2.42: the ``for ts := mint; ...; ts = ts.Add(evalInterval)`` loop around
``g.Eval``). The earlier proof had ~70 groups per model at 1-minute steps, up to 6 hours each:
~2,000 evaluations of ~30 rules, 6-15 s per model. This one is one group of 7 steps of 30
minutes (``STEP``), about 60 ms; ``group_eval_order`` puts the SLI recording rules before the
alerts, so an alert reads the SLI of the same step.

Burn-rate alerts, threshold by threshold (from the recorded SLI). Every evaluation up to
``RAW_START`` feeds the SLI recording series (``modelfleet:sli_<what>:rate<window>``) directly, a
value per window, and checks EVERY burn-rate alert against its expression (fires when both its
windows exceed its threshold, and, for a page, at least one request a minute; ``$value`` is the
long window's): at 1.05x each alert's threshold (fires, exact labels and annotations), then with
one window at 1.05x and the other at 0.95x either way (silent: each window's threshold on its
own, so silent at 0.95x a fortiori). A window that is one pair's long window and another's short
one (6h) takes either role in turn. Past the first instant only the silent checks are written
(a firing one repeats the first instant's). A value per window also shows an alert that reads
the wrong window. The SLI recording rules
produce nothing then (their request series do not exist yet), so nothing else writes those series.

Burn-rate alerts end to end (from synthetic request counters, ``_raw``): the counters stand still
(silent: the SLI is empty without traffic, never 0/0), then half a request a minute at a bad
ratio 1.05x the highest threshold until the longest page short window is full (no page), then
``PER_MINUTE`` requests at the same ratio (every alert fires, both windows of every pair over
its threshold). The counters start at 0 at ``RAW_START`` with a sample every minute, so a window
ending on a step holds a sample at its end and needs no extrapolation to its start (Prometheus
extrapolates a counter no further back than where it would be 0): every window, full or not,
shows exactly the increase ratio, which is the same in every phase.

Why 30-minute steps (``STEP``) lose nothing: a recorded value is read at the step it is written
for (one step per instant); the end-to-end ratio is the same in every window at every step, so
any step after the counters move checks both windows of a pair; the only rate that must cover a
full window is the low-traffic guard's, and that phase lasts its longest window (rounded up to a
step) before the check; and each ``for`` of the operational alerts is checked pending one step
before the first step at which it has held, firing at that step (``optests``).
Input series carry exactly the labels the queries select (``labelsets``); descriptions render
``{{ $value }}`` as Prometheus does (``promformat``); the synthetic ratios have at most four
significant digits, so that rendering is exact.

Not exercised: the model's own metric alerts (their series are the model's), and the end-to-end
part for an SLI with a ``monitoring.sli`` requestRate/errorRatio override (its series are unknown;
the threshold part still holds). With constant ratios the length of a recording rule's range is
not checked (it never was).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from generator.build.alertmodel import RECORD_PREFIX, Alert, Burn, Scope, namespace_of
from generator.build.alerts import alert_annotations, alert_labels, model_alerts, rule_groups
from generator.build.labelsets import Labels
from generator.build.optests import STEP, Ops, operational_proofs, ops_length
from generator.build.promformat import render
from generator.build.series import TAIL, Growth, Traffic, latency_growth, request_growth, series_text
from generator.build.sli import Sli
from generator.build.slo import hours, plain_decimal
from generator.build.timeline import STALE, Check, Sample, Timeline
from generator.read.resolve import ResolvedModel

PER_MINUTE = Decimal(1200)  # requests per minute of the synthetic traffic (20 a second)
LOW_TRAFFIC = Decimal("0.5")  # requests per minute that must never page
ABOVE, BELOW = Decimal("1.05"), Decimal("0.95")
GUARD = f"{RECORD_PREFIX}requests"

# (long window x, short window x, a window both long and short takes its long role's value?, requests/min)
INSTANTS: tuple[tuple[Decimal, Decimal, bool, Decimal], ...] = (
    (ABOVE, ABOVE, True, PER_MINUTE),
    (ABOVE, BELOW, True, PER_MINUTE),
    (ABOVE, BELOW, False, PER_MINUTE),
    (BELOW, ABOVE, True, PER_MINUTE),
)
RAW_START = (len(INSTANTS) - 1) * STEP + 1  # the recorded inputs go stale, the counters start


def _significant(value: Decimal, digits: int = 4) -> Decimal:
    exponent = value.adjusted() - digits + 1
    return plain_decimal(value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN))


def _minutes(duration: str) -> int:
    return int(hours(duration) * 60)


def _up(minute: int) -> int:
    return -(-minute // STEP) * STEP


def _level(threshold: Decimal, factor: Decimal) -> Decimal:
    return min(_significant(threshold * factor), Decimal(1))


@dataclass(frozen=True)
class Proof:
    """What every check of one test file shares."""

    model: ResolvedModel
    sli: Sli
    environment: str

    @property
    def scope(self) -> Scope:
        return Scope(self.model.name, namespace_of(self.model), self.sli)

    def expected(self, alert: Alert, value: float, extra: Labels) -> list[dict[str, Any]]:
        annotations = alert_annotations(self.model, alert)
        annotations["description"] = render(alert.description, value)
        labels = alert_labels(self.model, alert, self.environment) | extra
        return [{"exp_labels": labels, "exp_annotations": annotations}]


def _synthesizable(sli: Sli, burn: Burn) -> bool:
    """False when the SLI behind the alert is an override whose series are unknown."""
    if sli.request_rate_override is not None:  # the traffic guard and the latency cases need it too
        return False
    return burn.objective.kind != "availability" or sli.error_ratio_override is None


# ------------------------------------------------------------------ thresholds, from the recorded SLI


def _window_values(burns: list[Burn], long: Decimal, short: Decimal, long_first: bool) -> dict[str, Decimal]:
    """A value per window of one objective: each burn's long window at ``long`` x its threshold,
    its short one at ``short`` x; a window that is one burn's long and another's short keeps the
    role ``long_first`` says."""
    roles = [(b.window.long, long, b.threshold, True) for b in burns]
    roles += [(b.window.short, short, b.threshold, False) for b in burns]
    values: dict[str, Decimal] = {}
    for window, factor, threshold, _ in sorted(roles, key=lambda r: r[3] != long_first):
        values.setdefault(window, _level(threshold, factor))
    return values


def _fires(burn: Burn, values: dict[str, Decimal], per_minute: Decimal) -> bool:
    window = burn.window
    over = values[window.long] > burn.threshold and values[window.short] > burn.threshold
    return over and (window.severity != "page" or per_minute >= 1)


def _thresholds(proof: Proof, burns: list[tuple[Alert, Burn]], timeline: Timeline) -> None:
    labels = proof.scope.record_labels
    inputs: dict[str, list[Sample]] = {}
    for index, (long, short, long_first, per_minute) in enumerate(INSTANTS):
        minute = index * STEP
        for kind in sorted({b.objective.kind for _, b in burns}):
            same = [b for _, b in burns if b.objective.kind == kind]
            for window, value in _window_values(same, long, short, long_first).items():
                series = series_text(f"{same[0].objective.record}:rate{window}", labels)
                inputs.setdefault(series, [None] * timeline.length)[minute] = value
        for window in {b.window.short for _, b in burns if b.window.severity == "page"}:
            series = series_text(f"{GUARD}:rate{window}", labels)
            inputs.setdefault(series, [None] * timeline.length)[minute] = per_minute / 60
        for alert, burn in burns:
            same = [b for _, b in burns if b.objective.kind == burn.objective.kind]
            values = _window_values(same, long, short, long_first)
            fires = _fires(burn, values, per_minute)
            if fires and index > 0:  # every alert fires at the first instant: later ones check silence
                continue
            expected = proof.expected(alert, float(values[burn.window.long]), labels) if fires else []
            timeline.checks.append(Check(minute, alert.doc.name, expected))
    for series, samples in inputs.items():
        samples[RAW_START] = STALE
        timeline.put(series, samples)


# ------------------------------------------------------------------ end to end, from request counters


@dataclass(frozen=True)
class Phases:
    """Minutes of the end-to-end part: counters flat from RAW_START to ``still``, half a request a
    minute to ``low``, then PER_MINUTE to ``high``."""

    still: int
    low: int
    high: int


def _phases(burns: list[Burn]) -> Phases:
    still = _up(RAW_START)
    guards = [_minutes(b.window.short) for b in burns if b.window.severity == "page"]
    low = still + _up(max(guards, default=STEP))
    return Phases(still, low, low + STEP)


def _counter(per_minute: Decimal, phases: Phases, length: int) -> list[Sample]:
    """Growth per minute at 1 request/minute -> samples over the three phases."""
    samples: list[Sample] = []
    for minute in range(length):
        if minute < RAW_START:
            samples.append(None)
            continue
        low = min(max(minute - phases.still, 0), phases.low - phases.still)
        high = max(minute - phases.low, 0)
        samples.append(per_minute * (LOW_TRAFFIC * low + PER_MINUTE * high))
    return samples


def _raw(proof: Proof, burns: list[tuple[Alert, Burn]], timeline: Timeline) -> None:
    ratios = {
        kind: _level(max(b.threshold for _, b in burns if b.objective.kind == kind), ABOVE)
        for kind in {b.objective.kind for _, b in burns}
    }
    phases = _phases([b for _, b in burns])
    growth: Growth = request_growth(proof.sli, Traffic(Decimal(1), ratios.get("availability", Decimal(0))))
    if "latency" in ratios:
        latency = latency_growth(proof.model, proof.sli, Traffic(Decimal(1), ratios["latency"]))
        # A histogram's count may be a request counter too (TF Serving counts successes in
        # request_latency_count): it then grows as the requests do, and the buckets with it.
        count = dict(growth).get(latency[-1][0])
        if count is not None:
            latency = latency_growth(proof.model, proof.sli, Traffic(count, ratios["latency"]))
        growth += [entry for entry in latency if entry[0] not in dict(growth)]
    for series, per_minute in growth:
        timeline.put(series, _counter(per_minute, phases, timeline.length))
    labels = proof.scope.record_labels
    for alert, burn in burns:
        value = float(ratios[burn.objective.kind])
        name, page = alert.doc.name, burn.window.severity == "page"
        timeline.checks.append(Check(phases.still, name, []))
        if page:  # the tickets fire at low traffic too; they are checked firing at full traffic
            timeline.checks.append(Check(phases.low, name, []))
        timeline.checks.append(Check(phases.high, name, proof.expected(alert, value, labels)))


# ------------------------------------------------------------------ the file


def rules_test(
    model: ResolvedModel,
    sli: Sli,
    environment: str,
    rule_file: str,
    known: tuple[list[Alert], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """A ``promtool test rules`` file for the rules of ``prometheus_rule(model, sli, environment)``
    written to ``rule_file`` (a path relative to the test file, or absolute). ``known``: the
    model's ``model_alerts`` and ``rule_groups``, when already computed."""
    proof = Proof(model, sli, environment)
    alerts, groups = known if known is not None else (model_alerts(model, sli), rule_groups(model, sli, environment))
    burns = [(a, a.burn) for a in alerts if a.burn is not None]
    raw = [(a, b) for a, b in burns if _synthesizable(sli, b)]
    ends = [ops_length(alerts, model)]
    if burns:
        ends.append((len(INSTANTS) - 1) * STEP)
    if raw:
        ends.append(_phases([b for _, b in raw]).high)
    timeline = Timeline(max(ends) + TAIL + 1)
    if burns:
        _thresholds(proof, burns, timeline)
    if raw:
        _raw(proof, raw, timeline)
    operational_proofs(Ops(model, proof.scope, timeline, proof.expected), alerts)
    return {
        "rule_files": [rule_file],
        "evaluation_interval": f"{STEP}m",
        "group_eval_order": [group["name"] for group in groups],
        "tests": [timeline.group(f"{model.name} in {environment}: burn-rate and operational alerts")],
    }


__all__ = ["rules_test"]
