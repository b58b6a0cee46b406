"""Autoscaling: an autoscaling/v2 HorizontalPodAutoscaler or a KEDA ScaledObject.

Custom targets (p95 latency, requests per second per replica) read the SLI queries of
``generator.build.sli``: the HPA through External metrics that prometheus-adapter serves from
exactly those queries (rules rendered per environment under platform/), KEDA through
Prometheus triggers with the same queries. The autoscaler owns the replica count.

At rest every custom metric reads 0, never nothing: an HPA with an unreadable metric does
not scale down (kubernetes pkg/controller/podautoscaler/horizontal.go
computeReplicasForMetrics), and an idle model's p95 is NaN, which prometheus-adapter would
pass on cast to an integer (metric_converter.go convertSample). So each query ends with
``or vector(0)``, and the adapter discovers the metric by the model's ``up`` series, which
exists while its pods run, unlike request counters before the first request
(external_series_registry.go). See ``generator.check.controllers.autoscaling``.

A model scaled to zero wakes on ``scaling.wakeUp``: the router's request count (which
exists with no pods behind it) or a query of the user's, such as a queue length.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from generator.build.numbertext import plain
from generator.build.sli import Sli, latency_missing
from generator.build.traffic import router_request_rate
from generator.errors import ModelfleetError
from generator.read.resolve import ResolvedModel

SCALING_WINDOW = "2m"


def at_rest(query: str) -> str:
    """``query`` reading 0 when it has no sample (no traffic, or no pods at all)."""
    return f"{query} or vector(0)"


def quantity(value: Decimal) -> str:
    """A Kubernetes quantity for ``value``, exact: 0.12 -> "120m", 80 -> "80"."""
    if value == value.to_integral_value():
        return str(int(value))
    milli = value * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return format(value.normalize(), "f")


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))


def latency_seconds(milliseconds: int) -> Decimal:
    return Decimal(milliseconds) / 1000


def external_metric_name(model: str, what: str) -> str:
    return f"modelfleet_{model.replace('-', '_')}_{what}"


def custom_queries(model: ResolvedModel, sli: Sli) -> dict[str, str]:
    """External metric name -> PromQL, for the custom targets the model sets."""
    targets = model.spec.scaling.targets
    queries: dict[str, str] = {}
    if targets.latencyP95Ms is not None:
        queries[external_metric_name(model.name, "latency_p95_seconds")] = _latency_p95(sli)
    if targets.requestsPerSecond is not None:
        queries[external_metric_name(model.name, "requests_per_second")] = at_rest(sli.request_rate(SCALING_WINDOW))
    return queries


def _latency_p95(sli: Sli) -> str:
    """The p95 latency in seconds, 0 at rest: what the HPA and KEDA scale on."""
    return at_rest(sli.latency_quantile(0.95, SCALING_WINDOW))


def _request_rate(model: ResolvedModel, sli: Sli) -> str:
    """Requests per second for KEDA: at the router when it wakes the model, else at its pods."""
    wake = model.spec.scaling.wakeUp
    if wake is not None and wake.router:
        return at_rest(router_request_rate(model, SCALING_WINDOW))
    return at_rest(sli.request_rate(SCALING_WINDOW))


def _resource_targets(model: ResolvedModel) -> list[tuple[str, int]]:
    targets = model.spec.scaling.targets
    pairs = [("cpu", targets.cpuUtilization), ("memory", targets.memoryUtilization)]
    return [(name, value) for name, value in pairs if value is not None]


def hpa_metrics(model: ResolvedModel) -> list[dict[str, Any]]:
    targets = model.spec.scaling.targets
    metrics: list[dict[str, Any]] = [
        {"type": "Resource", "resource": {"name": name, "target": {"type": "Utilization", "averageUtilization": value}}}
        for name, value in _resource_targets(model)
    ]
    if targets.latencyP95Ms is not None:
        metrics.append(
            {
                "type": "External",
                "external": {
                    "metric": {"name": external_metric_name(model.name, "latency_p95_seconds")},
                    "target": {"type": "Value", "value": quantity(latency_seconds(targets.latencyP95Ms))},
                },
            }
        )
    if targets.requestsPerSecond is not None:
        metrics.append(
            {
                "type": "External",
                "external": {
                    "metric": {"name": external_metric_name(model.name, "requests_per_second")},
                    "target": {"type": "AverageValue", "averageValue": quantity(_decimal(targets.requestsPerSecond))},
                },
            }
        )
    if not metrics:
        cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
        metrics.append({"type": "Resource", "resource": cpu})
    return metrics


def behavior(model: ResolvedModel) -> dict[str, Any]:
    """Scale up fast; scale down slowly, and slower still for GPU models, whose pods
    take long to start and whose capacity is scarce."""
    gpu = model.spec.resources.gpu > 0
    warmup = max(60, math.ceil(model.spec.startup.maxSeconds / 60) * 60)
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 60},
                {"type": "Pods", "value": 2 if gpu else 4, "periodSeconds": 60},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": min(3600, max(900 if gpu else 300, warmup)),  # the API allows 1 h at most
            "selectPolicy": "Min",
            "policies": [{"type": "Percent", "value": 25 if gpu else 50, "periodSeconds": 120}],
        },
    }


def keda_triggers(model: ResolvedModel, sli: Sli, prometheus_url: str) -> list[dict[str, Any]]:
    """The ScaledObject's triggers. Each query answers with one series, 0 at rest, so an empty
    answer means a broken query: KEDA reports it instead of reading 0 (ignoreNullValues false;
    kedacore/keda pkg/scalers/prometheus_scaler.go ExecutePromQuery)."""
    targets = model.spec.scaling.targets
    wake = model.spec.scaling.wakeUp
    triggers: list[dict[str, Any]] = []

    def prometheus(name: str, metric_type: str, query: str, threshold: str, activation: bool) -> None:
        metadata = {"serverAddress": prometheus_url, "query": query, "threshold": threshold}
        if activation:
            metadata["activationThreshold"] = "0"
        triggers.append(
            {
                "type": "prometheus",
                "name": name,
                "metricType": metric_type,
                "metadata": {**metadata, "ignoreNullValues": "false"},
            }
        )

    if wake is not None and wake.query is not None and wake.perReplica is not None:
        prometheus("wake-up", "AverageValue", at_rest(f"sum({wake.query})"), plain(_decimal(wake.perReplica)), True)
    if targets.requestsPerSecond is not None:
        rate = plain(_decimal(targets.requestsPerSecond))
        prometheus("requests-per-second", "AverageValue", _request_rate(model, sli), rate, True)
    if targets.latencyP95Ms is not None:
        threshold = plain(latency_seconds(targets.latencyP95Ms))
        prometheus("latency-p95", "Value", _latency_p95(sli), threshold, False)
    triggers.extend(
        {"type": name, "name": f"{name}-utilization", "metricType": "Utilization", "metadata": {"value": str(value)}}
        for name, value in _resource_targets(model)
    )
    return triggers


def scaling_context(model: ResolvedModel, sli: Sli, prometheus_url: str) -> dict[str, Any]:
    if model.spec.scaling.targets.latencyP95Ms is not None and not sli.has_latency:
        raise ModelfleetError([latency_missing(model, ("scaling", "targets", "latencyP95Ms"))])
    return {
        "min_replicas": model.spec.scaling.minReplicas,
        "max_replicas": model.spec.scaling.maxReplicas,
        "hpa_metrics": hpa_metrics(model),
        "hpa_behavior": behavior(model),
        "keda_triggers": keda_triggers(model, sli, prometheus_url),
        "keda_cooldown": 300,
    }


def model_adapter_rules(model: ResolvedModel, sli: Sli) -> list[dict[str, Any]]:
    """One model's external rules (none unless an HPA scales it on custom metrics)."""
    if model.spec.scaling.engine != "hpa":
        return []
    return [
        {
            "seriesQuery": sli.up_selector(),
            "metricsQuery": query,
            "name": {"as": name},
            "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
        }
        for name, query in custom_queries(model, sli).items()
    ]
