"""dashboard: the Grafana dashboard of a model and its ConfigMap, on a copy of the small
valid fleet in tests/invalid/_base/ with a canary model (latency SLO, own metrics), a
blue-green TorchServe model without latency histogram (KEDA) and a GPU model added. Every
query is parsed with a real PromQL parser."""

from __future__ import annotations

import json
import re
import shutil
from itertools import combinations
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from generator.build.dashboard import dashboard, dashboard_configmap, dashboard_sli, dashboard_uid
from generator.build.grafana import layout
from generator.build.identity import common_labels
from generator.build.sli import sli_for
from generator.read.load import load_fleet
from generator.read.parse import parse
from generator.read.resolve import Resolution, ResolvedModel, resolve

BASE = Path(__file__).resolve().parent / "invalid" / "_base"
EXTRA_MODELS = """\
  - name: sentiment
    owner: team-a
    runtime: mlserver
    image: {tag: "1.6.1"}
    rollout: {strategy: canary}
    monitoring:
      slo: {availability: 99.9, windowDays: 28, latency: {thresholdMs: 250, percent: 95}}
      modelMetrics:
        - metric: prediction_confidence_bucket
        - metric: predictions_total
        - metric: feature_drift_score
  - name: classifier
    owner: team-b
    runtime: torchserve
    image: {tag: "0.12.0"}
    rollout: {strategy: blueGreen}
    scaling: {engine: keda, minReplicas: 1, maxReplicas: 4}
  - name: chat
    owner: team-a
    runtime: vllm
    image: {tag: "0.6.3"}
    resources: {gpu: 1}
    scaling: {minReplicas: 1, maxReplicas: 4}
  - name: custom
    owner: team-a
    runtime: python
    image: {tag: "1.0.0"}
    monitoring:
      sli:
        requestRate: sum(rate(my_requests_total{$selector}[$window]))
        errorRatio: sum(rate(my_errors_total{$selector}[$window])) / sum(rate(my_requests_total{$selector}[$window]))
        latencyBucket: my_latency_seconds_bucket{route="/predict"}
"""
NAMES = ("scorer", "ranker", "sentiment", "classifier", "chat", "custom")
SUBSTITUTIONS = {"$namespace": "ns", "$__rate_interval": "5m"}


def make_fleet(root: Path) -> Path:
    shutil.copytree(BASE, root)
    models = root / "models.yaml"
    models.write_text(models.read_text(encoding="utf-8") + EXTRA_MODELS, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Resolution:
    return resolve(parse(load_fleet(make_fleet(tmp_path_factory.mktemp("dashboard") / "fleet"))))


def model(found: Resolution, name: str) -> ResolvedModel:
    [one] = [m for m in found.base if m.name == name]
    return one


def board(found: Resolution, name: str) -> dict[str, Any]:
    one = model(found, name)
    return dashboard(one, dashboard_sli(one))


def panels(found: Resolution, name: str) -> list[dict[str, Any]]:
    return [p for p in board(found, name)["panels"] if p["type"] != "row"]


def titled(found: Resolution, name: str, title: str) -> dict[str, Any]:
    [panel] = [p for p in panels(found, name) if p["title"] == title]
    return panel


def exprs(panel: dict[str, Any]) -> list[str]:
    return [target["expr"] for target in panel["targets"]]


def concrete(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    return expr


# ---------------------------------------------------------------- the JSON model


@pytest.mark.parametrize("name", NAMES)
def test_the_dashboard_is_valid_json_with_its_identity(fleet: Resolution, name: str) -> None:
    result = board(fleet, name)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["schemaVersion"] == 39
    assert result["uid"] == dashboard_uid(name) and len(result["uid"]) <= 40
    assert name in result["title"] and "modelfleet" in result["tags"]
    assert result["links"][0]["url"] == f"https://runbooks.example.com/ml/{name}.md"


@pytest.mark.parametrize("name", NAMES)
def test_one_dashboard_serves_every_environment(fleet: Resolution, name: str) -> None:
    variables = {v["name"]: v for v in board(fleet, name)["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["type"] in {"query", "custom"}
    assert variables["namespace"]["multi"] is False  # queries match namespace="$namespace" exactly
    for panel in panels(fleet, name):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for expr in exprs(panel):
            assert 'namespace="$namespace"' in expr
            assert "ml-prod" not in expr and "ml-dev" not in expr


@pytest.mark.parametrize("name", NAMES)
def test_panel_ids_are_unique_and_panels_do_not_overlap(fleet: Resolution, name: str) -> None:
    every = board(fleet, name)["panels"]
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    boxes = [p["gridPos"] for p in every]
    for box in boxes:
        assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0 and box["x"] + box["w"] <= 24
    for a, b in combinations(boxes, 2):
        apart = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"]
        assert apart or b["y"] + b["h"] <= a["y"], f"{a} overlaps {b}"


@pytest.mark.parametrize("name", NAMES)
def test_every_target_is_valid_promql(fleet: Resolution, name: str) -> None:
    targets = [t for p in panels(fleet, name) for t in p["targets"]]
    assert len(targets) >= 10
    for panel in panels(fleet, name):
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
    for target in targets:
        expr = concrete(target["expr"])
        assert "$" not in expr, f"unknown variable in {target['expr']}"
        promql_parser.parse(expr)  # raises ValueError on bad syntax


def test_the_layout_wraps_rows_and_skips_empty_sections() -> None:
    wide = {"type": "timeseries", "title": "w", "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0}}
    placed = layout([("a", [wide, wide, wide]), ("empty", []), ("b", [wide])])
    assert [(p["type"], p["gridPos"]["x"], p["gridPos"]["y"]) for p in placed] == [
        ("row", 0, 0),
        ("timeseries", 0, 1),
        ("timeseries", 12, 1),
        ("timeseries", 0, 9),
        ("row", 0, 17),
        ("timeseries", 0, 18),
    ]
    assert [p["id"] for p in placed] == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------- the service level


def test_the_sli_panels_use_the_alerts_queries(fleet: Resolution) -> None:
    one = model(fleet, "scorer")
    sli = sli_for(one, "$namespace")
    assert dashboard_sli(one) == sli
    assert exprs(titled(fleet, "scorer", "Request rate")) == [sli.request_rate("5m")]
    assert exprs(titled(fleet, "scorer", "Error ratio")) == [sli.error_ratio("5m"), sli.error_ratio("1h")]


def test_the_error_ratio_is_drawn_against_the_objective(fleet: Resolution) -> None:
    for name, budget in (("scorer", 0.005), ("sentiment", 0.001)):
        panel = titled(fleet, name, "Error ratio")
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[-1] == {"color": "red", "value": budget}
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
    text = dashboard_configmap(model(fleet, "sentiment"), board(fleet, "sentiment"), {})["data"]["sentiment.json"]
    assert '"value": 0.001\n' in text  # exact, not 0.0010000000000000009


def test_the_error_budget_spans_the_slo_window(fleet: Resolution) -> None:
    one = model(fleet, "sentiment")
    [expr] = exprs(titled(fleet, "sentiment", "Error budget remaining (28d)"))
    assert expr == f"1 - ({dashboard_sli(one).error_ratio('28d')} / 0.001)"
    assert titled(fleet, "sentiment", "Error budget remaining (28d)")["type"] == "stat"
    assert titled(fleet, "scorer", "Error budget remaining (30d)")["targets"][0]["instant"] is True


def test_latency_quantiles_are_drawn_against_the_slo_threshold(fleet: Resolution) -> None:
    one = model(fleet, "sentiment")
    panel = titled(fleet, "sentiment", "Latency p50 / p95 / p99")
    sli = dashboard_sli(one)
    assert exprs(panel) == [sli.latency_quantile(q, "5m") for q in (0.5, 0.95, 0.99)]
    assert [t["legendFormat"] for t in panel["targets"]] == ["p50", "p95", "p99"]
    assert panel["fieldConfig"]["defaults"]["unit"] == "s"
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 0.25
    no_slo = titled(fleet, "scorer", "Latency p50 / p95 / p99")  # a histogram, but no latency SLO
    assert no_slo["fieldConfig"]["defaults"]["thresholds"]["steps"] == [{"color": "green", "value": None}]


def test_latency_panels_only_with_a_histogram(fleet: Resolution) -> None:
    assert not dashboard_sli(model(fleet, "classifier")).has_latency  # TorchServe
    assert not any("Latency" in p["title"] for p in panels(fleet, "classifier"))
    for name in ("scorer", "ranker", "sentiment", "chat", "custom"):
        assert any(p["title"].startswith("Latency") for p in panels(fleet, name))


def test_an_sli_override_is_scoped_to_the_namespace_variable(fleet: Resolution) -> None:
    request_rate = exprs(titled(fleet, "custom", "Request rate"))[0]
    assert request_rate == '(sum(rate(my_requests_total{namespace="$namespace",service="custom"}[5m])))'
    latency = exprs(titled(fleet, "custom", "Latency p50 / p95 / p99"))[0]
    assert 'my_latency_seconds_bucket{namespace="$namespace",service="custom",route="/predict"}' in latency


def test_an_sli_for_another_namespace_is_refused(fleet: Resolution) -> None:
    one = model(fleet, "scorer")
    with pytest.raises(ValueError, match="dashboard_sli"):
        dashboard(one, sli_for(one, "ml-prod"))


# ---------------------------------------------------------------- capacity and resources


def test_replicas_come_from_the_workload_and_its_autoscaler(fleet: Resolution) -> None:
    rolling = exprs(titled(fleet, "scorer", "Replicas"))
    assert 'kube_deployment_status_replicas_available{namespace="$namespace",deployment="scorer"}' in rolling[0]
    assert (
        'kube_horizontalpodautoscaler_spec_min_replicas{namespace="$namespace",horizontalpodautoscaler="scorer"}'
        in (rolling[2])
    )
    assert "kube_horizontalpodautoscaler_spec_max_replicas" in rolling[3]
    canary = exprs(titled(fleet, "sentiment", "Replicas"))
    assert 'rollout_info_replicas_available{namespace="$namespace",name="sentiment"}' in canary[0]
    assert 'rollout_info_replicas_available{exported_namespace="$namespace",name="sentiment"}' in canary[0]
    keda = exprs(titled(fleet, "classifier", "Replicas"))
    assert all('horizontalpodautoscaler="keda-hpa-classifier"' in e for e in keda[1:])


def test_cpu_and_memory_are_drawn_against_requests_and_limits(fleet: Resolution) -> None:
    pods = 'namespace="$namespace",pod=~"scorer-[a-z0-9]+-[a-z0-9]+",container="model"'
    for title, usage, resource in (
        ("CPU usage", "container_cpu_usage_seconds_total", "cpu"),
        ("Memory working set", "container_memory_working_set_bytes", "memory"),
    ):
        panel = titled(fleet, "scorer", title)
        found = exprs(panel)
        assert f"{usage}{{{pods}}}" in found[0]
        assert found[1] == f'max(kube_pod_container_resource_requests{{{pods},resource="{resource}"}})'
        assert found[2] == f'max(kube_pod_container_resource_limits{{{pods},resource="{resource}"}})'
        assert [t["legendFormat"] for t in panel["targets"]][1:] == ["request", "limit"]
    pattern = re.compile("scorer-[a-z0-9]+-[a-z0-9]+")
    assert pattern.fullmatch("scorer-7d4b9c6f5-x2k8p")
    assert not pattern.fullmatch("scorer-v2-7d4b9c6f5-x2k8p")  # another model's pod


def test_gpu_panels_only_for_gpu_models(fleet: Resolution) -> None:
    gpu = {p["title"]: exprs(p) for p in panels(fleet, "chat") if "GPU" in p["title"]}
    assert set(gpu) == {"GPU utilisation", "GPU memory"}
    assert "DCGM_FI_DEV_GPU_UTIL" in gpu["GPU utilisation"][0]
    assert "DCGM_FI_DEV_FB_USED" in gpu["GPU memory"][0]
    for name in ("scorer", "ranker", "sentiment", "classifier", "custom"):
        assert not any("GPU" in p["title"] or "DCGM" in json.dumps(p) for p in panels(fleet, name))
    rows = [p["title"] for p in board(fleet, "scorer")["panels"] if p["type"] == "row"]
    assert "GPU" not in rows and "Model metrics" not in rows


# ---------------------------------------------------------------- the model's own metrics


def test_one_panel_per_model_metric(fleet: Resolution) -> None:
    scope = 'namespace="$namespace",service="sentiment"'
    histogram = exprs(titled(fleet, "sentiment", "prediction_confidence_bucket"))
    assert histogram == [
        f"histogram_quantile({q}, sum by (le) (rate(prediction_confidence_bucket{{{scope}}}[$__rate_interval])))"
        for q in ("0.5", "0.9", "0.99")
    ]
    assert exprs(titled(fleet, "sentiment", "predictions_total")) == [
        f"sum(rate(predictions_total{{{scope}}}[$__rate_interval]))"
    ]
    assert exprs(titled(fleet, "sentiment", "feature_drift_score")) == [f"feature_drift_score{{{scope}}}"]


# ---------------------------------------------------------------- identity, ConfigMap, determinism


def test_the_uid_is_short_stable_and_distinct() -> None:
    assert dashboard_uid("scorer") == "modelfleet-scorer"
    long_a, long_b = "a" * 40 + "-one", "a" * 40 + "-two"
    assert len(dashboard_uid(long_a)) <= 40 and dashboard_uid(long_a) == dashboard_uid(long_a)
    assert dashboard_uid(long_a) != dashboard_uid(long_b)
    assert re.fullmatch(r"[a-z0-9-]+", dashboard_uid("x" * 63))


def test_the_configmap_is_discovered_by_the_grafana_sidecar(fleet: Resolution) -> None:
    one = model(fleet, "scorer")
    result = board(fleet, "scorer")
    configmap = dashboard_configmap(one, result, common_labels(one))
    assert configmap["apiVersion"] == "v1" and configmap["kind"] == "ConfigMap"
    assert configmap["metadata"]["name"] == "scorer-dashboard"
    assert configmap["metadata"]["labels"] == {**common_labels(one), "grafana_dashboard": "1"}
    [(key, text)] = configmap["data"].items()
    assert key == "scorer.json"
    assert text == json.dumps(result, indent=2, sort_keys=True) + "\n"
    assert json.loads(text) == result
    assert len(text.encode()) < 256 * 1024  # fits kubectl's last-applied annotation


def test_the_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    texts = []
    for copy in ("a", "b"):
        found = resolve(parse(load_fleet(make_fleet(tmp_path / copy))))
        one = model(found, "sentiment")
        configmap = dashboard_configmap(one, dashboard(one, dashboard_sli(one)), common_labels(one))
        texts.append(json.dumps(configmap, sort_keys=True).encode())
    assert texts[0] == texts[1]


def test_thresholds_are_exact_decimals(fleet: Resolution) -> None:
    for name in NAMES:
        for number in re.findall(r"\d+\.\d+", json.dumps(board(fleet, name))):
            assert not re.search(r"0{6}|9{6}", number), f"float noise in {number}"


def test_a_models_dashboard_text_follows_its_spec_in_every_environment(fleet: Resolution) -> None:
    """model_dashboard_text is shared between a model's base and units only while their
    specs are equal: an environment's override that changes the dashboard gets its own."""
    from dataclasses import replace

    from generator.build.dashboard import dashboard_text, model_dashboard_text

    for env in fleet.environments:
        for one in env.models:
            assert model_dashboard_text(one) == dashboard_text(dashboard(one, dashboard_sli(one)))
    base = model(fleet, "sentiment")
    changed = replace(base, spec=base.spec.model_copy(update={"description": "another description"}))
    assert model_dashboard_text(base) != model_dashboard_text(changed)
    assert model_dashboard_text(changed) == dashboard_text(dashboard(changed, dashboard_sli(changed)))
    assert model_dashboard_text(base) == dashboard_text(dashboard(base, dashboard_sli(base)))
