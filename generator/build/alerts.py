"""The PrometheusRule of one model, and the validation of its ``monitoring`` settings.

Groups (plain Prometheus rule groups, so ``{"groups": spec["groups"]}`` is a rule file):

- ``modelfleet.<model>.sli``: SLI recording rules, and
- ``modelfleet.<model>.slo``: multi-window multi-burn-rate alerts (both: ``burnrate``);
- ``modelfleet.<model>.operations``: pod, container, scrape-target and GPU alerts, and
- ``modelfleet.<model>.model-metrics``: the spec's ``monitoring.modelMetrics`` alerts, verbatim
  (both: ``opsalerts``).

Every alert carries ``severity``, ``team``, ``model`` and ``environment`` labels and the
annotations ``summary``, ``description`` (with ``{{ $value }}``) and ``runbook_url``. Validation
(``validate_monitoring``) must pass before ``prometheus_rule`` is called.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from generator import promql
from generator.build.alerting import AlertDoc
from generator.build.alertmodel import Alert, Objective, Scope, namespace_of, number, objectives, window_days
from generator.build.burnrate import burn_alert_name, burn_alerts, recording_rules
from generator.build.identity import common_labels
from generator.build.opsalerts import model_metric_alerts, operational_alerts
from generator.build.sli import Sli, latency_missing, sli_for
from generator.build.slo import BurnWindow, as_percent, burn_windows, error_budget, minimum_objective
from generator.errors import Finding, ModelfleetError
from generator.read.resolve import Resolution, ResolvedModel

# ------------------------------------------------------------------ validation


def monitoring_findings(resolution: Resolution) -> list[Finding]:
    findings: list[Finding] = []
    for env in resolution.environments:
        for model in env.models:
            try:
                findings.extend(validate_monitoring(model, sli_for(model, env.spec.namespace)))
            except ModelfleetError as exc:
                findings.extend(exc.findings)
    return findings


def validate_monitoring(model: ResolvedModel, sli: Sli) -> list[Finding]:
    """Unreachable burn-rate alerts, latency thresholds off the histogram's buckets, a latency
    SLO without a histogram, and modelMetrics alert expressions that are not PromQL."""
    windows = burn_windows(window_days(model))
    found = [_unreachable(model, o, w) for o in objectives(model) for w in windows if _dead(o, w)]
    latency = model.spec.monitoring.slo.latency
    if latency is not None and sli.latency is None:
        found.append(latency_missing(model, ("monitoring", "slo", "latency")))
    elif latency is not None and sli.latency is not None and not sli.latency.is_boundary(latency.thresholdMs):
        found.append(_off_bucket(model, sli, latency.thresholdMs))
    for index, metric in enumerate(model.spec.monitoring.modelMetrics):
        if metric.alert is not None:
            found += _bad_promql(model, index, metric.alert.expr)
    return found


def _dead(target: Objective, window: BurnWindow) -> bool:
    return not window.reachable(target.percent)


def _unreachable(model: ResolvedModel, target: Objective, window: BurnWindow) -> Finding:
    field = ".".join(("monitoring", "slo", *target.path))
    factor, needed = number(window.factor), number(minimum_objective(window.factor) or Decimal(0))
    message = (
        f"{field} {number(target.percent)} makes alert {burn_alert_name(target, window)} unreachable: it fires at "
        f"{factor}x the {as_percent(error_budget(target.percent))}% error budget, a bad-request ratio of "
        f"{number(window.threshold(target.percent))}, and no ratio exceeds 1; "
        f"at factor {factor} the alert can fire only with an objective of {needed} or more"
    )
    hint = f"raise {field} to {needed} or more, or shorten monitoring.slo.windowDays (factors scale with it)"
    document, doc_path = model.locate(("monitoring", "slo", *target.path))
    return document.finding(doc_path, message, hint)


def _off_bucket(model: ResolvedModel, sli: Sli, threshold_ms: int) -> Finding:
    assert sli.latency is not None
    below, above = sli.latency.nearest_ms(threshold_ms)
    near = [f"{number(bound)} ms" for bound in (below, above) if bound is not None]
    message = (
        f"monitoring.slo.latency.thresholdMs {threshold_ms} is not a bucket boundary of "
        f"{sli.latency.series.name} ({model.spec.runtime}); the nearest are {' and '.join(near)}"
    )
    hint = f"pick {' or '.join(near)}, or set monitoring.sli.latencyBucket to a histogram with a bucket there"
    document, doc_path = model.locate(("monitoring", "slo", "latency", "thresholdMs"))
    return document.finding(doc_path, message, hint)


def _bad_promql(model: ResolvedModel, index: int, expr: str) -> list[Finding]:
    # Prometheus evaluates a rule to a vector or a scalar, anything else is an error
    # (prometheus/prometheus rules/manager.go EngineQueryFunc: "rule result is not a vector or scalar").
    error = promql.type_problem(expr, promql.RULE_RESULT)
    if error is not None:
        path = ("monitoring", "modelMetrics", index, "alert", "expr")
        document, doc_path = model.locate(path)
        message = f"monitoring.modelMetrics[{index}].alert.expr {error}"
        return [document.finding(doc_path, message, "check the expression with promtool or in the Prometheus UI")]
    return []


# ------------------------------------------------------------------ the object


def model_alerts(model: ResolvedModel, sli: Sli) -> list[Alert]:
    """Every alert of ``model``, in rule order: burn-rate, operational, model metrics."""
    scope = Scope(model.name, namespace_of(model), sli)
    return [*burn_alerts(model, scope), *operational_alerts(model, scope), *model_metric_alerts(model, scope)]


def alert_docs(model: ResolvedModel) -> list[AlertDoc]:
    """What each alert means, for the runbooks and dashboards (scoped like the rules)."""
    return [alert.doc for alert in model_alerts(model, sli_for(model, namespace_of(model)))]


def runbook_url(model: ResolvedModel, anchor: str) -> str:
    return f"{model.fleet.alerting.runbookBaseURL.rstrip('/')}/{model.name}.md#{anchor}"


def alert_labels(model: ResolvedModel, alert: Alert, environment: str) -> dict[str, str]:
    return {"severity": alert.doc.severity, "team": model.spec.owner, "model": model.name, "environment": environment}


def alert_annotations(model: ResolvedModel, alert: Alert) -> dict[str, str]:
    return {
        "summary": alert.doc.summary,
        "description": alert.description,
        "runbook_url": runbook_url(model, alert.doc.anchor),
    }


def alerting_rule(model: ResolvedModel, alert: Alert, environment: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": alert.doc.name, "expr": alert.expr}
    if alert.for_ is not None:
        rule["for"] = alert.for_
    rule["labels"] = alert_labels(model, alert, environment)
    rule["annotations"] = alert_annotations(model, alert)
    return rule


def rule_groups(
    model: ResolvedModel, sli: Sli, environment: str, alerts: list[Alert] | None = None
) -> list[dict[str, Any]]:
    """The rule groups of ``model``; ``alerts``: its ``model_alerts(model, sli)``, when known."""
    scope = Scope(model.name, namespace_of(model), sli)
    if alerts is None:
        alerts = model_alerts(model, sli)
    groups = [("sli", recording_rules(model, scope))]
    for group, kinds in (("slo", "burn-"), ("operations", "op-"), ("model-metrics", "metric")):
        groups.append((group, [alerting_rule(model, a, environment) for a in alerts if a.kind.startswith(kinds)]))
    return [{"name": f"modelfleet.{model.name}.{name}", "rules": rules} for name, rules in groups if rules]


def prometheus_rule(
    model: ResolvedModel,
    sli: Sli,
    environment: str,
    labels: dict[str, str] | None = None,
    groups: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The monitoring.coreos.com/v1 PrometheusRule of ``model`` in ``environment``; ``sli`` is
    scoped for that environment's namespace (``sli_for(model, namespace)``); ``groups``: its
    ``rule_groups``, when known."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": model.name, "labels": dict(labels if labels is not None else common_labels(model))},
        "spec": {"groups": groups if groups is not None else rule_groups(model, sli, environment)},
    }
