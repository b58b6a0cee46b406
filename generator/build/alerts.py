"""The PrometheusRule of one model, and the validation of its ``monitoring`` settings.

Groups (plain Prometheus rule groups, so ``{"groups": spec["groups"]}`` is a rule file):

- ``modelfleet.<model>.sli``: recording rules ``modelfleet:sli_<what>:rate<window>`` over every
  window the alerts read, labelled ``model`` and ``namespace`` so several models never collide.
  ``sli_error_ratio`` and ``sli_latency_bad_ratio`` (1 - the share of requests within
  ``slo.latency.thresholdMs``) are the SLI of ``generator.sli``, so they are EMPTY WITHOUT
  TRAFFIC, never 0/0; ``sli_requests`` is the request rate, for the traffic guard.
- ``modelfleet.<model>.slo``: multi-window multi-burn-rate alerts ``Model<Availability|Latency>
  BurnRate<long window>`` (windows and factors: ``generator.slo``). Both windows must exceed
  factor x (1 - objective). Without traffic the ratios are empty and nothing fires. Page alerts
  also need at least ``MIN_REQUESTS_PER_MINUTE`` request per minute over their short window:
  a handful of requests, one of which failed, is not worth waking someone; the ticket alerts
  still see it.
- ``modelfleet.<model>.operations``: pod restarts, OOM kills, CrashLoopBackOff, replicas pinned
  at maxReplicas, memory near its limit, CPU throttling (only with a CPU limit), scrape targets
  down, no healthy target at all, and GPU idle or saturated (GPU models). Pods are selected by
  ``namespace``, ``pod=~"<model>-<hash>-<suffix>"`` and ``container="model"``: the labels that
  kube-state-metrics, cAdvisor and dcgm-exporter put on their series, kept only when they are
  scraped with ``honorLabels: true`` (kube-prometheus does so for the first two; dcgm-exporter's
  chart needs ``serviceMonitor.honorLabels: true``, NVIDIA/dcgm-exporter#76, or its series carry
  ``exported_namespace``). Scrape targets are read from ``up`` with the SLI's scope.
  ``ModelMetricsAbsent`` (no healthy scrape target for 10m) is the one operational page: without
  metrics every SLO alert is blind. It is not about traffic (``up`` exists without requests), and
  a model that may scale to zero (minReplicas 0) is exempt while it has no pods.
- ``modelfleet.<model>.model-metrics``: the spec's ``monitoring.modelMetrics`` alerts, verbatim.

Every alert carries ``severity``, ``team``, ``model`` and ``environment`` labels and the
annotations ``summary``, ``description`` (with ``{{ $value }}``) and ``runbook_url``. Validation
(``validate_monitoring``) must pass before ``prometheus_rule`` is called.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import promql
from ..alerting import AlertDoc, anchor_for
from ..errors import Finding
from ..resolve import ResolvedModel
from ..sli import Sli, latency_missing, sli_for
from ..slo import BurnWindow, as_percent, burn_windows, error_budget, hours, minimum_objective, plain_decimal
from .identity import common_labels
from .workload import CONTAINER

RECORD_PREFIX = "modelfleet:sli_"
MIN_REQUESTS_PER_MINUTE = 1
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


def objectives(model: ResolvedModel) -> list[Objective]:
    slo = model.spec.monitoring.slo
    found = [Objective("availability", _percent(slo.availability), f"{RECORD_PREFIX}error_ratio", ("availability",))]
    if slo.latency is not None:
        path = ("latency", "percent")
        found.append(Objective("latency", _percent(slo.latency.percent), f"{RECORD_PREFIX}latency_bad_ratio", path))
    return found


def _percent(value: float) -> Decimal:
    return plain_decimal(Decimal(repr(value)))


# ------------------------------------------------------------------ validation


def validate_monitoring(model: ResolvedModel, sli: Sli) -> list[Finding]:
    """Unreachable burn-rate alerts, latency thresholds off the histogram's buckets, a latency
    SLO without a histogram, and modelMetrics alert expressions that are not PromQL."""
    found = [_unreachable(model, o, w) for o in objectives(model) for w in burn_windows(_days(model)) if _dead(o, w)]
    latency = model.spec.monitoring.slo.latency
    if latency is not None and sli.latency is None:
        found.append(latency_missing(model, ("monitoring", "slo", "latency")))
    elif latency is not None and sli.latency is not None and not sli.latency.is_boundary(latency.thresholdMs):
        found.append(_off_bucket(model, sli, latency.thresholdMs))
    for index, metric in enumerate(model.spec.monitoring.modelMetrics):
        if metric.alert is not None:
            found += _bad_promql(model, index, metric.alert.expr)
    return found


def _days(model: ResolvedModel) -> int:
    return model.spec.monitoring.slo.windowDays


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
    try:
        promql.parse(expr)
    except ValueError as error:
        path = ("monitoring", "modelMetrics", index, "alert", "expr")
        document, doc_path = model.locate(path)
        message = f"monitoring.modelMetrics[{index}].alert.expr is not valid PromQL: {error}"
        return [document.finding(doc_path, message, "check the expression with promtool or in the Prometheus UI")]
    return []


# ------------------------------------------------------------------ recording rules


def bad_ratio(target: Objective, model: ResolvedModel, sli: Sli, window: str) -> str:
    """The SLI's bad-event ratio over ``window``: empty without traffic."""
    if target.kind == "availability":
        return sli.error_ratio(window)
    latency = model.spec.monitoring.slo.latency
    assert latency is not None
    return f"(1 - {sli.latency_good_ratio(latency.thresholdMs, window)})"


def recording_rules(model: ResolvedModel, scope: Scope) -> list[dict[str, Any]]:
    windows = burn_windows(_days(model))
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
    objective_text = f"the {number(target.percent)}% {target.kind} objective over {_days(model)} days"
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


# ------------------------------------------------------------------ operational alerts

OOM_WINDOW = "15m"
STUCK_FOR = "10m"


def _doc(model: ResolvedModel, name: str, severity: str, text: tuple[str, str], queries: tuple[str, ...]) -> AlertDoc:
    summary, meaning = text
    return AlertDoc(name, severity, f"{model.name}: {summary}", meaning, queries, anchor_for(name))


def operational_alerts(model: ResolvedModel, scope: Scope) -> list[Alert]:
    spec = model.spec
    alerts = [_restarts(model, scope), _oom_killed(model, scope), _crash_looping(model, scope)]
    if spec.scaling.minReplicas < spec.scaling.maxReplicas:
        alerts.append(_at_max_replicas(model, scope))
    alerts.append(_memory_near_limit(model, scope))
    if spec.resources.limits.cpu is not None:  # without a CPU limit there is no CFS quota to throttle
        alerts.append(_cpu_throttled(model, scope))
    alerts += [_targets_down(model, scope), _metrics_absent(model, scope)]
    if spec.resources.gpu > 0:
        alerts += _gpu(model, scope)
    return alerts


def _ksm(scope: Scope, metric: str, **labels: str) -> str:
    return f"{metric}{{{scope.containers(**labels)}}}"


def _restarts(model: ResolvedModel, scope: Scope) -> Alert:
    rule = model.spec.monitoring.alerts.podRestarts
    window, restarts = f"{rule.windowMinutes}m", _ksm(scope, "kube_pod_container_status_restarts_total")
    text = (
        f"model containers restarted more than {rule.max} times in {window}",
        f"The model containers of {model.name} restarted more than {rule.max} times within {window} "
        "(monitoring.alerts.podRestarts). Each restart drops in-flight requests and reloads the model.",
    )
    reasons = (
        _ksm(scope, "kube_pod_container_status_last_terminated_reason") + " == 1",
        _ksm(scope, "kube_pod_container_status_waiting_reason") + " == 1",
    )
    doc = _doc(model, "ModelPodRestarts", "ticket", text, (f"sum by (pod) (increase({restarts}[{window}]))", *reasons))
    description = f"{VALUE} restarts of {model.name}'s model containers in the last {window} (tolerated: {rule.max})."
    return Alert(doc, f"sum(increase({restarts}[{window}])) > {rule.max}", description, "op-restarts")


def _oom_killed(model: ResolvedModel, scope: Scope) -> Alert:
    limit = model.spec.resources.limits.memory
    reason = _ksm(scope, "kube_pod_container_status_last_terminated_reason", reason="OOMKilled")
    restarts = f"increase({_ksm(scope, 'kube_pod_container_status_restarts_total')}[{OOM_WINDOW}])"
    text = (
        "a model container was OOM-killed",
        f"A model container of {model.name} restarted within {OOM_WINDOW} after the kernel killed it for using "
        f"more than its {limit} memory limit (resources.limits.memory). Raise the limit or shrink the model's batch.",
    )
    doc = _doc(model, "ModelOOMKilled", "ticket", text, (reason, memory_ratio(scope), restarts))
    expr = f"count(({restarts} > 0) and on(namespace, pod, container) ({reason} == 1)) > 0"
    description = (
        f"{VALUE} model container(s) of {model.name} were OOM-killed in the last {OOM_WINDOW} ({limit} limit)."
    )
    return Alert(doc, expr, description, "op-oom")


def _crash_looping(model: ResolvedModel, scope: Scope) -> Alert:
    waiting = _ksm(scope, "kube_pod_container_status_waiting_reason", reason="CrashLoopBackOff")
    text = (
        "a model container is in CrashLoopBackOff",
        f"A model container of {model.name} keeps failing at start and Kubernetes backs off restarting it: a bad "
        "image, configuration, artifact or secret, or a model that does not fit in memory.",
    )
    last = _ksm(scope, "kube_pod_container_status_last_terminated_reason") + " == 1"
    doc = _doc(model, "ModelCrashLooping", "ticket", text, (waiting, last, memory_ratio(scope)))
    description = f"{VALUE} model container(s) of {model.name} have been in CrashLoopBackOff for {STUCK_FOR}."
    return Alert(doc, f"count({waiting} == 1) > 0", description, "op-crashloop", STUCK_FOR)


def hpa_name(model: ResolvedModel) -> str:
    """The HorizontalPodAutoscaler of the model (KEDA names the one it creates keda-hpa-<name>)."""
    return f"keda-hpa-{model.name}" if model.spec.scaling.engine == "keda" else model.name


def _at_max_replicas(model: ResolvedModel, scope: Scope) -> Alert:
    hpa = scope.matchers(horizontalpodautoscaler=hpa_name(model))
    current = f"kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}}"
    most = model.spec.scaling.maxReplicas
    text = (
        f"pinned at maxReplicas ({most}) for 30m",
        f"The autoscaler of {model.name} has kept it at scaling.maxReplicas ({most}) for 30 minutes: demand may "
        "exceed what it may scale to, and latency or errors follow. Raise maxReplicas or find the load.",
    )
    desired = f"kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}}"
    doc = _doc(model, "ModelReplicasAtMax", "ticket", text, (current, desired, scope.sli.request_rate("5m")))
    expr = (
        f"{current} >= on(namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}"
    )
    description = f"{model.name} has run {VALUE} replicas, its maximum, for 30m and cannot scale further."
    return Alert(doc, expr, description, "op-at-max", "30m")


def memory_ratio(scope: Scope) -> str:
    used = f"max by (pod) ({_ksm(scope, 'container_memory_working_set_bytes')})"
    return f"{used} / max by (pod) ({_ksm(scope, 'kube_pod_container_resource_limits', resource='memory')})"


def _memory_near_limit(model: ResolvedModel, scope: Scope) -> Alert:
    limit = model.spec.resources.limits.memory
    text = (
        "a model container uses over 90% of its memory limit",
        f"A model container of {model.name} has used more than 90% of its {limit} memory limit for 15 minutes; "
        "the next spike gets it OOM-killed.",
    )
    used = _ksm(scope, "container_memory_working_set_bytes")
    restarts = _ksm(scope, "kube_pod_container_status_restarts_total")
    doc = _doc(model, "ModelMemoryNearLimit", "ticket", text, (memory_ratio(scope), used, restarts))
    description = f"A model container of {model.name} uses {PERCENT} of its {limit} memory limit (alert above 90%)."
    return Alert(doc, f"max({memory_ratio(scope)}) > 0.9", description, "op-memory", "15m")


def throttled_ratio(scope: Scope) -> str:
    throttled = f"sum by (pod) (rate({_ksm(scope, 'container_cpu_cfs_throttled_periods_total')}[5m]))"
    return f"{throttled} / sum by (pod) (rate({_ksm(scope, 'container_cpu_cfs_periods_total')}[5m]))"


def _cpu_throttled(model: ResolvedModel, scope: Scope) -> Alert:
    limit = model.spec.resources.limits.cpu
    text = (
        "CPU throttled in over 25% of periods",
        f"A model container of {model.name} hit its CPU limit ({limit}) in more than 25% of scheduling periods for "
        "15 minutes: requests wait for CPU. Raise or drop resources.limits.cpu, or scale out.",
    )
    usage = f"sum by (pod) (rate({_ksm(scope, 'container_cpu_usage_seconds_total')}[5m]))"
    doc = _doc(
        model, "ModelCPUThrottled", "ticket", text, (throttled_ratio(scope), usage, scope.sli.request_rate("5m"))
    )
    description = f"{PERCENT} of CPU periods of a model container of {model.name} were throttled ({limit} limit)."
    return Alert(doc, f"max({throttled_ratio(scope)}) > 0.25", description, "op-throttled", "15m")


def _targets_down(model: ResolvedModel, scope: Scope) -> Alert:
    up = f"up{{{scope.sli.scope}}}"
    text = (
        "scrape targets down",
        f"Prometheus has failed to scrape some pods of {model.name} for {STUCK_FOR}: their metrics, and the SLI, "
        "are missing. The pods may be unready or overloaded, or the metrics port may have moved.",
    )
    ready = f'kube_pod_status_ready{{{scope.pods},condition="true"}}'
    doc = _doc(
        model, "ModelTargetDown", "ticket", text, (f"{up} == 0", ready, f"scrape_duration_seconds{{{scope.sli.scope}}}")
    )
    description = f"{VALUE} scrape target(s) of {model.name} have been down for {STUCK_FOR}."
    return Alert(doc, f"count({up} == 0) > 0", description, "op-target-down", STUCK_FOR)


def _metrics_absent(model: ResolvedModel, scope: Scope) -> Alert:
    up, pods = f"up{{{scope.sli.scope}}}", _ksm(scope, "kube_pod_container_info")
    expr = f"absent({up} == 1)"
    if model.spec.scaling.minReplicas == 0:  # scaled to zero nothing is scraped: only running pods count
        expr += f" and on() (count({pods}) > 0)"
    text = (
        "no healthy scrape target",
        f"Prometheus has had no healthy scrape target of {model.name} for {STUCK_FOR}: the model is down or its "
        "ServiceMonitor does not match it, and its SLO alerts are blind until it is scraped again.",
    )
    doc = _doc(model, "ModelMetricsAbsent", "page", text, (up, pods, f"kube_pod_status_ready{{{scope.pods}}}"))
    description = f"Prometheus has had no healthy scrape target of {model.name} for {STUCK_FOR} (absent: {RAW_VALUE})."
    return Alert(doc, expr, description, "op-absent", STUCK_FOR)


def gpu_utilisation(scope: Scope) -> str:
    return f"avg({_ksm(scope, 'DCGM_FI_DEV_GPU_UTIL')})"


def _gpu(model: ResolvedModel, scope: Scope) -> list[Alert]:
    util = gpu_utilisation(scope)
    queries = (_ksm(scope, "DCGM_FI_DEV_GPU_UTIL"), _ksm(scope, "DCGM_FI_DEV_FB_USED"), scope.sli.request_rate("5m"))
    idle = (
        "GPUs idle for 1h",
        f"The GPUs of {model.name} averaged under 5% utilisation for an hour: paid for and unused. "
        "Lower scaling.minReplicas, or scale to zero with KEDA.",
    )
    busy = (
        "GPUs saturated for 30m",
        f"The GPUs of {model.name} averaged over 95% utilisation for 30 minutes: requests queue on the GPU and "
        "latency grows. Raise scaling.maxReplicas or the GPU pool.",
    )
    described = f"The GPUs of {model.name} averaged {VALUE}% utilisation"
    return [
        Alert(
            _doc(model, "ModelGPUIdle", "ticket", idle, queries),
            f"{util} < 5",
            f"{described} for 1h.",
            "op-gpu-idle",
            "1h",
        ),
        Alert(
            _doc(model, "ModelGPUSaturated", "ticket", busy, queries),
            f"{util} > 95",
            f"{described} for 30m.",
            "op-gpu-busy",
            "30m",
        ),
    ]


_CAMEL = re.compile(r"[^A-Za-z0-9]+")


def camel(text: str) -> str:
    """fraud_score_psi -> FraudScorePsi."""
    return "".join(part[:1].upper() + part[1:] for part in _CAMEL.split(text) if part)


def model_metric_alerts(model: ResolvedModel, scope: Scope) -> list[Alert]:
    alerts: list[Alert] = []
    for index, metric in enumerate(model.spec.monitoring.modelMetrics):
        rule = metric.alert
        if rule is None:
            continue
        name = f"ModelMetric{camel(metric.metric)}"
        name += str(index) if any(a.doc.name == name for a in alerts) else ""
        text = (
            f"{metric.metric} alert",
            f"The model's own metric {metric.metric} met the condition set in monitoring.modelMetrics for "
            f"{rule.for_}: {rule.expr}",
        )
        queries = (rule.expr, f"{metric.metric}{{{scope.sli.scope}}}", scope.sli.request_rate("5m"))
        description = (
            f"{metric.metric} of {model.name} has met its alert condition for {rule.for_} (value {RAW_VALUE})."
        )
        alerts.append(
            Alert(_doc(model, name, rule.severity, text, queries), rule.expr, description, "metric", rule.for_)
        )
    return alerts


# ------------------------------------------------------------------ the object


def model_alerts(model: ResolvedModel, sli: Sli) -> list[Alert]:
    """Every alert of ``model``, in rule order: burn-rate, operational, model metrics."""
    scope = Scope(model.name, namespace_of(model), sli)
    burns = [burn_alert(model, scope, t, w) for t in objectives(model) for w in burn_windows(_days(model))]
    return [*burns, *operational_alerts(model, scope), *model_metric_alerts(model, scope)]


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


def rule_groups(model: ResolvedModel, sli: Sli, environment: str) -> list[dict[str, Any]]:
    scope = Scope(model.name, namespace_of(model), sli)
    alerts = model_alerts(model, sli)
    groups = [("sli", recording_rules(model, scope))]
    for group, kinds in (("slo", "burn-"), ("operations", "op-"), ("model-metrics", "metric")):
        groups.append((group, [alerting_rule(model, a, environment) for a in alerts if a.kind.startswith(kinds)]))
    return [{"name": f"modelfleet.{model.name}.{name}", "rules": rules} for name, rules in groups if rules]


def prometheus_rule(
    model: ResolvedModel, sli: Sli, environment: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The monitoring.coreos.com/v1 PrometheusRule of ``model`` in ``environment``; ``sli`` is
    scoped for that environment's namespace (``sli_for(model, namespace)``)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": model.name, "labels": dict(labels if labels is not None else common_labels(model))},
        "spec": {"groups": rule_groups(model, sli, environment)},
    }
