"""The SLI recording rules and the burn-rate alerts of one model, in two rule groups:

- ``modelfleet.<model>.sli``: recording rules ``modelfleet:sli_<what>:rate<window>`` over every
  window the alerts read, labelled ``model`` and ``namespace`` so several models never collide.
  ``sli_error_ratio`` and ``sli_latency_bad_ratio`` (1 - the share of requests within
  ``slo.latency.thresholdMs``) are the SLI of ``generator.build.sli``, so they are EMPTY WITHOUT
  TRAFFIC, never 0/0; ``sli_requests`` is the request rate, for the traffic guard.
- ``modelfleet.<model>.slo``: multi-window multi-burn-rate alerts ``Model<Availability|Latency>
  BurnRate<long window>`` (windows and factors: ``generator.build.slo``). Both windows must exceed
  factor x (1 - objective). Without traffic the ratios are empty and nothing fires. Page alerts
  also need at least ``MIN_REQUESTS_PER_MINUTE`` request per minute over their short window:
  a handful of requests, one of which failed, is not worth waking someone; the ticket alerts
  still see it.
"""

from __future__ import annotations

from typing import Any

from generator.build.alerting import AlertDoc, anchor_for
from generator.build.alertmodel import (
    PERCENT,
    RECORD_PREFIX,
    Alert,
    Burn,
    Objective,
    Scope,
    number,
    objectives,
    window_days,
)
from generator.build.sli import Sli
from generator.build.slo import BurnWindow, as_percent, burn_windows, error_budget, hours
from generator.read.resolve import ResolvedModel

MIN_REQUESTS_PER_MINUTE = 1

# ------------------------------------------------------------------ recording rules


def bad_ratio(target: Objective, model: ResolvedModel, sli: Sli, window: str) -> str:
    """The SLI's bad-event ratio over ``window``: empty without traffic."""
    if target.kind == "availability":
        return sli.error_ratio(window)
    latency = model.spec.monitoring.slo.latency
    assert latency is not None
    return f"(1 - {sli.latency_good_ratio(latency.thresholdMs, window)})"


def recording_rules(model: ResolvedModel, scope: Scope) -> list[dict[str, Any]]:
    windows = burn_windows(window_days(model))
    needed = sorted({w for b in windows for w in (b.long, b.short)}, key=hours)
    rules = [
        {
            "record": f"{target.record}:rate{w}",
            "expr": bad_ratio(target, model, scope.sli, w),
            "labels": scope.record_labels,
        }
        for target in objectives(model)
        for w in needed
    ]
    guards = sorted({b.short for b in windows if b.severity == "page"}, key=hours)
    rules += [
        {"record": f"{RECORD_PREFIX}requests:rate{w}", "expr": scope.sli.request_rate(w), "labels": scope.record_labels}
        for w in guards
    ]
    return rules


# ------------------------------------------------------------------ burn-rate alerts


def burn_alert_name(target: Objective, window: BurnWindow) -> str:
    return f"Model{target.kind.capitalize()}BurnRate{window.long}"


def burn_expression(scope: Scope, burn: Burn) -> str:
    threshold = number(burn.threshold)
    window, record = burn.window, burn.objective.record
    long, short = scope.recorded(record, window.long), scope.recorded(record, window.short)
    both = f"{long} > {threshold} and {short} > {threshold}"
    if window.severity != "page":
        return both
    traffic = f"{scope.recorded(RECORD_PREFIX + 'requests', window.short)} * 60 >= {MIN_REQUESTS_PER_MINUTE}"
    return f"({both}) and on(model, namespace) ({traffic})"


def _bad_words(model: ResolvedModel, target: Objective) -> str:
    latency = model.spec.monitoring.slo.latency
    if target.kind == "latency" and latency is not None:
        return f"took longer than {latency.thresholdMs} ms"
    return "failed with a server error"


def burn_alert(model: ResolvedModel, scope: Scope, target: Objective, window: BurnWindow) -> Alert:
    burn = Burn(target, window, window.threshold(target.percent))
    name, factor = burn_alert_name(target, window), number(window.factor)
    budget, share = as_percent(error_budget(target.percent)), as_percent(window.budget_share)
    objective_text = f"the {number(target.percent)}% {target.kind} objective over {window_days(model)} days"
    meaning = (
        f"More than {as_percent(burn.threshold)}% of {model.name}'s requests {_bad_words(model, target)} over the last "
        f"{window.long} and the last {window.short}: {factor}x the {budget}% error budget of {objective_text}. "
        f"At this rate {share}% of the whole budget is spent every {window.long}."
    )
    if window.severity == "page":
        meaning += f" It pages only with at least {MIN_REQUESTS_PER_MINUTE} request per minute over {window.short}."
    doc = AlertDoc(
        name=name,
        severity=window.severity,
        summary=f"{model.name} burns its {target.kind} error budget at {factor}x ({window.long} and {window.short})",
        meaning=meaning,
        queries=_burn_queries(model, scope.sli, target, window),
        anchor=anchor_for(name),
    )
    description = (
        f"{PERCENT} of {model.name}'s requests {_bad_words(model, target)} over the last {window.long} "
        f"(alerting above {as_percent(burn.threshold)}%, {factor}x the {budget}% error budget of {objective_text})."
    )
    return Alert(doc, burn_expression(scope, burn), description, f"burn-{target.kind}", burn=burn)


def _burn_queries(model: ResolvedModel, sli: Sli, target: Objective, window: BurnWindow) -> tuple[str, ...]:
    ratio = bad_ratio(target, model, sli, window.short)
    if target.kind == "latency":
        return (ratio, sli.latency_quantile(0.95, window.short), sli.request_rate(window.short))
    if sli.error_ratio_override is not None:
        return (ratio, sli.request_rate(window.short), sli.error_ratio(window.long))
    per_pod = f"sum by (pod) (rate({sli.errors.select(sli.scope)}[{window.short}]))"
    return (ratio, sli.request_rate(window.short), per_pod)


def burn_alerts(model: ResolvedModel, scope: Scope) -> list[Alert]:
    """A burn-rate alert per objective and pair of windows, objective by objective, fastest first."""
    return [burn_alert(model, scope, t, w) for t in objectives(model) for w in burn_windows(window_days(model))]
