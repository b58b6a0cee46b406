"""sli: the SLI queries of every runtime, their units, their no-traffic behaviour and the
per-model override, on a copy of the small valid fleet in tests/invalid/_base/ with one model
of each runtime added. Every generated query is parsed with a real PromQL parser; where
promtool is installed, the semantics are checked on synthetic series too."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import promql_parser
import pytest
import yaml

from generator.build.numbertext import Writer
from generator.build.runtimemetrics import (
    MICROSECONDS,
    MILLISECONDS,
    RUNTIME_SLIS,
    SECONDS,
    LatencyHistogram,
    Series,
)
from generator.build.sli import NoLatencyHistogram, Sli, latency_missing, sli_for, window_seconds
from generator.errors import Location, ModelfleetError
from generator.read.load import load_fleet
from generator.read.parse import parse
from generator.read.resolve import ResolvedModel, resolve

REPO = Path(__file__).resolve().parent.parent
BASE = Path(__file__).resolve().parent / "invalid" / "_base"
RUNTIMES = ("python", "mlserver", "triton", "torchserve", "tfserving", "vllm")
EXTRA_MODELS = """\
  - name: sentiment
    owner: team-a
    runtime: mlserver
    image: {tag: "1.6.1"}
  - name: classifier
    owner: team-a
    runtime: torchserve
    image: {tag: "0.12.0"}
  - name: recommender
    owner: team-a
    runtime: tfserving
    image: {tag: "2.17.0"}
  - name: chat
    owner: team-a
    runtime: vllm
    image: {tag: "0.6.3"}
"""
BY_RUNTIME = {
    "python": "scorer",
    "mlserver": "sentiment",
    "triton": "ranker",
    "torchserve": "classifier",
    "tfserving": "recommender",
    "vllm": "chat",
}


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(BASE, root)
    with (root / "models.yaml").open("a", encoding="utf-8") as models:
        models.write(EXTRA_MODELS)
    return root


def set_sli(root: Path, model: str, sli: dict[str, str]) -> None:
    """Add ``monitoring: {sli: ...}`` to ``model`` in models.yaml (a new last line of it)."""
    path = root / "models.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = f"  - name: {model}\n"
    assert text.count(anchor) == 1
    block = "    monitoring:\n      sli:\n" + "".join(f"        {k}: {json.dumps(v)}\n" for k, v in sli.items())
    head, tail = text.split(anchor)
    path.write_text(head + anchor + block + tail, encoding="utf-8")


def resolved(root: Path, name: str, env: str = "prod") -> ResolvedModel:
    resolution = resolve(parse(load_fleet(root)))
    environment = resolution.environment(env)
    assert environment is not None
    [found] = [m for m in environment.models if m.name == name]
    return found


def sli(root: Path, runtime: str, namespace: str | None = "ml-prod") -> Sli:
    return sli_for(resolved(root, BY_RUNTIME[runtime]), namespace)


def all_queries(s: Sli) -> list[str]:
    queries = [s.request_rate("5m"), s.error_ratio("1h"), s.requests_in("2m"), s.up_selector()]
    if s.latency is not None:
        boundaries = s.latency.boundaries_ms() or (Decimal(120),)  # an override's bounds are unknown
        queries += [s.latency_quantile(0.95, "5m"), s.latency_series_selector()]
        queries += [s.latency_good_ratio(b, "30m") for b in boundaries]
    return queries


# ---------------------------------------------------------------- every runtime


def test_the_table_covers_every_runtime_of_the_spec() -> None:
    assert set(RUNTIME_SLIS) == set(RUNTIMES)
    assert all(facts.sources for facts in RUNTIME_SLIS.values())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_yields_valid_scoped_promql(fleet: Path, runtime: str) -> None:
    s = sli(fleet, runtime)
    queries = all_queries(s)
    assert len(queries) >= (4 if runtime == "torchserve" else 7)
    for query in queries:
        promql_parser.parse(query)  # raises ValueError on bad syntax
        assert f'namespace="ml-prod",service="{BY_RUNTIME[runtime]}"' in query
        for label in ('model="', 'model_name="'):  # one server per Service: never filter per model
            assert label not in query


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_shared_base_has_no_namespace(fleet: Path, runtime: str) -> None:
    s = sli(fleet, runtime, namespace=None)
    assert s.scope == f'service="{BY_RUNTIME[runtime]}"'
    assert "namespace" not in s.error_ratio("5m")


def test_the_pods_of_one_replicaset_can_be_selected(fleet: Path) -> None:
    s = sli_for(resolved(fleet, "scorer"), "ml-prod", pod_hash="{{args.canary-hash}}")
    assert 'service="scorer",rollouts_pod_template_hash="{{args.canary-hash}}"' in s.error_ratio("2m")


def test_torchserve_has_no_latency_histogram(fleet: Path) -> None:
    s = sli(fleet, "torchserve")
    assert not s.has_latency
    with pytest.raises(NoLatencyHistogram, match="torchserve"):
        s.latency_quantile(0.95, "5m")
    with pytest.raises(NoLatencyHistogram):
        s.latency_good_ratio(200, "5m")
    with pytest.raises(NoLatencyHistogram):
        s.latency_series_selector()


def test_latency_missing_names_the_field_that_needs_it(fleet: Path) -> None:
    model = resolved(fleet, "classifier")
    finding = latency_missing(model, ("scaling", "targets", "latencyP95Ms"))
    assert (
        finding.message == "scaling.targets.latencyP95Ms needs a latency histogram, and runtime torchserve exposes none"
    )
    assert finding.location is not None and finding.location.file == "models.yaml"
    assert "monitoring.sli.latencyBucket" in finding.hint


def test_only_triton_needs_a_server_flag() -> None:
    assert RUNTIME_SLIS["triton"].server_args == ("--metrics-config=histogram_latencies=true",)
    assert all(not RUNTIME_SLIS[r].server_args for r in RUNTIMES if r != "triton")


# ---------------------------------------------------------------- exact queries

PY = 'namespace="ml-prod",service="scorer"'


def test_python_queries_exactly(fleet: Path) -> None:
    s = sli(fleet, "python")
    assert s.request_rate("2m") == f"sum(rate(http_requests_total{{{PY}}}[2m]))"
    assert s.error_ratio("1h") == (
        f'((sum(rate(http_requests_total{{{PY},status=~"5.."}}[1h])) or vector(0))'
        f" / (sum(rate(http_requests_total{{{PY}}}[1h])) > 0))"
    )
    assert s.requests_in("2m") == f"(sum(increase(http_requests_total{{{PY}}}[2m])) or vector(0))"
    assert s.latency_quantile(0.95, "2m") == (
        f"(histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{PY}}}[2m]))) >= 0)"
    )
    assert s.latency_good_ratio(200, "30m") == (
        f'(sum(rate(http_request_duration_seconds_bucket{{{PY},le="0.2"}}[30m]))'
        f" / (sum(rate(http_request_duration_seconds_count{{{PY}}}[30m])) > 0))"
    )
    assert s.up_selector() == f"up{{{PY}}}"
    assert s.latency_series_selector() == f"http_request_duration_seconds_bucket{{{PY}}}"


def test_triton_queries_exactly(fleet: Path) -> None:
    s = sli(fleet, "triton")
    scope = 'namespace="ml-prod",service="ranker"'
    success = f"sum(rate(nv_inference_request_success{{{scope}}}[5m]))"
    failure = f"sum(rate(nv_inference_request_failure{{{scope}}}[5m]))"
    total = f"(({success} + {failure}) or {success} or {failure})"
    assert s.request_rate("5m") == total
    errors = f'sum(rate(nv_inference_request_failure{{{scope},reason!="CANCELED"}}[5m]))'
    assert s.error_ratio("5m") == f"(({errors} or vector(0)) / ({total} > 0))"
    histogram = "nv_inference_first_response_histogram_ms"
    assert s.latency_quantile(0.99, "5m") == (
        f"(histogram_quantile(0.99, sum by (le) (rate({histogram}_bucket{{{scope}}}[5m]))) / 1000 >= 0)"
    )
    # prometheus-cpp writes le="500"; Prometheus 3 stores it as le="500.0"
    assert s.latency_good_ratio(500, "1h") == (
        f'(sum(rate({histogram}_bucket{{{scope},le=~"500|500[.]0"}}[1h]))'
        f" / (sum(rate({histogram}_count{{{scope}}}[1h])) > 0))"
    )


# ---------------------------------------------------------------- units and bucket boundaries


def test_microseconds_tfserving_divides_by_a_million(fleet: Path) -> None:
    s = sli(fleet, "tfserving")
    assert s.latency_quantile(0.5, "5m").endswith(") / 1000000 >= 0)")
    assert ':tensorflow:serving:request_latency_bucket{namespace="ml-prod",service="recommender",API!=""}' in (
        s.latency_quantile(0.5, "5m")
    )


def test_microseconds_good_ratio_spells_le_in_microseconds(fleet: Path) -> None:
    set_sli(fleet, "chat", {"latencyBucket": 'request_latency_microseconds_bucket{route="/v1/chat"}'})
    s = sli(fleet, "vllm")
    assert s.latency_quantile(0.95, "5m").endswith(") / 1000000 >= 0)")
    # every writer's spelling of 200000 (prometheus_client, Go/C++, Prometheus 3)
    assert 'le=~"200000|200000[.]0|2e[+]05"' in s.latency_good_ratio(200, "5m")


def test_tfserving_bounds_are_printed_like_absl() -> None:
    histogram = RUNTIME_SLIS["tfserving"].latency
    assert histogram is not None and histogram.bounds is not None
    assert [str(b) for b in histogram.bounds[:6]] == ["10", "18", "32.4", "58.32", "104.976", "188.957"]
    assert len(histogram.bounds) == 33
    assert histogram.le_matcher(Decimal("121.44")) == 'le=~"121440|121440[.]0"'
    # no whole number of milliseconds is a TF Serving bound: issue 5 reports the nearest ones
    assert not histogram.is_boundary(200)
    assert histogram.nearest_ms(200) == (Decimal("121.44"), Decimal("218.591"))


def test_a_threshold_between_bounds_is_refused(fleet: Path) -> None:
    s = sli(fleet, "python")
    assert s.latency is not None and not s.latency.is_boundary(120)
    with pytest.raises(ValueError, match=r"120 ms is not a bucket boundary .* nearest: 100 ms and 150 ms"):
        s.latency_good_ratio(120, "5m")


def test_python_bounds_match_the_services_telemetry() -> None:
    """The buckets the python runtime assumes are the ones every service's telemetry.py sets."""
    histogram = RUNTIME_SLIS["python"].latency
    assert histogram is not None and histogram.bounds is not None
    files = sorted((REPO / "services").glob("*/telemetry.py"))
    assert files
    for telemetry in files:
        tree = ast.parse(telemetry.read_text(encoding="utf-8"))
        [buckets] = [
            kw.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for kw in node.keywords
            if kw.arg == "buckets"
        ]
        assert tuple(Decimal(str(v)) for v in ast.literal_eval(buckets)) == histogram.bounds, telemetry


@pytest.mark.parametrize(
    ("runtime", "threshold", "le"),
    [
        ("python", 1000, 'le="1.0"'),
        ("mlserver", 75, 'le="0.075"'),
        ("vllm", 10000, 'le="10.0"'),
        ("triton", 2000, 'le=~"2000|2000[.]0"'),
    ],
)
def test_le_spelling_per_writer(fleet: Path, runtime: str, threshold: int, le: str) -> None:
    assert f"{le}}}" in sli(fleet, runtime).latency_good_ratio(threshold, "5m")


@pytest.mark.parametrize(
    ("writer", "unit", "threshold", "le"),
    [
        ("python", SECONDS, 1000, 'le="1.0"'),  # prometheus_client: repr; Prometheus 3 agrees
        ("python", MICROSECONDS, 1000, 'le="1e+06"'),  # floatToGoString switches to an exponent as Go does
        ("python", MICROSECONDS, 200, 'le="200000.0"'),
        ("cpp", MILLISECONDS, 100, 'le=~"100|100[.]0"'),
        ("cpp", MICROSECONDS, 200, 'le=~"200000[.]0|2e[+]05"'),  # to_chars picks the shorter form
        ("absl", MICROSECONDS, 1500, 'le="1.5e+06"'),  # %.6g; Prometheus 3 agrees
        ("absl", MILLISECONDS, 250, 'le=~"250|250[.]0"'),
        ("unknown", SECONDS, 5, 'le="0.005"'),
        ("unknown", SECONDS, 1000, 'le=~"1|1[.]0"'),
    ],
)
def test_le_spellings(writer: Writer, unit: Decimal, threshold: int, le: str) -> None:
    histogram = LatencyHistogram(Series("latency"), unit, writer, None)
    assert histogram.le_matcher(threshold) == le


def test_numbers_print_without_float_noise(fleet: Path) -> None:
    s = sli(fleet, "python")
    assert "histogram_quantile(0.999," in s.latency_quantile(0.999, "5m")
    assert 'le="0.15"' in s.latency_good_ratio(150, "5m")
    assert "histogram_quantile(0.95," in sli(fleet, "vllm").latency_quantile(0.95, "5m")


def test_bad_windows_and_quantiles_are_refused(fleet: Path) -> None:
    s = sli(fleet, "python")
    for window in ("", "5", "5 m", "0m", "5m]"):
        with pytest.raises(ValueError):
            s.request_rate(window)
    with pytest.raises(ValueError):
        s.latency_quantile(95, "5m")
    assert window_seconds("1h30m") == 5400


# ---------------------------------------------------------------- no traffic


def test_no_traffic_yields_no_error_ratio_rather_than_zero_over_zero(fleet: Path) -> None:
    for runtime in RUNTIMES:
        s = sli(fleet, runtime)
        ratio = s.error_ratio("5m")
        assert " or vector(0)) / (" in ratio and ratio.endswith(" > 0))")  # errors absent -> 0; no requests -> empty
        assert s.requests_in("5m").endswith(" or vector(0))")  # a minRequests guard always sees a number
        if s.latency is not None:
            assert s.latency_quantile(0.95, "5m").endswith(" >= 0)")  # drops histogram_quantile's NaN
            threshold = (s.latency.boundaries_ms() or (Decimal(100),))[0]
            assert s.latency_good_ratio(threshold, "5m").endswith(" > 0))")  # empty when the count stands still


def test_queries_are_safe_operands(fleet: Path) -> None:
    """A caller appends ``>= 50`` or ``and on() ...``: each query must bind as one operand."""
    for runtime in RUNTIMES:
        s = sli(fleet, runtime)
        for query in all_queries(s)[:3]:
            expression = promql_parser.parse(f"{query} >= 50")
            assert isinstance(expression, promql_parser.BinaryExpr)
            assert str(expression.lhs) == str(promql_parser.parse(query))


# ---------------------------------------------------------------- override


def test_override_is_used_verbatim_with_the_window_and_scope_filled_in(fleet: Path) -> None:
    set_sli(
        fleet,
        "scorer",
        {
            "requestRate": "sum(rate(app_predictions_total{$selector}[$window]))",
            "errorRatio": "sum(rate(app_failures_total[$window])) / sum(rate(app_predictions_total[$window]))",
            "latencyBucket": "app_latency_milliseconds_bucket{stage='predict'}",
        },
    )
    s = sli(fleet, "python")
    assert s.request_rate("10m") == f"(sum(rate(app_predictions_total{{{PY}}}[10m])))"
    assert s.error_ratio("1h") == "(sum(rate(app_failures_total[1h])) / sum(rate(app_predictions_total[1h])))"
    assert s.requests_in("2m") == f"((sum(rate(app_predictions_total{{{PY}}}[2m]))) * 120 or vector(0))"
    assert s.up_selector() == f"up{{{PY}}}"
    assert s.latency_series_selector() == f"app_latency_milliseconds_bucket{{{PY},stage='predict'}}"
    assert s.latency_quantile(0.95, "5m").endswith(") / 1000 >= 0)")
    assert f"app_latency_milliseconds_bucket{{{PY},stage='predict',le=~\"120|120[.]0\"}}" in s.latency_good_ratio(
        120, "5m"
    )  # an override's bounds are unknown: any threshold goes, in every spelling
    for query in all_queries(s):
        promql_parser.parse(query)


def test_override_without_window_placeholder_is_a_located_error(fleet: Path) -> None:
    set_sli(fleet, "scorer", {"requestRate": "sum(rate(app_predictions_total[5m]))"})
    with pytest.raises(ModelfleetError) as info:
        sli(fleet, "python")
    [finding] = info.value.findings
    assert finding.message == "monitoring.sli.requestRate has no $window placeholder"
    assert finding.path == "models[0].monitoring.sli.requestRate"
    line = (
        (fleet / "models.yaml")
        .read_text(encoding="utf-8")
        .splitlines()
        .index('        requestRate: "sum(rate(app_predictions_total[5m]))"')
    )
    assert finding.location == Location("models.yaml", line + 1, 22)
    assert "[$window]" in finding.hint


def test_override_problems_are_reported_together(fleet: Path) -> None:
    set_sli(
        fleet,
        "scorer",
        {
            "errorRatio": "sum(rate(app_failures_total[$window]) / sum(rate(app_total[$window]))",
            "latencyBucket": "app_latency_bucket",
            "requestRate": "sum(rate(app_total{$namespace}[$window]))",
        },
    )
    with pytest.raises(ModelfleetError) as info:
        sli(fleet, "python")
    messages = sorted(f.message for f in info.value.findings)
    assert messages[0].startswith("monitoring.sli.errorRatio is not valid PromQL: ")
    assert messages[1].startswith("monitoring.sli.latencyBucket does not say its unit")
    assert messages[2] == (
        "monitoring.sli.requestRate has an unknown placeholder (only $window and $selector are replaced)"
    )


def test_latency_bucket_must_be_a_bucket_series(fleet: Path) -> None:
    set_sli(fleet, "scorer", {"latencyBucket": "rate(app_latency_seconds_bucket[5m])"})
    with pytest.raises(ModelfleetError, match="latencyBucket is not the _bucket series of a histogram"):
        sli(fleet, "python")


def test_override_in_an_environment_is_located_there(fleet: Path) -> None:
    prod = fleet / "environments" / "prod.yaml"
    prod.write_text(
        prod.read_text(encoding="utf-8") + "    monitoring: {sli: {errorRatio: 'sum(rate(x[5m]))'}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelfleetError) as info:
        sli(fleet, "python")
    [finding] = info.value.findings
    assert finding.location is not None and finding.location.file == "environments/prod.yaml"


# ---------------------------------------------------------------- semantics, where promtool is installed

PROMTOOL = shutil.which("promtool")


def promtool_values(tmp_path: Path, series: dict[str, str], expr: str) -> list[str]:
    """The values ``expr`` has at 10m over ``series`` (one sample a minute), via a promtool
    rules test that expects nothing and reads the actual values off the failure report."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": expr}]}]}))
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": name, "values": values} for name, values in series.items()],
                "promql_expr_test": [{"expr": "r", "eval_time": "10m", "exp_samples": [{"labels": "x", "value": 0}]}],
            }
        ],
    }
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(test))
    assert PROMTOOL is not None
    output = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    [got] = re.findall(r"got: (.*)", output.stdout + output.stderr)
    return [format(float(value), ".10g") for value in re.findall(r"\} (\S+)", got)]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_semantics_on_synthetic_series(fleet: Path, tmp_path: Path) -> None:
    s = sli(fleet, "python")
    ok = f'http_requests_total{{{PY},pod="a",status="200"}}'
    bad = f'http_requests_total{{{PY},pod="a",status="503"}}'
    # 98 good and 2 failed requests a minute
    assert promtool_values(tmp_path, {ok: "0+98x10", bad: "0+2x10"}, s.error_ratio("5m")) == ["0.02"]
    # never failed: the 5xx series does not exist, and the ratio is 0, not empty
    assert promtool_values(tmp_path, {ok: "0+98x10"}, s.error_ratio("5m")) == ["0"]
    # no traffic: the counters stand still; no value at all, not NaN
    assert promtool_values(tmp_path, {ok: "100+0x10", bad: "5+0x10"}, s.error_ratio("5m")) == []
    assert promtool_values(tmp_path, {ok: "100+0x10"}, s.requests_in("5m")) == ["0"]
    assert promtool_values(tmp_path, {}, s.requests_in("5m")) == ["0"]
    bucket = f'http_request_duration_seconds_bucket{{{PY},pod="a"'
    count = f'http_request_duration_seconds_count{{{PY},pod="a"}}'
    idle = {f'{bucket},le="0.2"}}': "7+0x10", f'{bucket},le="+Inf"}}': "9+0x10", count: "9+0x10"}
    assert promtool_values(tmp_path, idle, s.latency_quantile(0.95, "5m")) == []
    assert promtool_values(tmp_path, idle, s.latency_good_ratio(200, "5m")) == []
    busy = {f'{bucket},le="0.2"}}': "0+90x10", f'{bucket},le="+Inf"}}': "0+100x10", count: "0+100x10"}
    assert promtool_values(tmp_path, busy, s.latency_good_ratio(200, "5m")) == ["0.9"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_both_le_spellings_match(fleet: Path, tmp_path: Path) -> None:
    s = sli(fleet, "triton")
    scope = 'namespace="ml-prod",service="ranker"'
    name = "nv_inference_first_response_histogram_ms"
    for spelling in ("500", "500.0"):  # as Triton writes it; as Prometheus 3 stores it
        series = {
            f'{name}_bucket{{{scope},le="{spelling}"}}': "0+3x10",
            f"{name}_count{{{scope}}}": "0+4x10",
        }
        assert promtool_values(tmp_path, series, s.latency_good_ratio(500, "5m")) == ["0.75"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_two_request_counters_add_up_and_each_counts_alone(fleet: Path, tmp_path: Path) -> None:
    s = sli(fleet, "tfserving")
    scope = 'namespace="ml-prod",service="recommender"'
    ok = f':tensorflow:serving:request_latency_count{{{scope},API="predict"}}'
    probes = f':tensorflow:serving:request_latency_count{{{scope},API=""}}'
    failed = f':tensorflow:serving:request_count{{{scope},status="INTERNAL"}}'
    bad_input = f':tensorflow:serving:request_count{{{scope},status="INVALID_ARGUMENT"}}'
    assert promtool_values(tmp_path, {ok: "0+60x10", failed: "0+30x10"}, s.request_rate("5m")) == ["1.5"]
    assert promtool_values(tmp_path, {ok: "0+60x10", probes: "0+600x10"}, s.request_rate("5m")) == ["1"]
    assert promtool_values(tmp_path, {failed: "0+60x10"}, s.request_rate("5m")) == ["1"]
    series = {ok: "0+90x10", failed: "0+6x10", bad_input: "0+4x10"}
    assert promtool_values(tmp_path, series, s.error_ratio("5m")) == ["0.06"]
