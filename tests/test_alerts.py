"""alerts: the PrometheusRule of a model, its validation, and the promtool proof that every alert
fires on a synthetic burn and stays silent below it and without traffic.

The fleet is tests/invalid/_base/ with one model of each runtime added. Where promtool is
installed (``make test`` installs it), each runtime's rules pass ``promtool check rules`` and
its generated tests pass ``promtool test rules``."""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from generator.build.alerts import alert_docs, prometheus_rule, validate_monitoring
from generator.build.alerttests import rules_test
from generator.build.identity import common_labels
from generator.build.labelsets import regex_example
from generator.build.promformat import go_float, humanize, humanize_percentage, render
from generator.build.sli import Sli, sli_for
from generator.errors import Finding, Location
from generator.read.load import load_fleet
from generator.read.parse import parse
from generator.read.resolve import ResolvedModel, resolve

BASE = Path(__file__).resolve().parent / "invalid" / "_base"
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool is not installed (`make test` installs it: Debian package prometheus)"
BY_RUNTIME = {
    "python": "scorer",
    "mlserver": "sentiment",
    "triton": "ranker",
    "torchserve": "classifier",
    "tfserving": "recommender",
    "vllm": "chat",
}
EXTRA_MODELS = """\
  - name: sentiment
    owner: team-a
    runtime: mlserver
    image: {tag: "1.6.1"}
    scaling: {engine: keda, minReplicas: 1, maxReplicas: 5, targets: {requestsPerSecond: 5}}
    monitoring:
      slo: {availability: 99, latency: {thresholdMs: 250, percent: 99}}
  - name: classifier
    owner: team-a
    runtime: torchserve
    image: {tag: "0.12.0"}
    monitoring:
      slo: {availability: 99.9, windowDays: 28}
      alerts: {podRestarts: {max: 5, windowMinutes: 30}}
  - name: recommender
    owner: team-a
    runtime: tfserving
    image: {tag: "2.17.0"}
    scaling: {minReplicas: 3, maxReplicas: 3}
    monitoring:
      slo: {availability: 99.5, windowDays: 7}
  - name: chat
    owner: team-b
    runtime: vllm
    image: {tag: "0.8.5"}
    resources: {gpu: 1}
    monitoring:
      slo: {availability: 99.5, latency: {thresholdMs: 10000, percent: 95}}
"""
SCORER = """\
    resources:
      limits: {cpu: "2", memory: 1Gi}
    monitoring:
      slo: {availability: 99.9, latency: {thresholdMs: 200, percent: 99}}
      modelMetrics:
        - metric: scorer_drift_psi
          alert: {expr: "max(scorer_drift_psi) > 0.2", for: 30m, severity: ticket}
        - metric: scorer_positive_rate
"""
RANKER = """\
    monitoring:
      slo: {availability: 99.5, latency: {thresholdMs: 500, percent: 99.5}}
"""
SCALE_TO_ZERO = """\
  sentiment:
    scaling: {minReplicas: 0, wakeUp: {query: 'sum(review_queue_length)', perReplica: 20}}
"""


def insert_after(path: Path, anchor: str, block: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(anchor) == 1, anchor
    head, tail = text.split(anchor)
    path.write_text(head + anchor + block + tail, encoding="utf-8")


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def build_fleet(root: Path) -> Path:
    shutil.copytree(BASE, root)
    models = root / "models.yaml"
    with models.open("a", encoding="utf-8") as stream:
        stream.write(EXTRA_MODELS)
    insert_after(models, "  - name: scorer\n", SCORER)
    insert_after(models, "  - name: ranker\n", RANKER)
    with (root / "environments" / "prod.yaml").open("a", encoding="utf-8") as stream:
        stream.write(SCALE_TO_ZERO)
    return root


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return build_fleet(tmp_path / "fleet")


def resolved(root: Path, name: str, env: str = "prod") -> ResolvedModel:
    environment = resolve(parse(load_fleet(root))).environment(env)
    assert environment is not None
    [found] = [m for m in environment.models if m.name == name]
    return found


def prod(root: Path, runtime: str) -> tuple[ResolvedModel, Sli]:
    model = resolved(root, BY_RUNTIME[runtime])
    return model, sli_for(model, "ml-prod")


def rules_of(model: ResolvedModel, sli: Sli) -> list[dict[str, Any]]:
    return [rule for group in prometheus_rule(model, sli, "prod")["spec"]["groups"] for rule in group["rules"]]


def alerts_of(model: ResolvedModel, sli: Sli) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules_of(model, sli) if "alert" in rule}


# ---------------------------------------------------------------- golden


PAGE = "ModelAvailabilityBurnRate1h"
SCORER_SCOPE = 'model="scorer",namespace="ml-prod"'
PAGE_EXPRESSION = (
    f"(modelfleet:sli_error_ratio:rate1h{{{SCORER_SCOPE}}} > 0.0144"
    f" and modelfleet:sli_error_ratio:rate5m{{{SCORER_SCOPE}}} > 0.0144)"
    f" and on(model, namespace) (modelfleet:sli_requests:rate5m{{{SCORER_SCOPE}}} * 60 >= 1)"
)


def test_python_page_alert_golden(fleet: Path) -> None:
    model, sli = prod(fleet, "python")
    page = alerts_of(model, sli)["ModelAvailabilityBurnRate1h"]
    assert page == {
        "alert": "ModelAvailabilityBurnRate1h",
        "expr": PAGE_EXPRESSION,
        "labels": {"severity": "page", "team": "team-a", "model": "scorer", "environment": "prod"},
        "annotations": {
            "summary": "scorer burns its availability error budget at 14.4x (1h and 5m)",
            "description": "{{ $value | humanizePercentage }} of scorer's requests failed with a server error over the "
            "last 1h (alerting above 1.44%, 14.4x the 0.1% error budget of the 99.9% availability objective over "
            "30 days).",
            "runbook_url": "https://runbooks.example.com/ml/scorer.md#modelavailabilityburnrate1h",
        },
    }
    records = {rule["record"]: rule for rule in rules_of(model, sli) if "record" in rule}
    scope = 'namespace="ml-prod",service="scorer"'
    assert records["modelfleet:sli_error_ratio:rate5m"] == {
        "record": "modelfleet:sli_error_ratio:rate5m",
        "expr": f'((sum(rate(http_requests_total{{{scope},status=~"5.."}}[5m])) or vector(0))'
        f" / (sum(rate(http_requests_total{{{scope}}}[5m])) > 0))",
        "labels": {"model": "scorer", "namespace": "ml-prod"},
    }
    assert records["modelfleet:sli_requests:rate5m"]["expr"] == f"sum(rate(http_requests_total{{{scope}}}[5m]))"
    assert records["modelfleet:sli_latency_bad_ratio:rate1h"]["expr"] == (
        f'(1 - (sum(rate(http_request_duration_seconds_bucket{{{scope},le="0.2"}}[1h]))'
        f" / (sum(rate(http_request_duration_seconds_count{{{scope}}}[1h])) > 0)))"
    )
    ticket = alerts_of(model, sli)["ModelLatencyBurnRate3d"]["expr"]
    assert ticket == (
        f"modelfleet:sli_latency_bad_ratio:rate3d{{{SCORER_SCOPE}}} > 0.01"
        f" and modelfleet:sli_latency_bad_ratio:rate6h{{{SCORER_SCOPE}}} > 0.01"
    )


def test_the_rule_object(fleet: Path) -> None:
    model, sli = prod(fleet, "python")
    rule = prometheus_rule(model, sli, "prod")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"] == {"name": "scorer", "labels": common_labels(model)}
    assert [g["name"] for g in rule["spec"]["groups"]] == [
        "modelfleet.scorer.sli",
        "modelfleet.scorer.slo",
        "modelfleet.scorer.operations",
        "modelfleet.scorer.model-metrics",
    ]
    assert prometheus_rule(model, sli, "prod", labels={"a": "b"})["metadata"]["labels"] == {"a": "b"}


# ---------------------------------------------------------------- every runtime


@pytest.mark.parametrize("runtime", list(BY_RUNTIME))
def test_every_alert_carries_its_labels_annotations_and_runbook(fleet: Path, runtime: str) -> None:
    model, sli = prod(fleet, runtime)
    rules = rules_of(model, sli)
    alerts = [rule for rule in rules if "alert" in rule]
    docs = alert_docs(model)
    assert [rule["alert"] for rule in alerts] == [doc.name for doc in docs]
    assert len({rule["alert"] for rule in alerts}) == len(alerts)
    for rule, doc in zip(alerts, docs, strict=True):
        assert rule["labels"] == {
            "severity": doc.severity,
            "team": model.spec.owner,
            "model": model.name,
            "environment": "prod",
        }
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["summary"] == doc.summary
        assert "{{ $value" in rule["annotations"]["description"]
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        assert rule["annotations"]["runbook_url"] == f"https://runbooks.example.com/ml/{model.name}.md#{anchor}"
        assert anchor == doc.anchor == doc.name.lower()
        assert doc.severity in ("page", "ticket")
        assert len(doc.queries) == 3
    for group in prometheus_rule(model, sli, "prod")["spec"]["groups"]:
        for rule in group["rules"]:
            promql_parser.parse(rule["expr"])
            if not group["name"].endswith(".model-metrics"):  # the spec's own expressions are verbatim
                assert 'namespace="ml-prod"' in rule["expr"]
    for doc in docs:
        for query in doc.queries:
            promql_parser.parse(query)


@pytest.mark.parametrize("runtime", list(BY_RUNTIME))
def test_recording_rules_are_the_sli_over_every_window_the_alerts_read(fleet: Path, runtime: str) -> None:
    model, sli = prod(fleet, runtime)
    records = {rule["record"]: rule for rule in rules_of(model, sli) if "record" in rule}
    windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    for window in windows:
        rule = records[f"modelfleet:sli_error_ratio:rate{window}"]
        assert rule["expr"] == sli.error_ratio(window)  # empty without traffic, never 0/0
        assert rule["labels"] == {"model": model.name, "namespace": "ml-prod"}
    latency = {name for name in records if name.startswith("modelfleet:sli_latency_bad_ratio:")}
    assert len(latency) == (7 if model.spec.monitoring.slo.latency else 0)
    assert {name for name in records if ":sli_requests:" in name} == {
        "modelfleet:sli_requests:rate5m",
        "modelfleet:sli_requests:rate30m",
    }


def test_which_alerts_each_model_gets(fleet: Path) -> None:
    burn = [f"Model{kind}BurnRate{w}" for kind in ("Availability", "Latency") for w in ("1h", "6h", "1d", "3d")]
    operations = ["ModelPodRestarts", "ModelOOMKilled", "ModelCrashLooping", "ModelReplicasAtMax"]
    operations += ["ModelMemoryNearLimit", "ModelTargetDown", "ModelMetricsAbsent"]
    names = {runtime: list(alerts_of(*prod(fleet, runtime))) for runtime in BY_RUNTIME}
    with_cpu_limit = [*operations[:5], "ModelCPUThrottled", *operations[5:]]
    assert names["python"] == [*burn, *with_cpu_limit, "ModelMetricScorerDriftPsi"]
    assert names["triton"] == [*burn, *operations]
    assert names["vllm"] == [*burn, *operations, "ModelGPUIdle", "ModelGPUSaturated"]
    assert names["torchserve"] == [*burn[:4], *operations]  # no latency histogram, no latency SLO
    assert names["tfserving"] == [*burn[:4], *[o for o in operations if o != "ModelReplicasAtMax"]]  # min = max


def test_model_metric_alerts_are_taken_verbatim(fleet: Path) -> None:
    rule = alerts_of(*prod(fleet, "python"))["ModelMetricScorerDriftPsi"]
    assert rule["expr"] == "max(scorer_drift_psi) > 0.2"
    assert rule["for"] == "30m"
    assert rule["labels"]["severity"] == "ticket"


def test_operational_selectors(fleet: Path) -> None:
    rules = alerts_of(*prod(fleet, "python"))
    pods = 'namespace="ml-prod",pod=~"scorer-[a-z0-9]+-[a-z0-9]+",container="model"'
    assert rules["ModelPodRestarts"]["expr"] == (
        f"sum(increase(kube_pod_container_status_restarts_total{{{pods}}}[15m])) > 3"
    )
    assert rules["ModelMemoryNearLimit"]["expr"] == (
        f"max(max by (pod) (container_memory_working_set_bytes{{{pods}}})"
        f' / max by (pod) (kube_pod_container_resource_limits{{{pods},resource="memory"}})) > 0.9'
    )
    assert rules["ModelTargetDown"]["expr"] == 'count(up{namespace="ml-prod",service="scorer"} == 0) > 0'
    assert rules["ModelMetricsAbsent"]["expr"] == 'absent(up{namespace="ml-prod",service="scorer"} == 1)'
    assert 'horizontalpodautoscaler="scorer"' in rules["ModelReplicasAtMax"]["expr"]
    assert rules["ModelReplicasAtMax"]["for"] == "30m"
    restarts = alerts_of(*prod(fleet, "torchserve"))["ModelPodRestarts"]["expr"]
    assert restarts.endswith("[30m])) > 5")  # monitoring.alerts.podRestarts
    assert "pod=~" in restarts
    assert re.fullmatch("scorer-[a-z0-9]+-[a-z0-9]+", "scorer-5d8f9c7b6-x2x4z")
    assert re.fullmatch("scorer-[a-z0-9]+-[a-z0-9]+", "scorer-v2-5d8f9c7b6-x2x4z") is None  # another model's pod


def test_keda_models_watch_the_hpa_keda_creates_and_absence_respects_scale_to_zero(fleet: Path) -> None:
    rules = alerts_of(*prod(fleet, "mlserver"))  # KEDA, minReplicas 0 in prod
    assert 'horizontalpodautoscaler="keda-hpa-sentiment"' in rules["ModelReplicasAtMax"]["expr"]
    assert rules["ModelMetricsAbsent"]["expr"] == (
        'absent(up{namespace="ml-prod",service="sentiment"} == 1) and on() (count(kube_pod_container_info'
        '{namespace="ml-prod",pod=~"sentiment-[a-z0-9]+-[a-z0-9]+",container="model"}) > 0)'
    )


def test_gpu_alerts_read_dcgm_exporter(fleet: Path) -> None:
    rules = alerts_of(*prod(fleet, "vllm"))
    util = 'avg(DCGM_FI_DEV_GPU_UTIL{namespace="ml-prod",pod=~"chat-[a-z0-9]+-[a-z0-9]+",container="model"})'
    assert (rules["ModelGPUIdle"]["expr"], rules["ModelGPUIdle"]["for"]) == (f"{util} < 5", "1h")
    assert (rules["ModelGPUSaturated"]["expr"], rules["ModelGPUSaturated"]["for"]) == (f"{util} > 95", "30m")


def test_factors_follow_the_slo_window(fleet: Path) -> None:
    torchserve = alerts_of(*prod(fleet, "torchserve"))  # 28 days, 99.9
    assert [rule["expr"].split(" > ")[1].split(" ")[0] for rule in list(torchserve.values())[:4]] == [
        "0.01344",
        "0.0056",
        "0.0028",
        "0.0009333",
    ]
    tfserving = alerts_of(*prod(fleet, "tfserving"))  # 7 days, 99.5
    assert " > 0.0168 " in tfserving["ModelAvailabilityBurnRate1h"]["expr"]  # 3.36 x 0.005


def test_the_shared_base_has_no_namespace(fleet: Path) -> None:
    resolution = resolve(parse(load_fleet(fleet)))
    [model] = [m for m in resolution.base if m.name == "scorer"]
    rule = prometheus_rule(model, sli_for(model, None), "base")
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            promql_parser.parse(item["expr"])
            assert "namespace=" not in item["expr"]
    assert rule["spec"]["groups"][0]["rules"][0]["labels"] == {"model": "scorer"}


# ---------------------------------------------------------------- validation


def findings(root: Path, runtime: str) -> list[Finding]:
    return validate_monitoring(*prod(root, runtime))


def line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def test_the_fleet_is_valid(fleet: Path) -> None:
    for runtime in BY_RUNTIME:
        assert findings(fleet, runtime) == []


def test_an_objective_that_makes_a_burn_rate_alert_unreachable(fleet: Path) -> None:
    models = fleet / "models.yaml"
    replace_in(models, "slo: {availability: 99.9, latency:", "slo: {availability: 90, latency:")
    [finding] = findings(fleet, "python")
    assert finding.message == (
        "monitoring.slo.availability 90 makes alert ModelAvailabilityBurnRate1h unreachable: it fires at 14.4x the "
        "10% error budget, a bad-request ratio of 1.44, and no ratio exceeds 1; at factor 14.4 the alert can fire "
        "only with an objective of 93.06 or more"
    )
    assert finding.hint == (
        "raise monitoring.slo.availability to 93.06 or more, or shorten monitoring.slo.windowDays "
        "(factors scale with it)"
    )
    assert finding.path == "models[0].monitoring.slo.availability"
    line = line_of(models, "      slo: {availability: 90, latency: {thresholdMs: 200, percent: 99}}")
    assert finding.location == Location("models.yaml", line, 27)


def test_a_low_latency_objective_makes_three_alerts_unreachable(fleet: Path) -> None:
    replace_in(fleet / "models.yaml", "thresholdMs: 200, percent: 99}", "thresholdMs: 200, percent: 50}")
    messages = [f.message for f in findings(fleet, "python")]
    assert [m.split(" unreachable")[0] for m in messages] == [
        "monitoring.slo.latency.percent 50 makes alert ModelLatencyBurnRate1h",
        "monitoring.slo.latency.percent 50 makes alert ModelLatencyBurnRate6h",
        "monitoring.slo.latency.percent 50 makes alert ModelLatencyBurnRate1d",
    ]
    assert messages[2].endswith(
        "a bad-request ratio of 1.5, and no ratio exceeds 1; at factor 3 the alert can fire "
        "only with an objective of 66.67 or more"
    )


def test_an_objective_inherited_from_the_defaults_is_located_there(fleet: Path) -> None:
    models = fleet / "models.yaml"
    replace_in(models, "defaults:\n", "defaults:\n  monitoring: {slo: {availability: 80}}\n")
    replace_in(models, "slo: {availability: 99.9, windowDays: 28}", "slo: {windowDays: 28}")
    assert findings(fleet, "python") == []  # scorer sets its own objective
    found = findings(fleet, "torchserve")  # classifier: 80 over 28 days: 13.44 x 0.2 and 5.6 x 0.2 exceed 1
    assert [f.message.split(" unreachable")[0] for f in found] == [
        "monitoring.slo.availability 80 makes alert ModelAvailabilityBurnRate1h",
        "monitoring.slo.availability 80 makes alert ModelAvailabilityBurnRate6h",
    ]
    assert [f.path for f in found] == ["defaults.monitoring.slo.availability"] * 2
    line = line_of(models, "  monitoring: {slo: {availability: 80}}")
    assert [f.location for f in found] == [Location("models.yaml", line, 36)] * 2


def test_a_latency_threshold_between_buckets_lists_the_nearest(fleet: Path) -> None:
    models = fleet / "models.yaml"
    replace_in(models, "thresholdMs: 200, percent: 99}", "thresholdMs: 170, percent: 99}")
    [finding] = findings(fleet, "python")
    assert finding.message == (
        "monitoring.slo.latency.thresholdMs 170 is not a bucket boundary of http_request_duration_seconds "
        "(python); the nearest are 150 ms and 200 ms"
    )
    assert finding.hint == (
        "pick 150 ms or 200 ms, or set monitoring.sli.latencyBucket to a histogram with a bucket there"
    )
    assert finding.path == "models[0].monitoring.slo.latency.thresholdMs"


def test_tf_serving_has_no_whole_millisecond_bucket(fleet: Path) -> None:
    replace_in(
        fleet / "models.yaml",
        "slo: {availability: 99.5, windowDays: 7}",
        "slo: {latency: {thresholdMs: 200, percent: 99}}",
    )
    [finding] = findings(fleet, "tfserving")
    assert finding.message == (
        "monitoring.slo.latency.thresholdMs 200 is not a bucket boundary of :tensorflow:serving:request_latency "
        "(tfserving); the nearest are 121.44 ms and 218.591 ms"
    )


def test_a_threshold_past_the_last_bucket(fleet: Path) -> None:
    replace_in(fleet / "models.yaml", "thresholdMs: 10000, percent: 95", "thresholdMs: 90000, percent: 95")
    [finding] = findings(fleet, "vllm")
    assert finding.message.endswith("(vllm); the nearest are 60000 ms")
    assert finding.hint.startswith("pick 60000 ms, or set monitoring.sli.latencyBucket")


def test_a_latency_slo_without_a_histogram(fleet: Path) -> None:
    replace_in(
        fleet / "models.yaml",
        "slo: {availability: 99.9, windowDays: 28}",
        "slo: {latency: {thresholdMs: 100, percent: 99}}",
    )
    [finding] = findings(fleet, "torchserve")
    assert finding.message == "monitoring.slo.latency needs a latency histogram, and runtime torchserve exposes none"
    assert finding.path == "models[3].monitoring.slo.latency"


def test_bad_promql_in_a_model_metric_alert_is_located(fleet: Path) -> None:
    models = fleet / "models.yaml"
    replace_in(models, 'expr: "max(scorer_drift_psi) > 0.2"', 'expr: "max(rate(scorer_drift_psi[5m]) > 0.2"')
    [finding] = findings(fleet, "python")
    assert finding.message == "monitoring.modelMetrics[0].alert.expr is not valid PromQL: unclosed left parenthesis"
    assert finding.path == "models[0].monitoring.modelMetrics[0].alert.expr"
    line = line_of(
        models, '          alert: {expr: "max(rate(scorer_drift_psi[5m]) > 0.2", for: 30m, severity: ticket}'
    )
    assert finding.location == Location("models.yaml", line, 25)


def test_every_problem_is_reported_at_once(fleet: Path) -> None:
    models = fleet / "models.yaml"
    replace_in(models, "availability: 99.9, latency: {thresholdMs: 200", "availability: 90, latency: {thresholdMs: 170")
    replace_in(models, 'expr: "max(scorer_drift_psi) > 0.2"', 'expr: "max(scorer_drift_psi) >"')
    assert len(findings(fleet, "python")) == 3


# ---------------------------------------------------------------- the proof, with promtool


def test_rendering_of_value_matches_prometheus() -> None:
    assert humanize(15.0) == "15"
    assert humanize(1234567.0) == "1.235M"
    assert humanize(0.0123) == "12.3m"
    assert humanize(0.0) == "0"
    assert humanize_percentage(0.01512) == "1.512%"
    assert humanize_percentage(0.95) == "95%"
    assert [go_float(v) for v in (1.0, 0.5, 123456.0, 1e6, 1234567.0, 0.0001, 1e-05, 0.0)] == [
        "1",
        "0.5",
        "123456",
        "1e+06",
        "1.234567e+06",
        "0.0001",
        "1e-05",
        "0",
    ]
    assert render("{{ $value | humanize }} x {{ $value | humanizePercentage }} ({{ $value }})", 1.0) == "1 x 100% (1)"


@pytest.mark.parametrize(
    ("pattern", "example"),
    [
        ("5..", "500"),
        (".+/(infer|generate)(_stream)?", "0/infer"),
        ("UNKNOWN|DEADLINE_EXCEEDED", "UNKNOWN"),
        ("500|500[.]0", "500"),
        ("2e[+]05", "2e+05"),
        ("scorer-[a-z0-9]+-[a-z0-9]+", "scorer-a-a"),
        ("a\\.b*c?", "a."),
    ],
)
def test_regex_example(pattern: str, example: str) -> None:
    assert regex_example(pattern) == example


def test_every_alert_has_a_firing_and_a_silent_check(fleet: Path) -> None:
    model, sli = prod(fleet, "python")
    test = rules_test(model, sli, "prod", "scorer.rules.yaml")
    assert test["rule_files"] == ["scorer.rules.yaml"]
    assert test["evaluation_interval"] == "30m"
    assert test["group_eval_order"][0] == "modelfleet.scorer.sli"  # the SLI before the alerts that read it
    assert len(test["tests"]) == 1  # one storage, a few steps: see generator/build/alerttests.py
    cases: dict[str, list[bool]] = {}
    for case in test["tests"][0]["alert_rule_test"]:
        cases.setdefault(case["alertname"], []).append(bool(case["exp_alerts"]))
    for name, fired in cases.items():
        assert True in fired and False in fired, name
    assert len(cases["ModelAvailabilityBurnRate1h"]) == 4 + 3  # recorded SLI instants + end to end
    assert "ModelMetricScorerDriftPsi" not in cases  # its series are the model's own


def test_a_firing_case_expects_the_exact_labels_and_annotations(fleet: Path) -> None:
    model, sli = prod(fleet, "python")
    test = rules_test(model, sli, "prod", "scorer.rules.yaml")
    group = test["tests"][0]
    series = {spec["series"]: spec["values"] for spec in group["input_series"]}
    recorded = 'modelfleet:sli_error_ratio:rate1h{model="scorer",namespace="ml-prod"}'
    assert series[recorded].startswith("0.01512 _x29 0.01512 _x29 0.01512 _x29 0.01368 stale")
    errors = 'http_requests_total{namespace="ml-prod",service="scorer",status="500"}'
    assert series[errors].startswith("_x91 0x29 0.00756+0.00756x29 18.3708+18.144x")  # 1.05 x 0.0144 of the requests
    page = group["alert_rule_test"][0]
    assert page["eval_time"] == "0m"
    assert page["alertname"] == PAGE
    assert page["exp_alerts"] == [
        {
            "exp_labels": {
                "severity": "page",
                "team": "team-a",
                "model": "scorer",
                "environment": "prod",
                "namespace": "ml-prod",
            },
            "exp_annotations": {
                "summary": "scorer burns its availability error budget at 14.4x (1h and 5m)",
                "description": "1.512% of scorer's requests failed with a server error over the last 1h (alerting "
                "above 1.44%, 14.4x the 0.1% error budget of the 99.9% availability objective over 30 days).",
                "runbook_url": "https://runbooks.example.com/ml/scorer.md#modelavailabilityburnrate1h",
            },
        }
    ]


def write_proof(directory: Path, model: ResolvedModel, sli: Sli) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rule_file, test_file = directory / f"{model.name}.rules.yaml", directory / f"{model.name}.rules-test.yaml"
    groups = prometheus_rule(model, sli, "prod")["spec"]["groups"]
    rule_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    test = rules_test(model, sli, "prod", rule_file.name)
    test_file.write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
    return rule_file, test_file


def promtool(*args: str | Path) -> subprocess.Popen[str]:
    assert PROMTOOL is not None
    return subprocess.Popen([PROMTOOL, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def promtool_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, str, int, str]]]:
    """Check and test the rules of every runtime, the promtool processes running side by side."""
    if PROMTOOL is None:
        pytest.skip(NO_PROMTOOL)
    root = build_fleet(tmp_path_factory.mktemp("alerts") / "fleet")
    started = {}
    for runtime in BY_RUNTIME:
        model, sli = prod(root, runtime)
        rule_file, test_file = write_proof(root / "proof", model, sli)
        started[runtime] = (promtool("check", "rules", rule_file), promtool("test", "rules", test_file))
    results = {}
    for runtime, (check, test) in started.items():
        check_out, _ = check.communicate(timeout=600)
        test_out, _ = test.communicate(timeout=600)
        results[runtime] = (check.returncode, check_out, test.returncode, test_out)
    yield results


@pytest.mark.parametrize("runtime", list(BY_RUNTIME))
def test_promtool_accepts_the_rules_and_passes_the_generated_tests(
    promtool_results: dict[str, tuple[int, str, int, str]], runtime: str
) -> None:
    check_code, check_out, test_code, test_out = promtool_results[runtime]
    assert check_code == 0, check_out
    assert "SUCCESS" in check_out
    assert test_code == 0, test_out
    assert test_out.rstrip().endswith("SUCCESS"), test_out


def mutate(rule_file: Path, alert: str, change: Any) -> None:
    """Apply ``change`` to the rule of ``alert`` in ``rule_file``."""
    rules = yaml.safe_load(rule_file.read_text(encoding="utf-8"))
    [rule] = [rule for group in rules["groups"] for rule in group["rules"] if rule.get("alert") == alert]
    change(rule)
    rule_file.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")


def failures(test_file: Path) -> str:
    process = promtool("test", "rules", test_file)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output
    assert "FAILED" in output
    return output


def replaced(key: str, old: str, new: str) -> Any:
    def change(rule: dict[str, Any]) -> None:
        assert old in rule[key]
        rule[key] = rule[key].replace(old, new)

    return change


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_promtool_fails_when_a_threshold_is_wrong(fleet: Path, tmp_path: Path) -> None:
    """The tests are not vacuous: a page alert at 0.016 instead of 0.0144 misses the 1.05x burn."""
    rule_file, test_file = write_proof(tmp_path / "proof", *prod(fleet, "python"))
    mutate(rule_file, PAGE, replaced("expr", "> 0.0144", "> 0.016"))
    assert f"alertname: {PAGE}, time: 0s" in failures(test_file)


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_promtool_fails_when_only_the_short_window_threshold_is_too_low(fleet: Path, tmp_path: Path) -> None:
    """Each window's threshold on its own: the 5m window at 0.01 fires where the 1h one alone burns."""
    rule_file, test_file = write_proof(tmp_path / "proof", *prod(fleet, "python"))
    mutate(
        rule_file,
        PAGE,
        replaced(
            "expr",
            'rate5m{model="scorer",namespace="ml-prod"} > 0.0144',
            'rate5m{model="scorer",namespace="ml-prod"} > 0.01',
        ),
    )
    assert f"alertname: {PAGE}, time: 30m" in failures(test_file)


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_promtool_fails_when_an_alert_reads_the_wrong_window(fleet: Path, tmp_path: Path) -> None:
    rule_file, test_file = write_proof(tmp_path / "proof", *prod(fleet, "python"))
    name = "ModelAvailabilityBurnRate1d"
    mutate(
        rule_file, name, replaced("expr", "modelfleet:sli_error_ratio:rate1d{", "modelfleet:sli_error_ratio:rate6h{")
    )
    assert f"alertname: {name}" in failures(test_file)


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
@pytest.mark.parametrize(
    "case",
    [
        ("python", "ModelMemoryNearLimit", None, "1h"),  # for: 15m dropped: fires when first seen
        ("vllm", "ModelGPUIdle", "30m", "1h30m"),  # for: 1h shortened: fires a step early
    ],
)
def test_promtool_fails_when_a_for_is_missing_or_shorter(
    fleet: Path, tmp_path: Path, case: tuple[str, str, str | None, str]
) -> None:
    """The pending check one step before the firing one pins each ``for`` to the evaluation step."""
    runtime, alert, hold, when = case
    rule_file, test_file = write_proof(tmp_path / "proof", *prod(fleet, runtime))

    def change(rule: dict[str, Any]) -> None:
        rule.pop("for")
        if hold is not None:
            rule["for"] = hold

    mutate(rule_file, alert, change)
    assert f"alertname: {alert}, time: {when}" in failures(test_file)


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_a_histogram_count_that_counts_requests_gets_a_passing_proof(fleet: Path, tmp_path: Path) -> None:
    """TF Serving's request_latency_count is both the latency histogram's count and the
    counter of successful requests: with availability and latency objectives, the end-to-end
    proof feeds it once, growing as the successes do (the fuzz test found two proofs asking
    for different samples of it)."""
    models = fleet / "models.yaml"
    text = models.read_text(encoding="utf-8")
    old = "      slo: {availability: 99.5, windowDays: 7}\n  - name: chat"
    assert old in text
    new = "      slo: {availability: 99.5, windowDays: 7, latency: {thresholdMs: 252873, percent: 99}}\n  - name: chat"
    models.write_text(text.replace(old, new), encoding="utf-8")
    _, test_file = write_proof(tmp_path / "proof", *prod(fleet, "tfserving"))
    process = promtool("test", "rules", test_file)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
@pytest.mark.parametrize("hold", ["18s", "1h30m", "500ms"])
def test_a_model_metric_alert_with_any_duration_gets_a_passing_proof(fleet: Path, tmp_path: Path, hold: str) -> None:
    """A model's own metric alert may hold for any Prometheus duration (seconds, compound):
    the proof file is still built (the fuzz test found "18s" breaking it) and passes."""
    models = fleet / "models.yaml"
    text = models.read_text(encoding="utf-8")
    old = 'alert: {expr: "max(scorer_drift_psi) > 0.2", for: 30m, severity: ticket}'
    assert old in text
    models.write_text(text.replace(old, old.replace("for: 30m", f"for: {hold}")), encoding="utf-8")
    _, test_file = write_proof(tmp_path / "proof", *prod(fleet, "python"))
    process = promtool("test", "rules", test_file)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_promtool_fails_when_the_sli_selects_another_service(fleet: Path, tmp_path: Path) -> None:
    """End to end: a recording rule that misses the model's series leaves its alerts silent."""
    rule_file, test_file = write_proof(tmp_path / "proof", *prod(fleet, "python"))
    rules = yaml.safe_load(rule_file.read_text(encoding="utf-8"))
    [record] = [
        r for g in rules["groups"] for r in g["rules"] if r.get("record") == "modelfleet:sli_error_ratio:rate1h"
    ]
    record["expr"] = record["expr"].replace('service="scorer"', 'service="scorer-x"')
    rule_file.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    assert f"alertname: {PAGE}, time: 3h" in failures(test_file)


# ---------------------------------------------------------------- golden rules, one model per runtime

GOLDEN = Path(__file__).resolve().parent / "golden" / "rules"


@pytest.mark.parametrize("runtime", list(BY_RUNTIME))
def test_golden_rules_per_runtime(fleet: Path, runtime: str, update_golden: bool) -> None:
    """The whole PrometheusRule of one model per runtime, as rendered for prod, against its
    snapshot in tests/golden/rules/ (refresh: `make golden`, then review the diff)."""
    from generator.build.alerts import prometheus_rule
    from generator.output.yamlout import dump_documents

    model, sli = prod(fleet, runtime)
    text = dump_documents([prometheus_rule(model, sli, "prod")], f"golden: the {runtime} model's rules in prod")
    path = GOLDEN / f"{runtime}.yaml"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered"))
        pytest.fail(f"{path.name} differs (run `make golden` if the change is intended):\n{diff[:6000]}")
