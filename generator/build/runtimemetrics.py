"""What each serving runtime's metrics are: the counters of its requests and errors and its
latency histogram (unit, bound spelling, default bounds), with the sources they were read in.

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

from dataclasses import dataclass
from decimal import Decimal

from generator.build.numbertext import Writer, absl_text, bound_spellings, plain


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
        spellings = bound_spellings(value, self.writer)
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
        bounds.append(Decimal(absl_text(Decimal(repr(bound)))))
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
