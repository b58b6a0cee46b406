"""What is watched about a model: its SLOs, operational alerts, SLI overrides for custom apps,
and the metrics it exports about its outputs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from generator.spec.base import Spec
from generator.spec.quantities import Duration, Percent
from generator.spec.queries import AnalysisQuery


class LatencySlo(Spec):
    thresholdMs: int = Field(ge=1, description="A request is good when it completes within this many milliseconds.")
    percent: Percent = Field(description="Percent of requests that must be good.")


class Slo(Spec):
    availability: Percent = Field(99.5, description="Percent of non-5xx responses over windowDays.")
    windowDays: int = Field(30, ge=1, le=90, description="SLO window in days.")
    latency: LatencySlo | None = Field(None, description="Latency objective.")


class PodRestarts(Spec):
    max: int = Field(3, ge=1, description="Restarts tolerated within the window.")
    windowMinutes: int = Field(15, ge=1, le=1440, description="Window in minutes.")


class Alerts(Spec):
    podRestarts: PodRestarts = Field(default_factory=PodRestarts, description="Alert on container restarts.")


class Sli(Spec):
    requestRate: AnalysisQuery | None = Field(
        None,
        description="PromQL for requests per second, overriding the runtime's. Write $window for the range (required) and $selector for the model's namespace/service matchers.",
    )
    errorRatio: AnalysisQuery | None = Field(
        None,
        description="PromQL for the share of failed requests (0..1), overriding the runtime's; $window required, $selector optional.",
    )
    latencyBucket: str | None = Field(
        None,
        min_length=1,
        description="A histogram's _bucket series for latency, such as my_latency_seconds_bucket{handler=\"/predict\"}; the unit comes from the name's suffix (_seconds, _milliseconds, _microseconds).",
    )


class MetricAlert(Spec):
    expr: str = Field(min_length=1, description="PromQL alert expression.")
    for_: Duration = Field("10m", alias="for", description="How long the expression must hold before the alert fires.")
    severity: Literal["page", "ticket"] = Field("ticket", description="page or ticket.")


class ModelMetric(Spec):
    metric: str = Field(
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", description="Prometheus metric the model exports about its outputs."
    )
    alert: MetricAlert | None = Field(None, description="Alert on this metric.")


class Monitoring(Spec):
    slo: Slo = Field(default_factory=Slo, description="Service level objectives.")
    alerts: Alerts = Field(default_factory=Alerts, description="Operational alerts.")
    sli: Sli = Field(default_factory=Sli, description="Override the runtime's SLI queries for custom apps.")
    modelMetrics: list[ModelMetric] = Field(
        default_factory=list, description="Model-specific output metrics and their alerts."
    )
