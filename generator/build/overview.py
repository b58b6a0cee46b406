"""The fleet at a glance (issue 18): what each model runs in each environment, as plain data.

One row per model (``model_row``: owner, runtime, description, the paths of its runbook,
base and dashboard) and one per (environment, model) (``unit_row``: image, replicas,
scaling signals, rollout, SLOs, alert thresholds). The rows are plain dicts of strings,
numbers and lists. rendered/README.md and ``modelfleet overview`` are made from the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from generator.build.identity import image_reference, image_repository
from generator.build.rollout import auto_promote
from generator.read.resolve import ResolvedModel

STRATEGY_NAMES = {"rolling": "rolling", "canary": "canary", "blueGreen": "blue-green"}


def number(value: float | int | Decimal) -> str:
    """``value`` in its shortest plain decimal form: 99.9, 80, 0.01."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def model_row(model: ResolvedModel, dashboard_path: str) -> dict[str, Any]:
    """A model as models.yaml describes it, with the paths (under rendered/) of its files."""
    spec = model.spec
    return {
        "name": spec.name,
        "description": spec.description,
        "owner": spec.owner,
        "runtime": spec.runtime,
        "runbook": f"runbooks/{spec.name}.md",
        "base": f"base/{spec.name}/",
        "dashboard": dashboard_path,
    }


def _signals(model: ResolvedModel) -> list[str]:
    scaling = model.spec.scaling
    targets = scaling.targets
    signals: list[str] = []
    if targets.cpuUtilization is not None:
        signals.append(f"CPU {targets.cpuUtilization}%")
    if targets.memoryUtilization is not None:
        signals.append(f"memory {targets.memoryUtilization}%")
    if targets.latencyP95Ms is not None:
        signals.append(f"p95 latency {targets.latencyP95Ms} ms")
    if targets.requestsPerSecond is not None:
        signals.append(f"{number(targets.requestsPerSecond)} req/s per replica")
    wake = scaling.wakeUp
    if wake is not None:
        per_replica = number(wake.perReplica or 1)
        signals.append("wakes on router requests" if wake.router else f"wakes on a query ({per_replica} per replica)")
    return signals


def _rollout(model: ResolvedModel) -> str:
    rollout = model.spec.rollout
    if rollout.strategy == "canary":
        steps = "/".join(str(step) for step in rollout.canary.steps)
        return f"canary {steps}%, {rollout.canary.pauseMinutes} min pauses"
    if rollout.strategy == "blueGreen":
        return f"blue-green, auto-promote {'on' if auto_promote(model) else 'off'}"
    return "rolling"


def _slos(model: ResolvedModel) -> list[str]:
    slo = model.spec.monitoring.slo
    lines = [f"availability {number(slo.availability)}% over {slo.windowDays} d"]
    if slo.latency is not None:
        lines.append(f"{number(slo.latency.percent)}% within {slo.latency.thresholdMs} ms")
    return lines


def _alerts(model: ResolvedModel) -> list[str]:
    monitoring = model.spec.monitoring
    restarts = monitoring.alerts.podRestarts
    lines = [f"pod restarts > {restarts.max} in {restarts.windowMinutes} min"]
    if model.spec.rollout.strategy != "rolling":
        analysis = model.spec.rollout.canary.analysis
        errors = number(Decimal(str(analysis.maxErrorRate)) * 100)
        lines.append(f"analysis: errors ≤ {errors}%, p95 ≤ {analysis.maxLatencyP95Ms} ms")
    for metric in monitoring.modelMetrics:
        if metric.alert is not None:
            lines.append(f"{metric.metric}: {metric.alert.expr} for {metric.alert.for_} ({metric.alert.severity})")
    return lines


def unit_row(model: ResolvedModel) -> dict[str, Any]:
    """A model as it runs in its environment."""
    spec = model.spec
    image = spec.image
    return {
        "image": image.tag if image.tag is not None else str(image.digest),
        "imageRef": image_reference(model),
        "repository": image_repository(model),
        "minReplicas": spec.scaling.minReplicas,
        "maxReplicas": spec.scaling.maxReplicas,
        "engine": "KEDA" if spec.scaling.engine == "keda" else "HPA",
        "signals": _signals(model),
        "strategy": STRATEGY_NAMES[spec.rollout.strategy],
        "rollout": _rollout(model),
        "availability": number(spec.monitoring.slo.availability),
        "slos": _slos(model),
        "alerts": _alerts(model),
        "host": spec.expose.host if spec.expose is not None else None,
    }


@dataclass(frozen=True)
class Overview:
    """The fleet at a glance: models in name order, environments in file order, and each
    (environment, model) row (a model an environment does not run has none)."""

    fleet: str
    models: tuple[dict[str, Any], ...]
    environments: tuple[str, ...]
    units: Mapping[str, Mapping[str, dict[str, Any]]]  # environment -> model -> unit_row


def short_image(image: str) -> str:
    """A tag as it is; a digest cut to its first 12 hex digits (the full one is in the page)."""
    return image[: len("sha256:") + 12] if image.startswith("sha256:") else image


def replicas(row: Mapping[str, Any]) -> str:
    return f"{row['minReplicas']}\u2013{row['maxReplicas']}"  # an en dash


def environments_of(overview: Overview, model: str) -> Sequence[str]:
    return [env for env in overview.environments if model in overview.units.get(env, {})]
