"""Argo Rollouts: a canary reaches clients, and nothing is promoted without evidence.

Sources (argoproj/argo-rollouts; the rules hold from v1.5.0 to v1.10):
- rollout/service.go reconcileStableAndCanaryService -> ensureSVCTargets: with stableService
  and canaryService set, each Service is pointed at one ReplicaSet (its selector gains
  rollouts-pod-template-hash), traffic router or not. Without a router nothing sends
  clients to the canary Service, so the canary gets no client traffic.
- pkg/apis/rollouts/validation/validation.go requireCanaryStableServices: a router needs both.
- rollout/trafficrouting/nginx (validation_references.go validateNginxIngress): the stable
  Ingress must have a rule whose backend is the stableService.
- argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi pkg/plugin/httproute.go
  setHTTPRouteWeight: the HTTPRoute needs backendRefs named after both Services, or the
  plugin fails with "backendRef was not found in httpRoute".
- rollout/sync.go shouldFullPromote: a canary is promoted once its last step completes,
  whatever a background analysis is doing; a terminated run then ends Successful
  (analysis/analysis.go assessMetricStatus). rollout/canary.go completedCurrentCanaryStep: an
  inline analysis step completes only when its run is Successful.
- rollout/pause.go completedPrePromotionAnalysis: a blue-green promotes only after its
  prePromotionAnalysis is Successful (or without one).
- analysis/analysis.go assessMetricFailureInconclusiveOrError: a metric ends Inconclusive only
  when inconclusive measurements EXCEED inconclusiveLimit (default 0); Successful once Count
  reaches count, Count growing with Successful, Failed and Inconclusive measurements
  (runMeasurements); a metric without count (and with an interval) never completes.
- utils/evaluate/evaluate.go EvaluateResult: both conditions false -> Inconclusive; only a
  successCondition -> its negation is a failure; ``result[0]`` of an empty result -> Error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import promql_parser

from generator.build.traffic import GATEWAY_API_PLUGIN
from generator.check.controllers.common import Obj, Objects, parse, unwrap
from generator.check.objectfields import as_list, as_map
from generator.errors import Finding

EMPTY_GUARD = "len(result) > 0 &&"
# Measurements with enough traffic that a Successful run rests on, at the least.
MIN_CONCLUSIVE = 3


def rollout_findings(objects: Objects) -> list[Finding]:
    found: list[Finding] = []
    judged: set[str] = set()
    for rollout in objects.of_kind("Rollout"):
        strategy = as_map(as_map(rollout.get("spec")).get("strategy"))
        if "canary" in strategy:
            canary = as_map(strategy["canary"])
            found += _canary_traffic(objects, rollout, canary)
            found += _canary_gated(objects, rollout, canary, judged)
        if "blueGreen" in strategy:
            found += _blue_green_gated(objects, rollout, as_map(strategy["blueGreen"]), judged)
    return found


# ------------------------------------------------------------------ traffic


def _canary_traffic(objects: Objects, rollout: Obj, canary: Any) -> list[Finding]:
    stable, preview = canary.get("stableService"), canary.get("canaryService")
    routing = as_map(canary.get("trafficRouting"))
    if not routing:
        if stable or preview:
            return [
                objects.finding(
                    rollout,
                    "spec.strategy.canary.stableService",
                    "a canary with stableService/canaryService but no trafficRouting gets no client traffic: "
                    "Argo Rollouts points the stable Service at the stable pods only",
                    "drop both Services (the model's Service then reaches every pod) or add a traffic router",
                )
            ]
        return []
    if not (stable and preview):
        return [
            objects.finding(
                rollout,
                "spec.strategy.canary.trafficRouting",
                "trafficRouting needs both stableService and canaryService",
                "set both Services",
            )
        ]
    found: list[Finding] = []
    plugin = as_map(as_map(routing.get("plugins")).get(GATEWAY_API_PLUGIN))
    if plugin:
        found += _http_route_splits(objects, rollout, str(plugin.get("httpRoute", "")), str(stable), str(preview))
    nginx = as_map(routing.get("nginx"))
    if nginx:
        found += _ingress_serves(objects, rollout, str(nginx.get("stableIngress", "")), str(stable))
    if not plugin and not nginx:
        found.append(
            objects.finding(
                rollout,
                "spec.strategy.canary.trafficRouting",
                "trafficRouting names no router modelfleet renders objects for",
                "use the Gateway API plugin or NGINX",
            )
        )
    return found


def _http_route_splits(objects: Objects, rollout: Obj, route_name: str, stable: str, canary: str) -> list[Finding]:
    route = objects.named("HTTPRoute", route_name)
    field = f"spec.strategy.canary.trafficRouting.plugins.{GATEWAY_API_PLUGIN}.httpRoute"
    if route is None:
        return [objects.finding(rollout, field, f"HTTPRoute '{route_name}' is not among the objects", "render it")]
    for rule in as_list(as_map(route.get("spec")).get("rules")):
        names = {str(as_map(ref).get("name")) for ref in as_list(as_map(rule).get("backendRefs"))}
        if {stable, canary} <= names:
            return []
    return [
        objects.finding(
            route,
            "spec.rules",
            f"no rule has backendRefs to both '{stable}' and '{canary}': the Gateway API plugin cannot set the weights",
            "give the route's rule both Services as backendRefs",
        )
    ]


def _ingress_serves(objects: Objects, rollout: Obj, ingress_name: str, stable: str) -> list[Finding]:
    ingress = objects.named("Ingress", ingress_name)
    field = "spec.strategy.canary.trafficRouting.nginx.stableIngress"
    if ingress is None:
        return [objects.finding(rollout, field, f"Ingress '{ingress_name}' is not among the objects", "render it")]
    for rule in as_list(as_map(ingress.get("spec")).get("rules")):
        for path in as_list(as_map(as_map(rule).get("http")).get("paths")):
            if as_map(as_map(as_map(path).get("backend")).get("service")).get("name") == stable:
                return []
    return [
        objects.finding(
            ingress,
            "spec.rules",
            f"no rule sends requests to the stable Service '{stable}': Argo Rollouts rejects the Rollout",
            "route the Ingress to the stable Service",
        )
    ]


# ------------------------------------------------------------------ evidence


def _canary_gated(objects: Objects, rollout: Obj, canary: Any, judged: set[str]) -> list[Finding]:
    steps = [as_map(step) for step in as_list(canary.get("steps"))]
    found: list[Finding] = []
    gated = True
    for index, step in enumerate(steps):
        if "setWeight" in step and index and not gated:
            gated = True  # reported once below, at the weight that follows an unjudged one
            found.append(_ungated(objects, rollout, f"spec.strategy.canary.steps[{index}]"))
        if "setWeight" in step:
            gated = False
        if "analysis" in step:
            gated = True
            where = f"spec.strategy.canary.steps[{index}]"
            found += _templates_judge(objects, rollout, as_map(step["analysis"]), where, judged)
    if not gated or not steps:
        found.append(_ungated(objects, rollout, "spec.strategy.canary.steps"))
    return found


def _ungated(objects: Objects, rollout: Obj, field: str) -> Finding:
    return objects.finding(
        rollout,
        field,
        "a canary weight is not followed by an analysis step: the rollout moves on, and is promoted after its "
        "last step, without evidence (a background analysis does not hold promotion)",
        "follow every setWeight with an inline analysis step",
    )


def _blue_green_gated(objects: Objects, rollout: Obj, blue_green: Any, judged: set[str]) -> list[Finding]:
    analysis = as_map(blue_green.get("prePromotionAnalysis"))
    if not analysis:
        return [
            objects.finding(
                rollout,
                "spec.strategy.blueGreen.prePromotionAnalysis",
                "a blue-green without prePromotionAnalysis promotes the preview without evidence",
                "add a prePromotionAnalysis",
            )
        ]
    return _templates_judge(objects, rollout, analysis, "spec.strategy.blueGreen.prePromotionAnalysis", judged)


def _templates_judge(objects: Objects, rollout: Obj, analysis: Any, field: str, judged: set[str]) -> list[Finding]:
    """The templates an analysis runs exist and judge on evidence (each template checked once)."""
    found: list[Finding] = []
    refs = as_list(analysis.get("templates"))
    if not refs:
        found.append(objects.finding(rollout, field, "the analysis names no template", "name the AnalysisTemplate"))
    for ref in refs:
        name = str(as_map(ref).get("templateName", ""))
        template = objects.named("AnalysisTemplate", name)
        if template is None:
            found.append(objects.finding(rollout, field, f"AnalysisTemplate '{name}' is not among the objects", ""))
            continue
        if name not in judged:
            judged.add(name)
            found += list(_metrics_need_evidence(objects, template))
    return found


def _metrics_need_evidence(objects: Objects, template: Obj) -> Iterator[Finding]:
    for index, entry in enumerate(as_list(as_map(template.get("spec")).get("metrics"))):
        metric = as_map(entry)
        field = f"spec.metrics[{index}]"
        count = metric.get("count")
        if not isinstance(count, int) or count < 1:
            yield objects.finding(
                template, f"{field}.count", "a metric without a count never completes an inline analysis", "set count"
            )
            continue
        inconclusive = metric.get("inconclusiveLimit", 0)
        if not isinstance(inconclusive, int) or count - inconclusive < MIN_CONCLUSIVE:
            yield objects.finding(
                template,
                f"{field}.inconclusiveLimit",
                f"with count {count} and inconclusiveLimit {inconclusive} a run succeeds on fewer than "
                f"{MIN_CONCLUSIVE} measurements with enough traffic (inconclusive ones must exceed the limit to count)",
                f"keep count - inconclusiveLimit at {MIN_CONCLUSIVE} or more",
            )
        for condition in ("successCondition", "failureCondition"):
            text = str(metric.get(condition, ""))
            if not text.startswith(EMPTY_GUARD):
                yield objects.finding(
                    template,
                    f"{field}.{condition}",
                    f"the {condition} does not start with '{EMPTY_GUARD}': an empty result (too little traffic) "
                    "would be an error or a verdict instead of inconclusive",
                    f"begin both conditions with '{EMPTY_GUARD}'",
                )
        query = str(as_map(as_map(metric.get("provider")).get("prometheus")).get("query", ""))
        if not _guarded_by_traffic(query):
            yield objects.finding(
                template,
                f"{field}.provider.prometheus.query",
                "the query answers whatever the traffic: a few requests would decide the verdict",
                "end it with 'and on() (<requests in the window> >= <minRequests>)'",
            )


def _guarded_by_traffic(query: str) -> bool:
    """``<x> and on() (<requests> >= N)`` with N at least 1 at the top of the expression."""
    node = unwrap(parse(query))
    if not isinstance(node, promql_parser.BinaryExpr) or str(node.op) != "and":
        return False
    guard = unwrap(node.rhs)
    if not isinstance(guard, promql_parser.BinaryExpr) or str(guard.op) != ">=":
        return False
    floor = unwrap(guard.rhs)
    return isinstance(floor, promql_parser.NumberLiteral) and floor.val >= 1


__all__ = ["rollout_findings"]
