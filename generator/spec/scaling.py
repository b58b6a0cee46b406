"""How a model scales: replica bounds, the autoscaler (an HPA or KEDA) and its targets, and
the signal that wakes a model scaled to zero."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from generator.spec.base import Spec, field_error, spec_error
from generator.spec.queries import DemandQuery


class ScalingTargets(Spec):
    cpuUtilization: int | None = Field(
        None, ge=1, le=1000, description="Target CPU utilisation in percent of requests."
    )
    memoryUtilization: int | None = Field(
        None, ge=1, le=1000, description="Target memory utilisation in percent of requests."
    )
    latencyP95Ms: int | None = Field(None, ge=1, description="Target p95 latency in milliseconds (custom metric).")
    requestsPerSecond: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Target requests per second per replica (custom metric)."
    )


class WakeUp(Spec):
    router: bool = Field(
        False,
        description="Wake on the requests the environment's router counts for the model (traffic.router: nginx, with expose set); that rate, measured in front of the model, then also drives scaling.targets.requestsPerSecond.",
    )
    query: DemandQuery | None = Field(
        None,
        description="PromQL that measures demand while the model has no pods, such as a queue length (an instant vector; its sum is used). Above 0 it wakes the model, and replicas follow value / perReplica.",
    )
    perReplica: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="With query: how much of the query's value one replica takes on."
    )

    @model_validator(mode="after")
    def _one_signal(self) -> Self:
        if self.router == (self.query is not None):
            raise spec_error(
                "scaling.wakeUp needs exactly one signal: router: true or a query"
                + (" (both are set)" if self.router else ""),
                "write wakeUp: {router: true}, or wakeUp: {query: 'sum(my_queue_length)', perReplica: 10}",
            )
        if (self.query is not None) != (self.perReplica is not None):
            raise field_error(
                "scaling.wakeUp.query and perReplica go together: perReplica is how much of the query's value "
                "one replica takes on",
                "set both, for example query: 'sum(my_queue_length)', perReplica: 10",
                "perReplica" if self.query is not None else "query",
            )
        return self


class Scaling(Spec):
    minReplicas: int = Field(2, ge=0, le=1000, description="Fewest replicas.")
    maxReplicas: int = Field(10, ge=1, le=1000, description="Most replicas.")
    targets: ScalingTargets = Field(
        default_factory=lambda: ScalingTargets(cpuUtilization=70), description="Autoscaling targets."
    )
    engine: Literal["hpa", "keda"] = Field(
        "hpa", description="hpa (autoscaling/v2) or keda (ScaledObject; allows minReplicas: 0)."
    )
    wakeUp: WakeUp | None = Field(
        None,
        description="What wakes a model scaled to zero (minReplicas: 0): a signal that exists while it has no pods. Its own request metrics vanish with its pods.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.minReplicas > self.maxReplicas:
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": f"minReplicas {self.minReplicas} is more than maxReplicas {self.maxReplicas}",
                    "hint": "lower minReplicas or raise maxReplicas",
                    "field": "minReplicas",
                },
            )
        if self.engine == "keda" and not any(v is not None for v in self.targets.model_dump().values()):
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": "scaling.engine keda needs at least one target to scale on",
                    "hint": "set scaling.targets.requestsPerSecond, latencyP95Ms, cpuUtilization or memoryUtilization",
                    "field": "targets",
                },
            )
        if self.wakeUp is not None and self.engine != "keda":
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": "scaling.wakeUp wakes a model from zero replicas, which only KEDA does",
                    "hint": "set scaling.engine: keda, or remove wakeUp",
                    "field": "wakeUp",
                },
            )
        if self.minReplicas == 0 and self.engine == "hpa":
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": "minReplicas 0 needs scale-to-zero, which a HorizontalPodAutoscaler cannot do",
                    "hint": "set scaling.engine: keda, or minReplicas: 1",
                    "field": "minReplicas",
                },
            )
        return self
