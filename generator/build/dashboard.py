"""A Grafana dashboard per model, shipped as a ConfigMap the Grafana sidecar discovers.

One dashboard serves every environment: a ``namespace`` template variable (the namespaces
where the model's Service is scraped) scopes every query, and the SLI panels use the very
queries of ``generator.build.sli`` that the alerts use, built for the namespace ``$namespace``
(``dashboard_sli``). Thresholds drawn on the panels (availability objective, latency
threshold) come from the model given, normally the shared base; replica bounds, requests
and limits are read from kube-state-metrics, so they are right in every environment.

Metric sources, besides the model's own series:

- kube-state-metrics: ``kube_deployment_status_replicas_available`` (Deployment),
  ``kube_horizontalpodautoscaler_spec_min_replicas`` / ``_spec_max_replicas`` /
  ``_status_desired_replicas`` (the HPA is named after the model, or ``keda-hpa-<model>``
  when KEDA owns it), ``kube_pod_container_resource_requests`` / ``_limits``.
- Argo Rollouts controller: ``rollout_info_replicas_available{namespace,name}``; scraped
  without ``honorLabels`` its ``namespace`` becomes ``exported_namespace``, so both are read.
- cAdvisor (kubelet): ``container_cpu_usage_seconds_total``, ``container_memory_working_set_bytes``.
- dcgm-exporter (GPU models): ``DCGM_FI_DEV_GPU_UTIL`` (percent), ``DCGM_FI_DEV_FB_USED`` and
  ``DCGM_FI_DEV_FB_FREE`` (MiB), with the pod's ``namespace``/``pod`` labels (Kubernetes pod
  mapping on, scraped with ``honorLabels: true`` as the NVIDIA GPU operator does).

Container series are selected by ``container="model"`` and the pod name of a ReplicaSet
pod of the workload (``<model>-<hash>-<suffix>``), which excludes a model whose name merely
starts with this one's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from decimal import Decimal
from typing import Any

from generator.build.grafana import DATASOURCE, Panel, layout, stat, timeseries
from generator.build.identity import CONTAINER, hpa_name
from generator.build.numbertext import plain
from generator.build.platform import platform_settings
from generator.build.sli import Sli, sli_for
from generator.read.resolve import ResolvedModel

SCHEMA_VERSION = 39
NAMESPACE_VARIABLE = "$namespace"
NAMESPACE_MATCHER = 'namespace="$namespace"'
SLI_WINDOW = "5m"  # the shortest window of the burn-rate alerts
RATE_INTERVAL = "$__rate_interval"
LATENCY_QUANTILES = (0.5, 0.95, 0.99)
MODEL_METRIC_QUANTILES = (0.5, 0.9, 0.99)
COUNTER_SUFFIXES = ("_total", "_count", "_sum")
_PLACEHOLDER = "modelfleet-dashboard-namespace"  # a valid namespace, swapped for $namespace

# ------------------------------------------------------------------ identity


def dashboard_uid(name: str) -> str:
    """A stable Grafana uid (at most 40 characters) derived from the model name."""
    uid = f"modelfleet-{name}"
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"mf-{name[:28].rstrip('-')}-{digest}"


def dashboard_sli(model: ResolvedModel) -> Sli:
    """The model's SLI scoped to the Grafana variable ``$namespace``.

    ``sli_for(model, "$namespace")`` would do, except that ``sli_for`` parses a
    ``monitoring.sli`` override after substituting the scope and rejects any ``$`` left in
    it; so the SLI is built for a placeholder namespace and the placeholder swapped after.
    """
    sli = sli_for(model, _PLACEHOLDER)
    quoted, variable = f'"{_PLACEHOLDER}"', f'"{NAMESPACE_VARIABLE}"'

    def swap(text: str | None) -> str | None:
        return None if text is None else text.replace(quoted, variable)

    return dataclasses.replace(
        sli,
        scope=sli.scope.replace(quoted, variable),
        request_rate_override=swap(sli.request_rate_override),
        error_ratio_override=swap(sli.error_ratio_override),
    )


# ------------------------------------------------------------------ numbers and selectors


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def error_budget(model: ResolvedModel) -> Decimal:
    """The error ratio the availability objective allows: 1 - objective."""
    return 1 - _decimal(model.spec.monitoring.slo.availability) / 100


def _pods(model: ResolvedModel) -> str:
    """Matchers of the model container in the workload's pods, in ``$namespace``."""
    return f'{NAMESPACE_MATCHER},pod=~"{model.name}-[a-z0-9]+-[a-z0-9]+",container="{CONTAINER}"'


# ------------------------------------------------------------------ the panels of a model


def request_rate_panel(sli: Sli) -> Panel:
    return timeseries(
        "Request rate",
        "Requests per second over all pods (the SLI's request counters). Empty when the model exposes no request "
        "series at all.",
        "reqps",
        [(sli.request_rate(SLI_WINDOW), "requests/s")],
    )


def error_ratio_panel(model: ResolvedModel, sli: Sli) -> Panel:
    availability = plain(_decimal(model.spec.monitoring.slo.availability))
    return timeseries(
        "Error ratio",
        f"Failed / all requests, the availability SLI of the alerts. The red line is the error budget, 1 - "
        f"{availability}%: above it the budget burns faster than the SLO allows. Empty without traffic.",
        "percentunit",
        [(sli.error_ratio(SLI_WINDOW), f"error ratio ({SLI_WINDOW})"), (sli.error_ratio("1h"), "error ratio (1h)")],
        limit=error_budget(model),
    )


def latency_panel(model: ResolvedModel, sli: Sli) -> Panel:
    slo = model.spec.monitoring.slo.latency
    limit = None if slo is None else Decimal(slo.thresholdMs) / 1000
    against = "" if slo is None else f" The red line is the latency SLO threshold, {slo.thresholdMs} ms."
    queries = [(sli.latency_quantile(q, SLI_WINDOW), f"p{plain(_decimal(q) * 100)}") for q in LATENCY_QUANTILES]
    return timeseries(
        "Latency p50 / p95 / p99",
        f"Request latency quantiles from the runtime's histogram, in seconds.{against} Empty without traffic.",
        "s",
        queries,
        limit=limit,
    )


def error_budget_panel(model: ResolvedModel, sli: Sli) -> Panel:
    slo = model.spec.monitoring.slo
    window = f"{slo.windowDays}d"
    budget = error_budget(model)
    expr = f"1 - ({sli.error_ratio(window)} / {plain(budget)})"
    return stat(
        f"Error budget remaining ({window})",
        f"1 - (error ratio over the {slo.windowDays}-day SLO window / {plain(budget)}). Below 0 the availability "
        f"objective of {plain(_decimal(slo.availability))}% is missed. Empty without traffic.",
        "percentunit",
        (expr, "remaining"),
        [("red", None), ("orange", Decimal(0)), ("green", Decimal("0.25"))],
    )


def replicas_panel(model: ResolvedModel) -> Panel:
    name = model.name
    if model.spec.rollout.strategy == "rolling":
        available = f'sum(kube_deployment_status_replicas_available{{{NAMESPACE_MATCHER},deployment="{name}"}})'
    else:
        own = f'rollout_info_replicas_available{{{NAMESPACE_MATCHER},name="{name}"}}'
        exported = f'rollout_info_replicas_available{{exported_namespace="{NAMESPACE_VARIABLE}",name="{name}"}}'
        available = f"max({own} or {exported})"
    hpa = f'{NAMESPACE_MATCHER},horizontalpodautoscaler="{hpa_name(model)}"'
    queries = [
        (available, "available"),
        (f"max(kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}})", "desired"),
        (f"max(kube_horizontalpodautoscaler_spec_min_replicas{{{hpa}}})", "min"),
        (f"max(kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})", "max"),
    ]
    return timeseries(
        "Replicas",
        "Available replicas of the workload against the autoscaler's desired count and its min/max bounds. "
        "Available pinned at max means the model needs more room than it is allowed.",
        "short",
        queries,
        dashed=("min", "max"),
    )


def _resource_panel(model: ResolvedModel, title: str, usage: str, resource: str, unit: str) -> Panel:
    pods = _pods(model)
    queries = [
        (usage, "{{pod}}"),
        (f'max(kube_pod_container_resource_requests{{{pods},resource="{resource}"}})', "request"),
        (f'max(kube_pod_container_resource_limits{{{pods},resource="{resource}"}})', "limit"),
    ]
    return timeseries(
        title,
        f"{title} of the model container per pod, against its {resource} request and limit (kube-state-metrics).",
        unit,
        queries,
        dashed=("request", "limit"),
    )


def cpu_panel(model: ResolvedModel) -> Panel:
    usage = f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{_pods(model)}}}[{RATE_INTERVAL}]))"
    return _resource_panel(model, "CPU usage", usage, "cpu", "short")


def memory_panel(model: ResolvedModel) -> Panel:
    usage = f"sum by (pod) (container_memory_working_set_bytes{{{_pods(model)}}})"
    return _resource_panel(model, "Memory working set", usage, "memory", "bytes")


def gpu_panels(model: ResolvedModel) -> list[Panel]:
    if model.spec.resources.gpu == 0:
        return []
    selector = f'{NAMESPACE_MATCHER},pod=~"{model.name}-[a-z0-9]+-[a-z0-9]+"'
    used, free = f"DCGM_FI_DEV_FB_USED{{{selector}}}", f"DCGM_FI_DEV_FB_FREE{{{selector}}}"
    utilisation = timeseries(
        "GPU utilisation",
        "Share of time a kernel ran on each GPU of the model's pods (dcgm-exporter).",
        "percent",
        [(f"avg by (pod, gpu) (DCGM_FI_DEV_GPU_UTIL{{{selector}}})", "{{pod}} gpu {{gpu}}")],
    )
    utilisation["fieldConfig"]["defaults"]["max"] = 100
    memory = timeseries(
        "GPU memory",
        "Frame buffer memory used on each GPU of the model's pods, against used + free (dcgm-exporter, MiB).",
        "mbytes",
        [
            (f"sum by (pod, gpu) ({used})", "{{pod}} gpu {{gpu}}"),
            (f"sum by (pod, gpu) ({used} + {free})", "{{pod}} gpu {{gpu}} total"),
        ],
    )
    return [utilisation, memory]


def _metric_unit(metric: str) -> str:
    base = metric.removesuffix("_bucket")
    for suffix in COUNTER_SUFFIXES:
        base = base.removesuffix(suffix)
    units = {"_seconds": "s", "_bytes": "bytes", "_ratio": "percentunit", "_percent": "percent"}
    return next((unit for suffix, unit in units.items() if base.endswith(suffix)), "short")


def model_metric_panel(metric: str, sli: Sli) -> Panel:
    """A histogram's ``_bucket`` series as quantiles, a counter as a rate, anything else as is."""
    selector = f"{metric}{{{sli.scope}}}"
    unit = _metric_unit(metric)
    if metric.endswith("_bucket"):
        bucket = f"sum by (le) (rate({selector}[{RATE_INTERVAL}]))"
        queries = [
            (f"histogram_quantile({plain(_decimal(q))}, {bucket})", f"p{plain(_decimal(q) * 100)}")
            for q in MODEL_METRIC_QUANTILES
        ]
        return timeseries(metric, f"Quantiles of the model's histogram {metric}.", unit, queries)
    if metric.endswith(COUNTER_SUFFIXES):
        query = (f"sum(rate({selector}[{RATE_INTERVAL}]))", "per second")
        return timeseries(metric, f"Per-second rate of the model's counter {metric}.", unit, [query])
    return timeseries(metric, f"The model's gauge {metric}, per series.", unit, [(selector, "__auto")])


# ------------------------------------------------------------------ the dashboard


def _sections(model: ResolvedModel, sli: Sli) -> list[tuple[str, list[Panel]]]:
    service = [request_rate_panel(sli), error_ratio_panel(model, sli)]
    if sli.has_latency:
        service.append(latency_panel(model, sli))
    service.append(error_budget_panel(model, sli))
    metrics = [model_metric_panel(m.metric, sli) for m in model.spec.monitoring.modelMetrics]
    return [
        ("Service level", service),
        ("Capacity and resources", [replicas_panel(model), cpu_panel(model), memory_panel(model)]),
        ("GPU", gpu_panels(model)),
        ("Model metrics", metrics),
    ]


def _variables(model: ResolvedModel) -> list[dict[str, Any]]:
    namespaces = f'label_values(up{{service="{model.name}"}}, namespace)'
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "includeAll": False,
            "multi": False,
            "options": [],
            "refresh": 1,
            "regex": "",
        },
        {
            "name": "namespace",
            "label": "Namespace",
            "type": "query",
            "datasource": DATASOURCE,
            "definition": namespaces,
            "query": namespaces,
            "current": {},
            "hide": 0,
            "includeAll": False,
            "multi": False,
            "options": [],
            "refresh": 2,
            "regex": "",
            "sort": 1,
        },
    ]


def dashboard(model: ResolvedModel, sli: Sli) -> dict[str, Any]:
    """The Grafana dashboard JSON model of ``model``; ``sli`` is ``dashboard_sli(model)``."""
    if NAMESPACE_MATCHER not in sli.scope:
        raise ValueError(f"the dashboard's SLI must be scoped to {NAMESPACE_MATCHER}: build it with dashboard_sli()")
    spec = model.spec
    tags = sorted({"modelfleet", spec.runtime, spec.owner, model.fleet.name})
    runbook = f"{model.fleet.alerting.runbookBaseURL.rstrip('/')}/{model.name}.md"
    return {
        "annotations": {"list": []},
        "description": spec.description or f"{spec.runtime} model {model.name}",
        "editable": False,
        "graphTooltip": 1,
        "id": None,
        "links": [{"icon": "doc", "targetBlank": True, "title": "Runbook", "type": "link", "url": runbook}],
        "panels": layout(_sections(model, sli)),
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": tags,
        "templating": {"list": _variables(model)},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": f"{model.fleet.name} / {model.name}",
        "uid": dashboard_uid(model.name),
        "version": 1,
    }


def dashboard_text(dashboard: dict[str, Any]) -> str:
    """``dashboard`` as indented JSON with sorted keys (what Grafana's file provisioning reads)."""
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


# (model name, its spec and its fleet as JSON) -> its dashboard's text, oldest first. The
# dashboard reads nothing else (one dashboard serves every environment), so a model's base
# and its units, which a render builds one after another, share one entry.
_MODEL_TEXTS: dict[tuple[str, str, str], str] = {}
_MODEL_TEXTS_MAX = 1 << 4


def model_dashboard_text(model: ResolvedModel) -> str:
    """``dashboard_text`` of ``model``'s dashboard, built once for its base and its units."""
    key = (model.name, model.spec.model_dump_json(), model.fleet.model_dump_json())
    text = _MODEL_TEXTS.get(key)
    if text is None:
        text = dashboard_text(dashboard(model, dashboard_sli(model)))
        if len(_MODEL_TEXTS) >= _MODEL_TEXTS_MAX:
            del _MODEL_TEXTS[next(iter(_MODEL_TEXTS))]
        _MODEL_TEXTS[key] = text
    return text


def dashboard_configmap(
    model: ResolvedModel, dashboard: dict[str, Any] | str, labels: dict[str, str]
) -> dict[str, Any]:
    """A v1 ConfigMap holding ``dashboard`` (or its ``dashboard_text``), labelled for the
    Grafana sidecar's default discovery label ``grafana_dashboard: "1"`` and the platform's
    dashboard settings. In a namespace of its own (``platform.dashboards.namespace``) its name
    carries the models' namespace, so the dashboards of two environments in one cluster stay
    apart."""
    text = dashboard if isinstance(dashboard, str) else dashboard_text(dashboard)
    platform = platform_settings(model)
    env = model.environment
    metadata: dict[str, Any] = {
        "name": f"{model.name}-dashboard",
        "labels": {**labels, "grafana_dashboard": "1", **platform.dashboards.labels},
    }
    if platform.dashboards_namespace is not None and env is not None:
        metadata = {
            "name": f"{env.namespace}-{model.name}-dashboard",
            "namespace": platform.dashboards_namespace,
            "labels": metadata["labels"],
        }
    if platform.dashboards.annotations:
        metadata["annotations"] = platform.dashboards.annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {f"{model.name}.json": text}}
