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

Per-model override (``monitoring.sli``, for custom apps): ``requestRate`` and ``errorRatio``
are PromQL used verbatim with ``$window`` replaced by the range (required) and ``$selector``
by the scope matchers (optional, e.g. ``sum(rate(my_total{$selector}[$window]))``);
``latencyBucket`` is the ``_bucket`` series of a histogram, e.g.
``my_latency_seconds_bucket{route="/predict"}``: the scope is added to its matchers and the
unit is read from the name (``_seconds``, ``_milliseconds``/``_ms``, ``_microseconds``/``_us``).
Each field replaces only its own queries; ``requests_in`` follows ``requestRate``.

What each runtime exposes is in ``runtimemetrics``; how a bound is spelled, in ``numbertext``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from generator import promql
from generator.build.numbertext import plain
from generator.build.runtimemetrics import (
    MICROSECONDS,
    MILLISECONDS,
    RUNTIME_SLIS,
    SECONDS,
    LatencyHistogram,
    Series,
)
from generator.errors import Finding, ModelfleetError, path_str
from generator.read.load import FieldPath
from generator.read.resolve import ResolvedModel

WINDOW = "$window"
SELECTOR = "$selector"


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
