"""Rollout strategies: a Deployment RollingUpdate, or an Argo Rollouts Rollout (canary or
blue-green) with an AnalysisTemplate built from the model's SLI.

Analysis is traffic-aware: each query yields a value only when the pods served at least
``minRequests`` requests in the window; otherwise the result is empty, neither the success
nor the failure condition holds, and the measurement is inconclusive (the rollout pauses
for a human) instead of failed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..resolve import ResolvedModel
from ..sli import Sli, sli_for
from ..spec import service_names
from ..updates import budget
from .scaling import plain

ANALYSIS_WINDOW = "2m"
ANALYSIS_NOTE = (
    "Each query returns a value only when the pods served at least minRequests requests in the "
    "window; with less traffic the measurement is inconclusive, never a failure."
)


def analysis_sli(model: ResolvedModel) -> Sli:
    """The SLI scoped by the AnalysisRun's arguments, so one template serves every namespace."""
    return sli_for(model, "{{args.namespace}}", "{{args.service-name}}")


def services(model: ResolvedModel) -> list[str]:
    """The Services of a model: the stable/active one first."""
    return service_names(model.name, model.spec.rollout.strategy)


def _analysis_args(service: str) -> list[dict[str, Any]]:
    return [
        {"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "service-name", "value": service},
    ]


def _guarded(query: str, sli: Sli, min_requests: int) -> str:
    return f"({query}) and on() ({sli.requests_in(ANALYSIS_WINDOW)} >= {min_requests})"


def analysis_metrics(model: ResolvedModel, sli: Sli, prometheus_url: str) -> list[dict[str, Any]]:
    analysis = model.spec.rollout.canary.analysis
    max_error = plain(Decimal(str(analysis.maxErrorRate)))
    max_latency = plain(Decimal(analysis.maxLatencyP95Ms) / 1000)
    checks = [("error-ratio", sli.error_ratio(ANALYSIS_WINDOW), max_error)]
    if sli.has_latency:  # a runtime without a latency histogram is judged on errors alone
        checks.append(("latency-p95-seconds", sli.latency_quantile(0.95, ANALYSIS_WINDOW), max_latency))
    metrics: list[dict[str, Any]] = []
    for name, query, limit in checks:
        measured = "len(result) > 0 && !isNaN(result[0])"
        metrics.append(
            {
                "name": name,
                "interval": "1m",
                "count": 5,
                "failureLimit": 1,
                "consecutiveErrorLimit": 4,
                "inconclusiveLimit": 5,
                "successCondition": f"{measured} && result[0] <= {limit}",
                "failureCondition": f"{measured} && result[0] > {limit}",
                "provider": {
                    "prometheus": {
                        "address": prometheus_url,
                        "query": _guarded(query, sli, analysis.minRequests),
                    }
                },
            }
        )
    return metrics


def _auto_promote(model: ResolvedModel) -> bool:
    configured = model.spec.rollout.blueGreen.autoPromote
    if configured is not None:
        return configured
    env = model.environment
    if env is None:
        return True
    if env.policy.autoPromote is not None:
        return env.policy.autoPromote
    return not (env.name == "prod" or env.name.startswith("prod-"))


def strategy(model: ResolvedModel) -> dict[str, Any]:
    spec = model.spec
    update = budget(spec.resources.gpu, spec.rollout.rolling.maxSurge, spec.rollout.rolling.maxUnavailable)
    stable, other = [*services(model), ""][:2]
    if spec.rollout.strategy == "canary":
        canary = spec.rollout.canary
        steps: list[dict[str, Any]] = []
        for weight in canary.steps:
            steps.append({"setWeight": weight})
            if canary.pauseMinutes:
                steps.append({"pause": {"duration": f"{canary.pauseMinutes}m"}})
        return {
            "canary": {
                "stableService": stable,
                "canaryService": other,
                "maxSurge": update.max_surge,
                "maxUnavailable": update.max_unavailable,
                "analysis": {
                    "templates": [{"templateName": model.name}],
                    "startingStep": 1,
                    "args": _analysis_args(other),
                },
                "steps": steps,
            }
        }
    return {
        "blueGreen": {
            "activeService": stable,
            "previewService": other,
            "autoPromotionEnabled": _auto_promote(model),
            "scaleDownDelaySeconds": 30,
            "prePromotionAnalysis": {"templates": [{"templateName": model.name}], "args": _analysis_args(other)},
        }
    }


def rollout_context(model: ResolvedModel, sli: Sli, prometheus_url: str) -> dict[str, Any]:
    spec = model.spec
    update = budget(spec.resources.gpu, spec.rollout.rolling.maxSurge, spec.rollout.rolling.maxUnavailable)
    argo = spec.rollout.strategy != "rolling"
    return {
        "workload_api_version": "argoproj.io/v1alpha1" if argo else "apps/v1",
        "workload_kind": "Rollout" if argo else "Deployment",
        "max_surge": update.max_surge,
        "max_unavailable": update.max_unavailable,
        "rollout_strategy": strategy(model) if argo else {},
        "service_names": services(model),
        "analysis_metrics": analysis_metrics(model, sli, prometheus_url) if argo else [],
        "analysis_note": ANALYSIS_NOTE,
    }
