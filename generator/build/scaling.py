"""Autoscaling: an autoscaling/v2 HorizontalPodAutoscaler or a KEDA ScaledObject.

Custom targets (p95 latency, requests per second per replica) read the SLI queries of
``generator.sli``: the HPA through External metrics that prometheus-adapter serves from
exactly those queries (rules rendered per environment under platform/), KEDA through
Prometheus triggers with the same queries. The autoscaler owns the replica count.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from ..errors import ModelfleetError
from ..resolve import ResolvedModel
from ..sli import Sli, latency_missing

SCALING_WINDOW = "2m"


def quantity(value: Decimal) -> str:
    """A Kubernetes quantity for ``value``, exact: 0.12 -> "120m", 80 -> "80"."""
    if value == value.to_integral_value():
        return str(int(value))
    milli = value * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return format(value.normalize(), "f")


def plain(value: Decimal) -> str:
    """A decimal as plain text without float noise: 0.12 -> "0.12"."""
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
        queries[external_metric_name(model.name, "latency_p95_seconds")] = sli.latency_quantile(0.95, SCALING_WINDOW)
    if targets.requestsPerSecond is not None:
        queries[external_metric_name(model.name, "requests_per_second")] = sli.request_rate(SCALING_WINDOW)
    return queries


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
    targets = model.spec.scaling.targets
    triggers: list[dict[str, Any]] = []
    if targets.requestsPerSecond is not None:
        triggers.append(
            {
                "type": "prometheus",
                "name": "requests-per-second",
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": prometheus_url,
                    "query": sli.request_rate(SCALING_WINDOW),
                    "threshold": plain(_decimal(targets.requestsPerSecond)),
                    "activationThreshold": "0",
                    "ignoreNullValues": "true",
                },
            }
        )
    if targets.latencyP95Ms is not None:
        triggers.append(
            {
                "type": "prometheus",
                "name": "latency-p95",
                "metricType": "Value",
                "metadata": {
                    "serverAddress": prometheus_url,
                    "query": sli.latency_quantile(0.95, SCALING_WINDOW),
                    "threshold": plain(latency_seconds(targets.latencyP95Ms)),
                    "ignoreNullValues": "true",
                },
            }
        )
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


def adapter_rules(models: list[tuple[ResolvedModel, Sli]]) -> dict[str, Any]:
    """prometheus-adapter configuration (external rules) serving the HPA's custom metrics."""
    return {"rules": {"external": [rule for model, sli in models for rule in model_adapter_rules(model, sli)]}}


def model_adapter_rules(model: ResolvedModel, sli: Sli) -> list[dict[str, Any]]:
    """One model's external rules (none unless an HPA scales it on custom metrics)."""
    if model.spec.scaling.engine != "hpa":
        return []
    return [
        {
            "seriesQuery": sli.requests_series_selector(),
            "metricsQuery": query,
            "name": {"as": name},
            "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
        }
        for name, query in custom_queries(model, sli).items()
    ]
