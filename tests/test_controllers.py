"""The controller rules of the check stage (generator/controllers): the example fleet's
objects pass them, and each rule rejects an object that reintroduces the behaviour it guards
against. The upstream code each rule follows is cited in its module."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from generator.check.controllers import controller_findings
from generator.pipeline import EnvironmentOutput, Rendered

Objects = list[dict[str, Any]]


@pytest.fixture
def environments(example_render: Rendered) -> dict[str, EnvironmentOutput]:
    return {env.name: env for env in example_render.environments}


def _find(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _messages(env: EnvironmentOutput, objects: Objects, adapter: dict[str, Any] | None = None) -> list[str]:
    findings = controller_findings(env.name, objects, env.adapter_values if adapter is None else adapter)
    return [f"{f.path}: {f.message}" for f in findings]


def test_the_example_fleet_passes_every_rule(environments: dict[str, EnvironmentOutput]) -> None:
    for env in environments.values():
        assert _messages(env, list(env.objects)) == [], env.name


def _broken(env: EnvironmentOutput, change: Callable[[Objects], None]) -> list[str]:
    objects = copy.deepcopy(list(env.objects))
    change(objects)
    return _messages(env, objects)


# ------------------------------------------------------------------ Argo Rollouts


def test_a_canary_with_services_but_no_router_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        canary = _find(objects, "Rollout", "fraud-detector")["spec"]["strategy"]["canary"]
        canary.pop("trafficRouting", None)
        canary["stableService"], canary["canaryService"] = "fraud-detector", "fraud-detector-canary"

    assert any("no client traffic" in m for m in _broken(environments["staging"], change))


def test_a_canary_weight_without_analysis_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        canary = _find(objects, "Rollout", "fraud-detector")["spec"]["strategy"]["canary"]
        canary["steps"] = [s for s in canary["steps"] if "analysis" not in s]
        canary["analysis"] = {"templates": [{"templateName": "fraud-detector"}], "startingStep": 1}

    messages = _broken(environments["staging"], change)
    assert any("without evidence" in m for m in messages), messages


def test_five_inconclusive_measurements_must_not_succeed(environments: dict[str, EnvironmentOutput]) -> None:
    # The configuration the issue found: count 5, inconclusiveLimit 5 ends Successful on no data.
    def change(objects: Objects) -> None:
        for metric in _find(objects, "AnalysisTemplate", "fraud-detector")["spec"]["metrics"]:
            metric["inconclusiveLimit"] = 5

    messages = _broken(environments["staging"], change)
    assert sum("fewer than 3 measurements" in m for m in messages) == 2, messages


def test_an_unguarded_condition_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        metric = _find(objects, "AnalysisTemplate", "fraud-detector")["spec"]["metrics"][0]
        metric["successCondition"] = "result[0] <= 0.01"

    assert any("successCondition does not start" in m for m in _broken(environments["staging"], change))


def test_a_query_without_a_traffic_floor_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        metric = _find(objects, "AnalysisTemplate", "fraud-detector")["spec"]["metrics"][0]
        query = metric["provider"]["prometheus"]["query"]
        metric["provider"]["prometheus"]["query"] = query[: query.index(" and on()")]

    assert any("whatever the traffic" in m for m in _broken(environments["staging"], change))


def test_a_blue_green_without_pre_promotion_analysis_is_rejected(
    environments: dict[str, EnvironmentOutput],
) -> None:
    def change(objects: Objects) -> None:
        del _find(objects, "Rollout", "sentiment")["spec"]["strategy"]["blueGreen"]["prePromotionAnalysis"]

    assert any("promotes the preview without evidence" in m for m in _broken(environments["dev"], change))


# ------------------------------------------------------------------ autoscaling


def test_an_adapter_query_silent_at_rest_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    env = environments["prod"]
    adapter = copy.deepcopy(env.adapter_values)
    for rule in adapter["rules"]["external"]:
        rule["metricsQuery"] = rule["metricsQuery"].removesuffix(" or vector(0)")
    messages = _messages(env, list(env.objects), adapter)
    assert any("never scales down" in m for m in messages), messages


def test_an_adapter_series_query_on_request_counters_is_rejected(
    environments: dict[str, EnvironmentOutput],
) -> None:
    env = environments["prod"]
    adapter = copy.deepcopy(env.adapter_values)
    for rule in adapter["rules"]["external"]:
        rule["seriesQuery"] = rule["seriesQuery"].replace("up{", "http_requests_total{")
    assert any("would not exist" in m for m in _messages(env, list(env.objects), adapter))


def _scaled_objects(objects: Objects) -> Iterator[dict[str, Any]]:
    return (o for o in objects if o["kind"] == "ScaledObject")


def test_scale_to_zero_on_the_models_own_requests_is_rejected(
    environments: dict[str, EnvironmentOutput],
) -> None:
    # The issue's churn-model: minReplicas 0 whose only trigger counts its own pods' requests.
    def change(objects: Objects) -> None:
        scaled = next(_scaled_objects(objects))
        scaled["spec"]["minReplicaCount"] = 0
        name = scaled["spec"]["scaleTargetRef"]["name"]
        query = f'sum(rate(http_requests_total{{namespace="ml-dev",service="{name}"}}[2m])) or vector(0)'
        scaled["spec"]["triggers"] = [
            {"type": "prometheus", "metadata": {"query": query, "threshold": "5"}},
            {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "75"}},
        ]

    assert any("no trigger can become active" in m for m in _broken(environments["dev"], change))


def test_a_keda_query_silent_at_rest_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        for trigger in next(_scaled_objects(objects))["spec"]["triggers"]:
            if trigger["type"] == "prometheus":
                trigger["metadata"]["query"] = trigger["metadata"]["query"].removesuffix(" or vector(0)")

    assert any("may answer nothing" in m for m in _broken(environments["prod"], change))


# ------------------------------------------------------------------ scraping


def test_a_service_monitor_over_two_services_scrapes_twice(environments: dict[str, EnvironmentOutput]) -> None:
    # The layout: a ServiceMonitor selecting a blue-green's active and preview Services.
    def change(objects: Objects) -> None:
        monitor = _find(objects, "PodMonitor", "sentiment")
        objects.remove(monitor)
        selector = {"matchLabels": dict(monitor["spec"]["selector"]["matchLabels"])}
        objects.append(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {"name": "sentiment", "labels": monitor["metadata"]["labels"]},
                "spec": {"selector": selector, "endpoints": [{"port": "metrics"}]},
            }
        )

    messages = _broken(environments["prod"], change)
    assert any("scraped 2 times" in m for m in messages), messages


def test_a_scrape_without_the_service_label_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        del _find(objects, "PodMonitor", "image-classifier")["spec"]["podMetricsEndpoints"][0]["relabelings"]

    assert any("labelled service=(none)" in m for m in _broken(environments["prod"], change))


def test_a_scrape_that_drops_the_pod_hash_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        del _find(objects, "PodMonitor", "fraud-detector")["spec"]["podTargetLabels"]

    assert any("does not keep" in m for m in _broken(environments["prod"], change))


# ------------------------------------------------------------------ routers


def test_a_route_without_the_canary_backend_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        route = _find(objects, "HTTPRoute", "fraud-detector")
        route["spec"]["rules"][0]["backendRefs"] = route["spec"]["rules"][0]["backendRefs"][:1]

    messages = _broken(environments["prod"], change)
    assert any("cannot set the weights" in m for m in messages), messages


def test_an_ingress_that_skips_the_stable_service_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        path = _find(objects, "Ingress", "fraud-detector")["spec"]["rules"][0]["http"]["paths"][0]
        path["backend"]["service"]["name"] = "fraud-detector-canary"

    messages = _broken(environments["dev"], change)
    assert any("Argo Rollouts rejects the Rollout" in m for m in messages), messages


def test_a_routed_canary_without_its_route_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        objects.remove(_find(objects, "HTTPRoute", "fraud-detector"))

    assert any("HTTPRoute 'fraud-detector' is not among" in m for m in _broken(environments["prod"], change))


# ------------------------------------------------------------------ platform and query types


def test_a_monitoring_object_without_the_selector_label_is_rejected(
    environments: dict[str, EnvironmentOutput],
) -> None:
    # The point 6: kube-prometheus-stack selects by release; one object without it is invisible.
    def change(objects: Objects) -> None:
        del _find(objects, "PrometheusRule", "sentiment")["metadata"]["labels"]["release"]

    messages = _broken(environments["prod"], change)
    assert any("PrometheusRule/sentiment" in m and "release=kube-prometheus-stack" in m for m in messages), messages


def test_a_dashboard_without_the_sidecar_label_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        del _find(objects, "ConfigMap", "sentiment-dashboard")["metadata"]["labels"]["grafana_dashboard"]

    assert any("invisible to the Grafana sidecar" in m for m in _broken(environments["prod"], change))


def test_a_keda_query_of_the_wrong_type_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        for trigger in next(_scaled_objects(objects))["spec"]["triggers"]:
            if trigger["type"] == "prometheus":
                trigger["metadata"]["query"] = "sum_over_time(up[5m])[10m:1m]"  # a range vector

    assert any("is a range vector" in m for m in _broken(environments["prod"], change))


def test_a_rule_expression_of_the_wrong_type_is_rejected(environments: dict[str, EnvironmentOutput]) -> None:
    def change(objects: Objects) -> None:
        rule = _find(objects, "PrometheusRule", "fraud-detector")
        rule["spec"]["groups"][0]["rules"][0]["expr"] = 'http_requests_total{service="fraud-detector"}[5m]'

    messages = _broken(environments["prod"], change)
    assert any("PrometheusRule/fraud-detector" in m and "range vector" in m for m in messages), messages
