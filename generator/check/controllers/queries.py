"""Every query the generator assembles has the type its consumer reads.

Sources: prometheus/prometheus rules/manager.go EngineQueryFunc (a rule yields a vector or
a scalar, else "rule result is not a vector or scalar"); argo-rollouts
metricproviders/prometheus/prometheus.go processResponse (vector, matrix or scalar);
prometheus-adapter pkg/external-provider/metric_converter.go Convert (vector or scalar, else
"encountered an unexpected query result type"); KEDA pkg/scalers/prometheus_scaler.go
ExecutePromQuery (reads ``data.result`` as a list of series: an instant vector).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from generator import promql
from generator.check.controllers.common import ARGO_ARG, Obj, Objects
from generator.check.objectfields import as_list, as_map
from generator.errors import Finding

VECTOR = promql.INSTANT_VECTOR
VECTOR_OR_SCALAR = promql.RULE_RESULT


Located = tuple[Obj | None, str, str, frozenset[str]]


def _queries(objects: Objects, adapter_values: Mapping[str, Any]) -> Iterator[Located]:
    """(object, field, query, the types its consumer reads)."""
    for rule in objects.of_kind("PrometheusRule"):
        for g, group in enumerate(as_list(as_map(rule.get("spec")).get("groups"))):
            for r, entry in enumerate(as_list(as_map(group).get("rules"))):
                yield rule, f"spec.groups[{g}].rules[{r}].expr", str(as_map(entry).get("expr", "")), VECTOR_OR_SCALAR
    for template in objects.of_kind("AnalysisTemplate"):
        for m, metric in enumerate(as_list(as_map(template.get("spec")).get("metrics"))):
            query = str(as_map(as_map(as_map(metric).get("provider")).get("prometheus")).get("query", ""))
            yield template, f"spec.metrics[{m}].provider.prometheus.query", ARGO_ARG.sub("arg", query), VECTOR_OR_SCALAR
    for scaled in objects.of_kind("ScaledObject"):
        for t, trigger in enumerate(as_list(as_map(scaled.get("spec")).get("triggers"))):
            if as_map(trigger).get("type") == "prometheus":
                query = str(as_map(as_map(trigger).get("metadata")).get("query", ""))
                yield scaled, f"spec.triggers[{t}].metadata.query", query, VECTOR
    for index, rule in enumerate(as_list(as_map(adapter_values.get("rules")).get("external"))):
        where = f"prometheus-adapter rules.external[{index}].metricsQuery"
        yield None, where, str(as_map(rule).get("metricsQuery", "")), VECTOR_OR_SCALAR


def query_type_findings(objects: Objects, adapter_values: Mapping[str, Any]) -> list[Finding]:
    found: list[Finding] = []
    for obj, field, query, wanted in _queries(objects, adapter_values):
        problem = promql.type_problem(query, wanted)
        if problem is None:
            continue
        message = f"the query {problem}"
        hint = "a modelfleet bug: report it with the spec that produced it"
        if obj is None:
            found.append(Finding(message, objects.location, field, hint))
        else:
            found.append(objects.finding(obj, field, message, hint))
    return found


__all__ = ["query_type_findings"]
