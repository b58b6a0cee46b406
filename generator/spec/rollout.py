"""How a model's updates roll out: surge and unavailability, canary steps and analysis,
blue-green promotion, and the second Service a canary or blue-green strategy adds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from generator.spec.base import Spec, spec_error
from generator.spec.quantities import IntOrPercent


class CanaryAnalysis(Spec):
    maxErrorRate: float = Field(
        0.01, gt=0, lt=1, allow_inf_nan=False, description="Highest error ratio the canary may show."
    )
    maxLatencyP95Ms: int = Field(500, ge=1, description="Highest p95 latency the canary may show, in milliseconds.")
    minRequests: int = Field(
        50, ge=0, description="Fewer requests than this in an interval is inconclusive, not a failure."
    )


def _check_steps(value: list[int]) -> list[int]:
    for index, step in enumerate(value):
        if not 1 <= step <= 99:
            raise spec_error(
                f"canary step {step} is outside 1..99", "100 is implied at the end; list the weights before it"
            )
        if index and step <= value[index - 1]:
            raise spec_error(
                f"canary steps must increase strictly: {value[index - 1]} is followed by {step}",
                "sort the weights, for example [10, 25, 50]",
            )
    return value


class Canary(Spec):
    steps: Annotated[list[int], AfterValidator(_check_steps)] = Field(
        default_factory=lambda: [10, 25, 50],
        min_length=1,
        description="Traffic weights in percent, strictly increasing, 1..99.",
    )
    pauseMinutes: int = Field(5, ge=0, le=1440, description="Pause after each step, in minutes.")
    analysis: CanaryAnalysis = Field(default_factory=CanaryAnalysis, description="Automated analysis thresholds.")


class BlueGreen(Spec):
    autoPromote: bool | None = Field(
        None, description="Promote the preview automatically after analysis; off in prod by default."
    )


class Rolling(Spec):
    maxSurge: IntOrPercent | None = Field(
        None, description="Extra pods during an update: a count or a percentage. Default 25%, or 0 for GPU models."
    )
    maxUnavailable: IntOrPercent | None = Field(
        None, description="Pods that may be missing during an update. Default 0, or 1 for GPU models."
    )


class Rollout(Spec):
    strategy: Literal["rolling", "canary", "blueGreen"] = Field("rolling", description="rolling, canary or blueGreen.")
    rolling: Rolling = Field(
        default_factory=Rolling, description="Surge and unavailability of updates (every strategy)."
    )
    canary: Canary = Field(default_factory=Canary, description="Canary settings (strategy: canary).")
    blueGreen: BlueGreen = Field(default_factory=BlueGreen, description="Blue-green settings (strategy: blueGreen).")


# The second Service a strategy adds: <model>-canary, <model>-preview.
SERVICE_SUFFIXES = {"canary": "-canary", "blueGreen": "-preview"}


def service_names(name: str, strategy: str) -> list[str]:
    """The Services of a model under ``strategy``: the stable/active one first."""
    suffix = SERVICE_SUFFIXES.get(strategy)
    return [name] if suffix is None else [name, name + suffix]
