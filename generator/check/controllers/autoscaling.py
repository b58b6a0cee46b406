"""Autoscalers at rest: every custom metric has a value on an idle model, and a model that
scales to zero has a signal that exists while it has no pods.

Sources:
- kubernetes pkg/controller/podautoscaler/metrics/client.go GetExternalMetric: an empty list
  is an error ("no metrics returned from external metrics API"); horizontal.go
  computeReplicasForMetrics: when any metric is invalid and the valid ones would scale
  down, the HPA does not scale at all. An idle model whose query answers nothing never
  scales down.
- kubernetes-sigs/prometheus-adapter pkg/external-provider/external_series_registry.go
  filterAndStoreMetrics / QueryForMetric: an external metric exists only while its
  seriesQuery matches a series (re-listed every 10 minutes); otherwise NotFound. Labelled
  request counters appear at a pod's first request, so ``up`` is what exists while the
  model runs. metric_converter.go convertSample casts NaN to an integer unchecked.
- kedacore/keda pkg/scalers/prometheus_scaler.go ExecutePromQuery: more than one series is
  an error; an empty result is 0 only with ignoreNullValues. pkg/scaling/scale_handler.go
  getScaledObjectState: cpu and memory triggers never make a ScaledObject active;
  pkg/scaling/executor/scale_scaledobjects.go RequestScale: from zero replicas only an
  active trigger scales up. A trigger that counts the requests of the model's own pods has
  no series at zero pods, so it never wakes the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import promql_parser

from generator.check.controllers.common import (
    Obj,
    Objects,
    answers_at_rest,
    equal_matchers,
    parse,
    selectors,
    unwrap,
)
from generator.check.objectfields import as_list, as_map
from generator.errors import Finding

RESOURCE_TRIGGERS = frozenset({"cpu", "memory"})


def autoscaling_findings(objects: Objects, adapter_values: Mapping[str, Any]) -> list[Finding]:
    rules = {
        str(as_map(as_map(rule).get("name")).get("as", "")): as_map(rule)
        for rule in as_list(as_map(adapter_values.get("rules")).get("external"))
    }
    found: list[Finding] = []
    for hpa in objects.of_kind("HorizontalPodAutoscaler"):
        found += _external_metrics_answer(objects, hpa, rules)
    for scaled in objects.of_kind("ScaledObject"):
        found += _triggers_answer(objects, scaled)
        found += _wakes_from_zero(objects, scaled)
    return found


def _external_metrics_answer(objects: Objects, hpa: Obj, rules: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    found: list[Finding] = []
    for index, metric in enumerate(as_list(as_map(hpa.get("spec")).get("metrics"))):
        if as_map(metric).get("type") != "External":
            continue
        name = str(as_map(as_map(as_map(metric).get("external")).get("metric")).get("name", ""))
        field = f"spec.metrics[{index}].external.metric.name"
        rule = rules.get(name)
        if rule is None:
            found.append(objects.finding(hpa, field, f"no prometheus-adapter rule serves '{name}'", "render one"))
            continue
        if not answers_at_rest(parse(str(rule.get("metricsQuery", "")))):
            found.append(
                objects.finding(
                    hpa,
                    field,
                    f"the adapter query of '{name}' can answer nothing (an idle model): the HPA then treats the "
                    "metric as invalid and never scales down",
                    "end the query with 'or vector(0)'",
                )
            )
        series = parse(str(rule.get("seriesQuery", "")))
        if not isinstance(unwrap(series), promql_parser.VectorSelector) or unwrap(series).name != "up":
            found.append(
                objects.finding(
                    hpa,
                    field,
                    f"the adapter lists '{name}' only while its seriesQuery matches a series; request counters appear "
                    "at the first request, so an idle model's metric would not exist",
                    "use the model's up series as seriesQuery",
                )
            )
    return found


def _prometheus_triggers(scaled: Obj) -> list[tuple[int, Mapping[str, Any]]]:
    triggers = as_list(as_map(scaled.get("spec")).get("triggers"))
    return [(i, as_map(t)) for i, t in enumerate(triggers) if as_map(t).get("type") == "prometheus"]


def _triggers_answer(objects: Objects, scaled: Obj) -> list[Finding]:
    found: list[Finding] = []
    for index, trigger in _prometheus_triggers(scaled):
        query = parse(str(as_map(trigger.get("metadata")).get("query", "")))
        if not answers_at_rest(query) or not _one_series(query):
            found.append(
                objects.finding(
                    scaled,
                    f"spec.triggers[{index}].metadata.query",
                    "the query may answer nothing or several series: KEDA reads it as 0 or fails",
                    "aggregate it to one series and end it with 'or vector(0)'",
                )
            )
    return found


def _one_series(node: Any) -> bool:
    """``<aggregation without grouping or a one-series function> or vector(n)``."""
    left = unwrap(unwrap(node).lhs)
    if isinstance(left, promql_parser.AggregateExpr):
        return left.modifier is None
    if isinstance(left, promql_parser.Call):
        return left.func.name in {"histogram_quantile", "scalar", "vector"} or left.func.name.endswith("_over_time")
    return isinstance(left, promql_parser.BinaryExpr)  # the sum arithmetic the SLIs build


def _wakes_from_zero(objects: Objects, scaled: Obj) -> list[Finding]:
    spec = as_map(scaled.get("spec"))
    if spec.get("minReplicaCount", 0) != 0:
        return []
    target = str(as_map(spec.get("scaleTargetRef")).get("name", ""))
    for _, trigger in _prometheus_triggers(scaled):
        query = parse(str(as_map(trigger.get("metadata")).get("query", "")))
        if query is not None and not _own_pods_only(query, target):
            return []
    kinds = RESOURCE_TRIGGERS | {"prometheus"}
    other = [t for t in as_list(spec.get("triggers")) if as_map(t).get("type") not in kinds]
    if other:
        return []  # a queue or HTTP trigger of its own: it does not depend on the model's pods
    return [
        objects.finding(
            scaled,
            "spec.minReplicaCount",
            f"at zero replicas no trigger can become active: cpu and memory never do, and every query counts "
            f"series of {target}'s own pods, which do not exist then",
            "add a trigger on a signal in front of the model (its router's requests, a queue length)",
        )
    ]


def _own_pods_only(node: Any, model: str) -> bool:
    """Every series the query reads is scraped from the model's own pods (``service=<model>``)."""
    found = selectors(node)
    return bool(found) and all(equal_matchers(s).get("service") == model for s in found)


__all__ = ["autoscaling_findings"]
