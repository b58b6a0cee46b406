"""The operational alerts and the model-metric alerts of one model, in two rule groups:

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
"""

from __future__ import annotations

import re

from generator.build.alerting import AlertDoc, anchor_for
from generator.build.alertmodel import PERCENT, RAW_VALUE, VALUE, Alert, Scope
from generator.build.identity import hpa_name
from generator.read.resolve import ResolvedModel

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


# ------------------------------------------------------------------ model-metric alerts

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
