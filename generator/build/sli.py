"""The service level indicators (SLIs) of every serving runtime, defined once.

Three consumers read these queries and nothing else, so their thresholds cannot disagree:
autoscaling (KEDA triggers, prometheus-adapter rules for the HPA), the Argo Rollouts
AnalysisTemplate of canary and blue-green models, and the SLO recording rules and burn-rate
alerts. ``sli_for(model, namespace)`` gives a model's ``Sli``; its methods return PromQL.

Scope. Each pod is scraped once, through the model's prometheus-operator PodMonitor, which
labels every series with ``namespace``, ``pod``, ``service="<model>"`` (a relabeling: Argo
Rollouts points the model's Services at one ReplicaSet each, so scraping through them would
miss pods or count them twice) and, for a Rollout, ``rollouts_pod_template_hash``. Each
selector is scoped with ``namespace="<ns>",service="<model>"`` (no namespace in the shared
base); a canary analysis adds the hash of the pods it judges. Per-model labels of the servers (Triton ``model``,
TF Serving ``model_name``, vLLM ``model_name``) are not filtered: one server per Service.

Semantics, the same for every runtime (each query is one call or is parenthesised, so a
caller may append an operator such as ``>= 50``):

- ``request_rate(w)``: requests per second summed over the pods; empty when none of the
  request series exist (no data), 0 when they exist and did not grow.
- ``error_ratio(w)``: server-side failures / all requests. EMPTY WITHOUT TRAFFIC, never 0/0:
  ``(sum(rate(errors)) or vector(0)) / (sum(rate(requests)) > 0)``. The ``or vector(0)``
  makes a service that never failed read 0 (counters with a status label appear only at
  their first increment); the ``> 0`` filter empties the denominator, hence the result, when
  nothing was served, so alerts stay silent and analysis is inconclusive.
- ``requests_in(w)``: requests served in the window; always one sample (0 without data), for
  ``minRequests`` guards.
- ``latency_quantile(q, w)``: in SECONDS whatever the runtime's unit, from the histogram's
  buckets; the trailing ``>= 0`` drops the NaN ``histogram_quantile`` yields without
  observations, so the result is empty without traffic.
- ``latency_good_ratio(threshold_ms, w)``: share of requests that completed within the
  threshold, ``bucket{le=T} / count``, empty without traffic. T must be a bucket boundary.

``le`` spelling. PromQL matches ``le`` as a string. Each runtime writes its bounds its own way
(prometheus_client ``"0.2"``/``"1.0"``, prometheus-cpp ``"100"``, absl ``"%.6g"``) and
Prometheus 3 rewrites ``le`` on ingestion to OpenMetrics form (``le="100"`` is stored as
``le="100.0"``, https://prometheus.io/docs/prometheus/latest/migration/ "le and quantile label
values"; prometheus/prometheus model/textparse normalizeFloatsInLabelValues and
model/labels/float.go FormatOpenMetricsFloat). The good-ratio therefore matches every spelling
the value can have: ``le="0.2"`` when they agree, ``le=~"100|100[.]0"`` when they differ.

Per-model override (``monitoring.sli``, for custom apps): ``requestRate`` and ``errorRatio``
are PromQL used verbatim with ``$window`` replaced by the range (required) and ``$selector``
by the scope matchers (optional, e.g. ``sum(rate(my_total{$selector}[$window]))``);
``latencyBucket`` is the ``_bucket`` series of a histogram, e.g.
``my_latency_seconds_bucket{route="/predict"}``: the scope is added to its matchers and the
unit is read from the name (``_seconds``, ``_milliseconds``/``_ms``, ``_microseconds``/``_us``).
Each field replaces only its own queries; ``requests_in`` follows ``requestRate``.

Metric names per runtime, read 2026-11 in each project's source (which wins over its docs);
R = requests (all), E = errors (server side), L = latency histogram (unit; default bounds):

- python: R ``http_requests_total{method,path,status}``, E ``status=~"5.."``,
  L ``http_request_duration_seconds`` (s; 0.005 .. 10). Source: services/fraud-detector/
  telemetry.py in this repository (prometheus_client).
- mlserver: R ``rest_server_requests_total{method,path,status_code,app_name}`` on the infer and
  generate paths, E ``status_code=~"5.."``, L ``rest_server_request_duration_seconds`` (s;
  prometheus_client's defaults). Sources: SeldonIO/MLServer mlserver/rest/app.py adds
  starlette_exporter's PrometheusMiddleware with ``prefix=settings.metrics_rest_server_prefix``
  ("rest_server", mlserver/settings.py); stephenhillier/starlette_exporter
  starlette_exporter/middleware.py names ``{prefix}_requests_total`` and
  ``{prefix}_request_duration_seconds`` and passes no buckets. MLServer's docs page
  (https://docs.seldon.ai/mlserver/user-guide/metrics) says ``_requests_duration_seconds``:
  the code says otherwise. /v2/health/* and /metrics are skipped by MLServer; model-ready and
  metadata calls are left out here by the path filter. gRPC traffic is not in these series
  (``model_infer_request_success``/``_failure`` count both protocols but have no histogram).
- triton: R ``nv_inference_request_success`` + ``nv_inference_request_failure``, E the failures
  except ``reason="CANCELED"`` (client cancellations), L ``nv_inference_first_response_histogram_ms``
  (ms; 100, 500, 2000, 5000). Sources: triton-inference-server/server docs/user_guide/metrics.md;
  triton-inference-server/core src/metrics.cc (names), src/metric_model_reporter.h (histograms
  off unless ``--metrics-config=histogram_latencies=true``; the default buckets; per-model
  ``model_metrics`` in config.pbtxt may change them), src/infer_response.cc (observed when a
  request's first response is sent, for every model; Triton 24.11 and later). The summary
  ``nv_inference_request_summary_us`` (``summary_latencies=true``) is not used: summaries can be
  neither aggregated over pods nor turned into a good-ratio. An ensemble's composing models
  are counted too.
- torchserve: R ``ts_inference_requests_total``, E ``Requests5XX``, L none: TorchServe has only
  cumulative-microsecond counters, so there is no latency SLI unless ``monitoring.sli.latencyBucket``
  names a histogram. Sources: pytorch/serve docs/metrics.md, ts/configs/metrics.yaml,
  docs/metrics_api.md (exposition sample; simpleclient 0.9 adds no ``_total``), frontend
  NettyUtils.java (Requests2XX/4XX/5XX per HTTP response of any API, labels Level, Hostname)
  and InferenceRequestHandler.java (ts_inference_requests_total per inference request). Needs
  ``metrics_mode=prometheus`` in config.properties.
- tfserving: R ``:tensorflow:serving:request_latency_count{API!=""}`` (successes) +
  ``:tensorflow:serving:request_count{status!="OK"}`` (failures), E ``request_count`` with the
  gRPC codes served as 5xx, L ``:tensorflow:serving:request_latency{API!=""}`` (us; 10 * 1.8^i,
  i < 33, as %.6g). Sources: tensorflow/serving tensorflow_serving/servables/tensorflow/util.cc
  (``/tensorflow/serving/request_count{model_name,status}``,
  ``/tensorflow/serving/request_latency{model_name,API,entrypoint}`` in microseconds,
  ``Buckets::Exponential(10, 1.8, 33)``), tensorflow_serving/util/prometheus_exporter.cc (``/``
  becomes ``:``; bounds printed with absl::StrCat, i.e. %.6g), model_servers/http_server.cc and
  prediction_service_impl.cc (latency recorded for OK requests only; ToHTTPStatusCode maps
  UNKNOWN, INTERNAL, DATA_LOSS, UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED to 5xx),
  http_rest_api_util.cc (GET model-status requests, the probes among them, have ``API=""``
  yet are counted by request_count, hence the two request terms). Needs the monitoring config
  file. No whole number of milliseconds is one of its bounds.
- vllm: R ``http_requests_total{method,status,handler}``, E ``status="5xx"``,
  L ``vllm:e2e_request_latency_seconds{model_name,engine}`` (s; 0.3 .. 60, the bounds every
  release has; newer ones add 120 .. 7680). Sources: vllm-project/vllm vllm/v1/metrics/loggers.py,
  vllm/entrypoints/serve/instrumentator/metrics.py (prometheus-fastapi-instrumentator's default
  metrics; /health /ping /load /version /server_info /metrics excluded; added by vLLM PRs #15657
  and #15894 in spring 2025, so older vLLM has no ``http_requests_total``);
  trallnag/prometheus-fastapi-instrumentator src/prometheus_fastapi_instrumentator/metrics.py
  (status grouped as "2xx" .. "5xx"). ``vllm:request_success_total`` counts finished requests
  only and has no failure twin, so it is not used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from generator import promql
from generator.errors import Finding, ModelfleetError, path_str
from generator.read.load import FieldPath
from generator.read.resolve import ResolvedModel

WINDOW = "$window"
SELECTOR = "$selector"

Writer = Literal["python", "cpp", "absl", "unknown"]

# ------------------------------------------------------------------ numbers as text


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: Decimal("1E+3") -> "1000", Decimal("0.20") -> "0.2"."""
    return format(value.normalize(), "f")


def _shortest(value: Decimal) -> tuple[str, int]:
    """The shortest digits that round-trip ``float(value)``, and the exponent of the first."""
    exact = Decimal(repr(float(value))).normalize()
    _, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    return "".join(map(str, digits)), len(digits) + exponent - 1


def _fixed(digits: str, exponent: int) -> str:
    if exponent < 0:
        return "0." + "0" * (-exponent - 1) + digits
    if exponent + 1 >= len(digits):
        return digits + "0" * (exponent + 1 - len(digits))
    return f"{digits[: exponent + 1]}.{digits[exponent + 1 :]}"


def _scientific(digits: str, exponent: int) -> str:
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _go(value: Decimal) -> str:
    """Go's strconv.FormatFloat(v, 'g', -1, 64): exponent form below 1e-4 and from 1e6."""
    digits, exponent = _shortest(value)
    return _scientific(digits, exponent) if exponent < -4 or exponent >= 6 else _fixed(digits, exponent)


def _openmetrics(value: Decimal) -> str:
    """Prometheus 3's spelling of a stored ``le`` (labels.FormatOpenMetricsFloat)."""
    text = _go(value)
    return text if "." in text or "e" in text else f"{text}.0"


def _python(value: Decimal) -> str:
    """prometheus_client's floatToGoString."""
    text = repr(float(value))
    dot = text.find(".")
    if dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def _cpp(value: Decimal) -> str:
    """prometheus-cpp: std::to_chars, the shorter of fixed and exponent form (fixed on a tie)."""
    digits, exponent = _shortest(value)
    fixed, scientific = _fixed(digits, exponent), _scientific(digits, exponent)
    return scientific if len(scientific) < len(fixed) else fixed


def _absl(value: Decimal) -> str:
    """absl::StrCat(double), which TF Serving uses: printf's %.6g."""
    return format(float(value), ".6g")


_WRITERS: dict[str, Callable[[Decimal], str]] = {"python": _python, "cpp": _cpp, "absl": _absl}

# ------------------------------------------------------------------ what a runtime exposes


@dataclass(frozen=True)
class Series:
    """A metric name and the runtime's own label matchers (PromQL text, may be empty)."""

    name: str
    matchers: str = ""

    def select(self, scope: str, suffix: str = "", extra: str = "") -> str:
        matchers = ",".join(part for part in (scope, self.matchers, extra) if part)
        return f"{self.name}{suffix}{{{matchers}}}" if matchers else f"{self.name}{suffix}"


@dataclass(frozen=True)
class LatencyHistogram:
    """A latency histogram: ``series`` is its base name (``_bucket``, ``_count`` follow)."""

    series: Series
    unit_ms: Decimal  # milliseconds per unit of `le`: 1000 (seconds), 1, 0.001 (microseconds)
    writer: Writer  # how the runtime spells `le`
    bounds: tuple[Decimal, ...] | None  # default upper bounds as exposed, in the unit; None: unknown

    def boundaries_ms(self) -> tuple[Decimal, ...] | None:
        """The default bucket boundaries in milliseconds (None when unknown, e.g. an override)."""
        if self.bounds is None:
            return None
        return tuple(Decimal(plain(bound * self.unit_ms)) for bound in self.bounds)

    def is_boundary(self, threshold_ms: int | Decimal) -> bool:
        return self.bounds is None or self._in_unit(threshold_ms) in self.bounds

    def nearest_ms(self, threshold_ms: int | Decimal) -> tuple[Decimal | None, Decimal | None]:
        """The boundaries just below and just above ``threshold_ms`` (None past either end)."""
        boundaries = self.boundaries_ms() or ()
        below = [b for b in boundaries if b < Decimal(threshold_ms)]
        above = [b for b in boundaries if b > Decimal(threshold_ms)]
        return (below[-1] if below else None, above[0] if above else None)

    def seconds_divisor(self) -> Decimal:
        return (Decimal(1000) / self.unit_ms).normalize()

    def le_matcher(self, threshold_ms: int | Decimal) -> str:
        """The ``le`` matcher of the bucket at ``threshold_ms``, in every spelling it can have."""
        if not self.is_boundary(threshold_ms):
            below, above = self.nearest_ms(threshold_ms)
            near = " and ".join(plain(b) + " ms" for b in (below, above) if b is not None)
            raise ValueError(f"{threshold_ms} ms is not a bucket boundary of {self.series.name}; nearest: {near}")
        value = self._in_unit(threshold_ms)
        writers = list(_WRITERS.values()) if self.writer == "unknown" else [_WRITERS[self.writer]]
        spellings = sorted({write(value) for write in [*writers, _openmetrics]})
        if len(spellings) == 1:
            return f'le="{spellings[0]}"'
        alternatives = "|".join(s.replace(".", "[.]").replace("+", "[+]") for s in spellings)
        return f'le=~"{alternatives}"'

    def _in_unit(self, threshold_ms: int | Decimal) -> Decimal:
        return (Decimal(threshold_ms) / self.unit_ms).normalize()


@dataclass(frozen=True)
class RuntimeSli:
    """Facts about one runtime's metrics."""

    requests: tuple[Series, ...]  # counters that together count every request (one or two)
    errors: Series  # counter of server-side failures (5xx or the runtime's equivalent)
    latency: LatencyHistogram | None
    sources: tuple[str, ...]
    server_args: tuple[str, ...] = ()  # arguments the server needs for these series to exist

    def __post_init__(self) -> None:
        if len(self.requests) not in (1, 2):
            raise ValueError("requests are counted by one or two counters")


def _decimals(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def _exponential(scale: float, growth: float, count: int) -> tuple[Decimal, ...]:
    """TensorFlow's monitoring::Buckets::Exponential as exposed: multiplied in double, printed %.6g."""
    bounds, bound = [], scale
    for _ in range(count):
        bounds.append(Decimal(_absl(Decimal(repr(bound)))))
        bound *= growth
    return tuple(bounds)


SECONDS, MILLISECONDS, MICROSECONDS = Decimal(1000), Decimal(1), Decimal("0.001")
PROMETHEUS_CLIENT_BUCKETS = _decimals("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1")
PROMETHEUS_CLIENT_BUCKETS += _decimals("2.5", "5", "7.5", "10")
TELEMETRY_BUCKETS = _decimals(
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.15", "0.2", "0.3", "0.5", "1", "2.5", "5", "10"
)
VLLM_E2E_BUCKETS = _decimals("0.3", "0.5", "0.8", "1", "1.5", "2", "2.5", "5", "10", "15", "20", "30", "40", "50", "60")
MLSERVER_INFERENCE_PATHS = 'path=~".+/(infer|generate)(_stream)?"'
TFSERVING_5XX = "UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS"
TRITON_HISTOGRAM_FLAG = "--metrics-config=histogram_latencies=true"

RUNTIME_SLIS: dict[str, RuntimeSli] = {
    "python": RuntimeSli(
        requests=(Series("http_requests_total"),),
        errors=Series("http_requests_total", 'status=~"5.."'),
        latency=LatencyHistogram(Series("http_request_duration_seconds"), SECONDS, "python", TELEMETRY_BUCKETS),
        sources=("services/fraud-detector/telemetry.py",),
    ),
    "mlserver": RuntimeSli(
        requests=(Series("rest_server_requests_total", MLSERVER_INFERENCE_PATHS),),
        errors=Series("rest_server_requests_total", f'{MLSERVER_INFERENCE_PATHS},status_code=~"5.."'),
        latency=LatencyHistogram(
            Series("rest_server_request_duration_seconds", MLSERVER_INFERENCE_PATHS),
            SECONDS,
            "python",
            PROMETHEUS_CLIENT_BUCKETS,
        ),
        sources=(
            "https://github.com/SeldonIO/MLServer/blob/master/mlserver/rest/app.py",
            "https://github.com/SeldonIO/MLServer/blob/master/mlserver/settings.py",
            "https://github.com/stephenhillier/starlette_exporter/blob/master/starlette_exporter/middleware.py",
            "https://docs.seldon.ai/mlserver/user-guide/metrics",
        ),
    ),
    "triton": RuntimeSli(
        requests=(Series("nv_inference_request_success"), Series("nv_inference_request_failure")),
        errors=Series("nv_inference_request_failure", 'reason!="CANCELED"'),
        latency=LatencyHistogram(
            Series("nv_inference_first_response_histogram_ms"),
            MILLISECONDS,
            "cpp",
            _decimals("100", "500", "2000", "5000"),
        ),
        sources=(
            "https://github.com/triton-inference-server/server/blob/main/docs/user_guide/metrics.md",
            "https://github.com/triton-inference-server/core/blob/main/src/metrics.cc",
            "https://github.com/triton-inference-server/core/blob/main/src/metric_model_reporter.h",
            "https://github.com/triton-inference-server/core/blob/main/src/infer_response.cc",
        ),
        server_args=(TRITON_HISTOGRAM_FLAG,),
    ),
    "torchserve": RuntimeSli(
        requests=(Series("ts_inference_requests_total"),),
        errors=Series("Requests5XX"),
        latency=None,
        sources=(
            "https://github.com/pytorch/serve/blob/master/docs/metrics.md",
            "https://github.com/pytorch/serve/blob/master/docs/metrics_api.md",
            "https://github.com/pytorch/serve/blob/master/ts/configs/metrics.yaml",
            "https://github.com/pytorch/serve/blob/master/frontend/server/src/main/java/org/pytorch/serve/util/NettyUtils.java",
        ),
    ),
    "tfserving": RuntimeSli(
        requests=(
            Series(":tensorflow:serving:request_latency_count", 'API!=""'),
            Series(":tensorflow:serving:request_count", 'status!="OK"'),
        ),
        errors=Series(":tensorflow:serving:request_count", f'status=~"{TFSERVING_5XX}"'),
        latency=LatencyHistogram(
            Series(":tensorflow:serving:request_latency", 'API!=""'), MICROSECONDS, "absl", _exponential(10.0, 1.8, 33)
        ),
        sources=(
            "https://github.com/tensorflow/serving/blob/master/tensorflow_serving/servables/tensorflow/util.cc",
            "https://github.com/tensorflow/serving/blob/master/tensorflow_serving/util/prometheus_exporter.cc",
            "https://github.com/tensorflow/serving/blob/master/tensorflow_serving/model_servers/http_server.cc",
            "https://github.com/tensorflow/serving/blob/master/tensorflow_serving/model_servers/http_rest_api_util.cc",
        ),
    ),
    "vllm": RuntimeSli(
        requests=(Series("http_requests_total"),),
        errors=Series("http_requests_total", 'status="5xx"'),
        latency=LatencyHistogram(Series("vllm:e2e_request_latency_seconds"), SECONDS, "python", VLLM_E2E_BUCKETS),
        sources=(
            "https://github.com/vllm-project/vllm/blob/main/vllm/v1/metrics/loggers.py",
            "https://github.com/vllm-project/vllm/blob/main/vllm/entrypoints/serve/instrumentator/metrics.py",
            "https://github.com/trallnag/prometheus-fastapi-instrumentator/blob/master/src/prometheus_fastapi_instrumentator/metrics.py",
            "https://docs.vllm.ai/en/stable/usage/metrics/",
        ),
    ),
}

# ------------------------------------------------------------------ the queries of one model

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}
_DURATION_SECONDS |= {"d": Decimal(86400), "w": Decimal(604800), "y": Decimal(31536000)}


def window_seconds(window: str) -> Decimal:
    """The length of a Prometheus duration such as "5m" or "1h30m", in seconds."""
    parts = _DURATION.findall(window)
    if not parts or "".join(n + u for n, u in parts) != window:
        raise ValueError(f"{window!r} is not a Prometheus duration such as 5m or 1h")
    seconds = sum((int(n) * _DURATION_SECONDS[u] for n, u in parts), Decimal(0))
    if seconds <= 0:
        raise ValueError(f"{window!r} is an empty window")
    return seconds


def _window(window: str) -> str:
    window_seconds(window)
    return window


class NoLatencyHistogram(LookupError):
    """The model's SLI has no latency histogram (TorchServe without an override)."""


@dataclass(frozen=True)
class Sli:
    """The SLI queries of one model in one namespace (see the module docstring)."""

    runtime: str
    scope: str  # label matchers every selector carries: namespace="...",service="..."
    requests: tuple[Series, ...]
    errors: Series
    latency: LatencyHistogram | None
    request_rate_override: str | None = None  # PromQL with $window still in it
    error_ratio_override: str | None = None

    @property
    def has_latency(self) -> bool:
        return self.latency is not None

    def request_rate(self, window: str) -> str:
        """Requests per second summed over the model's pods."""
        if self.request_rate_override is not None:
            return f"({self.request_rate_override.replace(WINDOW, _window(window))})"
        return self._total("rate", _window(window))

    def requests_in(self, window: str) -> str:
        """Requests served in the window (0, never empty, when there are none)."""
        if self.request_rate_override is not None:
            return f"({self.request_rate(window)} * {plain(window_seconds(window))} or vector(0))"
        return f"({self._total('increase', _window(window))} or vector(0))"

    def error_ratio(self, window: str) -> str:
        """Failed / all requests over the window; empty when no request was served."""
        if self.error_ratio_override is not None:
            return f"({self.error_ratio_override.replace(WINDOW, _window(window))})"
        errors = f"sum(rate({self.errors.select(self.scope)}[{_window(window)}]))"
        return f"(({errors} or vector(0)) / ({self._total('rate', window)} > 0))"

    def latency_quantile(self, q: float, window: str) -> str:
        """The q-quantile of request latency in seconds; empty without traffic."""
        histogram = self._histogram()
        if not 0 < q <= 1:
            raise ValueError(f"quantile {q} is not within (0, 1]")
        buckets = f"sum by (le) (rate({histogram.series.select(self.scope, '_bucket')}[{_window(window)}]))"
        quantile = f"histogram_quantile({plain(Decimal(repr(q)))}, {buckets})"
        divisor = histogram.seconds_divisor()
        seconds = quantile if divisor == 1 else f"{quantile} / {plain(divisor)}"
        return f"({seconds} >= 0)"

    def latency_good_ratio(self, threshold_ms: int | Decimal, window: str) -> str:
        """Share of requests completed within ``threshold_ms`` (a bucket boundary)."""
        histogram = self._histogram()
        le = histogram.le_matcher(threshold_ms)
        good = f"sum(rate({histogram.series.select(self.scope, '_bucket', le)}[{_window(window)}]))"
        total = f"sum(rate({histogram.series.select(self.scope, '_count')}[{window}]))"
        return f"({good} / ({total} > 0))"

    def up_selector(self) -> str:
        """The scrape's ``up`` series of the model's pods: they exist while the pods run,
        before any request (the adapter's ``seriesQuery``)."""
        return f"up{{{self.scope}}}"

    def latency_series_selector(self) -> str:
        """The selector of the latency histogram's ``_bucket`` series."""
        return self._histogram().series.select(self.scope, "_bucket")

    def _histogram(self) -> LatencyHistogram:
        if self.latency is None:
            raise NoLatencyHistogram(f"runtime {self.runtime} exposes no latency histogram")
        return self.latency

    def _total(self, function: str, window: str) -> str:
        """The sum of the request counters; with two, either alone counts when the other is absent."""
        terms = [f"sum({function}({series.select(self.scope)}[{window}]))" for series in self.requests]
        if len(terms) == 1:
            return terms[0]
        first, second = terms
        return f"(({first} + {second}) or {first} or {second})"


# ------------------------------------------------------------------ building and validating


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The label a scrape copies from Argo Rollouts' ``rollouts-pod-template-hash`` pod label
# (the PodMonitor's podTargetLabels; the operator's sanitizeLabelName turns '-' into '_').
POD_HASH_SERIES_LABEL = "rollouts_pod_template_hash"


def scope_matchers(namespace: str | None, service: str, pod_hash: str | None = None) -> str:
    pairs = ([("namespace", namespace)] if namespace is not None else []) + [("service", service)]
    if pod_hash is not None:
        pairs.append((POD_HASH_SERIES_LABEL, pod_hash))
    return ",".join(f"{label}={_quote(value)}" for label, value in pairs)


def _syntax_problem(expression: str) -> str | None:
    """Why ``expression`` cannot be an SLI query: every consumer (recording rules, the
    prometheus-adapter, KEDA, Argo Rollouts analysis) reads an instant vector."""
    if "$" in expression:
        return "has an unknown placeholder (only $window and $selector are replaced)"
    return promql.type_problem(expression, promql.INSTANT_VECTOR)


def _finding(model: ResolvedModel, field: str, message: str, hint: str) -> Finding:
    document, doc_path = model.locate(("monitoring", "sli", field))
    return document.finding(doc_path, f"monitoring.sli.{field} {message}", hint)


_EXAMPLES = {
    "requestRate": "sum(rate(my_requests_total{$selector}[$window]))",
    "errorRatio": "sum(rate(my_errors_total{$selector}[$window])) / sum(rate(my_requests_total{$selector}[$window]))",
}


def _expression(model: ResolvedModel, field: str, text: str | None, scope: str, found: list[Finding]) -> str | None:
    if text is None:
        return None
    example = _EXAMPLES[field]
    if WINDOW not in text:
        found.append(_finding(model, field, f"has no {WINDOW} placeholder", f"write the range as [$window]: {example}"))
        return None
    expression = text.replace(SELECTOR, scope)
    problem = _syntax_problem(expression.replace(WINDOW, "5m"))
    if problem is not None:
        found.append(_finding(model, field, problem, f"for example {example}"))
        return None
    return expression


_BUCKET_SELECTOR = re.compile(r"\s*(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\s*(?:\{(?P<matchers>[^{}]*)\})?\s*")
_UNITS = {"seconds": SECONDS, "milliseconds": MILLISECONDS, "ms": MILLISECONDS, "microseconds": MICROSECONDS}
_UNITS["us"] = MICROSECONDS


def _bucket(model: ResolvedModel, text: str, scope: str, found: list[Finding]) -> LatencyHistogram | None:
    hint = 'name the _bucket series of a histogram, e.g. my_latency_seconds_bucket{route="/predict"}'
    match = _BUCKET_SELECTOR.fullmatch(text)
    if match is None:
        found.append(_finding(model, "latencyBucket", "is not the _bucket series of a histogram", hint))
        return None
    unit = _UNITS.get(match["name"].rsplit("_", 1)[-1])
    if unit is None:
        message = (
            "does not say its unit: the name must end in _seconds_bucket, _milliseconds_bucket or _microseconds_bucket"
        )
        found.append(_finding(model, "latencyBucket", message, "rename the metric or record it under such a name"))
        return None
    histogram = LatencyHistogram(Series(match["name"], (match["matchers"] or "").strip()), unit, "unknown", None)
    problem = _syntax_problem(histogram.series.select(scope, "_bucket"))
    if problem is not None:
        found.append(_finding(model, "latencyBucket", problem, hint))
        return None
    return histogram


def sli_for(model: ResolvedModel, namespace: str | None, pod_hash: str | None = None) -> Sli:
    """The SLI of ``model`` scraped in ``namespace`` (None: the shared base), of the pods whose
    ``rollouts-pod-template-hash`` is ``pod_hash`` when given (one ReplicaSet of a Rollout, as
    a canary analysis measures it). Raises ModelfleetError on a bad ``monitoring.sli``."""
    runtime = RUNTIME_SLIS[model.spec.runtime]
    scope = scope_matchers(namespace, model.name, pod_hash)
    override = model.spec.monitoring.sli
    found: list[Finding] = []
    request_rate = _expression(model, "requestRate", override.requestRate, scope, found)
    error_ratio = _expression(model, "errorRatio", override.errorRatio, scope, found)
    latency = runtime.latency
    if override.latencyBucket is not None:
        latency = _bucket(model, override.latencyBucket, scope, found)
    if found:
        raise ModelfleetError(found)
    return Sli(model.spec.runtime, scope, runtime.requests, runtime.errors, latency, request_rate, error_ratio)


def latency_missing(model: ResolvedModel, path: FieldPath) -> Finding:
    """The finding for a field at ``path`` that needs a latency SLI the model does not have."""
    document, doc_path = model.locate(path)
    return document.finding(
        doc_path,
        f"{path_str(path)} needs a latency histogram, and runtime {model.spec.runtime} exposes none",
        "set monitoring.sli.latencyBucket to a histogram's _bucket series, or remove this target",
    )
