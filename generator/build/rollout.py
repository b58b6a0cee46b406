"""Rollout strategies: a Deployment RollingUpdate, or an Argo Rollouts Rollout (canary or
blue-green) gated by an AnalysisTemplate built from the model's SLI.

Evidence before promotion. Argo Rollouts promotes a canary once its last step completes,
whatever a background analysis is still doing, and ends a terminated run Successful
(argo-rollouts rollout/sync.go shouldFullPromote; analysis/analysis.go assessMetricStatus).
So every weight is followed by an inline analysis step, which the rollout waits for: a
Successful run moves on, an Inconclusive one pauses the rollout for a person, a Failed one
aborts it (rollout/analysis.go reconcileStepBasedAnalysisRun). Blue-green waits for its
prePromotionAnalysis the same way (rollout/pause.go completedPrePromotionAnalysis).

Too little traffic is never evidence. Each query yields a value only when the judged pods
served at least ``minRequests`` requests in the window; both conditions start with
``len(result) > 0``, so an empty result satisfies neither and the measurement is
Inconclusive, not an Error (utils/evaluate/evaluate.go EvaluateResult). A metric ends
Inconclusive when its inconclusive measurements exceed ``inconclusiveLimit`` and Successful
only after ``count`` measurements (analysis.go assessMetricFailureInconclusiveOrError); Count
grows with Successful, Failed and Inconclusive measurements, never with Errors
(analysis.go runMeasurements). With the limits below a Successful metric therefore rests on
at least ``MIN_CONCLUSIVE`` measurements that had enough traffic.

The judged pods are the newest ReplicaSet's, picked by the ``rollouts-pod-template-hash``
label that the PodMonitor copies onto every series (the analysis argument
``podTemplateHashValue: Latest``, utils/analysis/factory.go): the canary of a canary, the
preview of a blue-green, whether or not a traffic router splits the requests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from generator.build.numbertext import plain
from generator.build.sli import Sli, sli_for
from generator.build.traffic import canary_routing, preview_service, services
from generator.read.resolve import ResolvedModel
from generator.spec.updates import budget

ANALYSIS_WINDOW = "2m"
MEASUREMENTS = 5  # per analysis run, one a minute
FAILURE_LIMIT = 1  # a second failed measurement fails the run
MIN_CONCLUSIVE = 3  # measurements with enough traffic that a Successful run needs at least
INCONCLUSIVE_LIMIT = MEASUREMENTS - MIN_CONCLUSIVE  # one more ends the run Inconclusive
CONSECUTIVE_ERROR_LIMIT = 4  # query errors in a row (Prometheus unreachable) before the run errs
CANARY_HASH_ARG = "canary-hash"
ANALYSIS_NOTE = (
    f"Each query returns a value only when the newest ReplicaSet's pods served at least minRequests "
    f"requests in the last {ANALYSIS_WINDOW}; with less traffic a measurement is inconclusive, never a "
    f"failure. A run succeeds only after {MEASUREMENTS} measurements of which at most {INCONCLUSIVE_LIMIT} "
    f"were inconclusive; one more inconclusive measurement pauses the rollout for a person."
)


def analysis_sli(model: ResolvedModel) -> Sli:
    """The SLI of the newest ReplicaSet's pods, scoped by the AnalysisRun's arguments, so one
    template serves every namespace and every revision."""
    return sli_for(model, "{{args.namespace}}", "{{args." + CANARY_HASH_ARG + "}}")


def _analysis_args() -> list[dict[str, Any]]:
    return [
        {"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": CANARY_HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}},
    ]


def _analysis_ref(model: ResolvedModel) -> dict[str, Any]:
    return {"templates": [{"templateName": model.name}], "args": _analysis_args()}


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
                "count": MEASUREMENTS,
                "failureLimit": FAILURE_LIMIT,
                "inconclusiveLimit": INCONCLUSIVE_LIMIT,
                "consecutiveErrorLimit": CONSECUTIVE_ERROR_LIMIT,
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


def auto_promote(model: ResolvedModel) -> bool:
    """Whether a blue-green rollout promotes by itself: as set, else per environment (not in prod)."""
    configured = model.spec.rollout.blueGreen.autoPromote
    if configured is not None:
        return configured
    env = model.environment
    if env is None:
        return True
    if env.policy.autoPromote is not None:
        return env.policy.autoPromote
    return not (env.name == "prod" or env.name.startswith("prod-"))


def canary_steps(model: ResolvedModel) -> list[dict[str, Any]]:
    """Each weight, its pause, then an analysis the rollout waits for (see the module notes)."""
    canary = model.spec.rollout.canary
    steps: list[dict[str, Any]] = []
    for weight in canary.steps:
        steps.append({"setWeight": weight})
        if canary.pauseMinutes:
            steps.append({"pause": {"duration": f"{canary.pauseMinutes}m"}})
        steps.append({"analysis": _analysis_ref(model)})
    return steps


def strategy(model: ResolvedModel) -> dict[str, Any]:
    spec = model.spec
    update = budget(spec.resources.gpu, spec.rollout.rolling.maxSurge, spec.rollout.rolling.maxUnavailable)
    if spec.rollout.strategy == "canary":
        # Stable and canary Services only with a traffic router (``traffic.canary_routing``):
        # Argo Rollouts points each at one ReplicaSet (rollout/service.go ensureSVCTargets), so
        # without a router the model's Service would reach the stable pods only and the canary
        # no client at all. Without them the Service keeps selecting every pod, and the canary
        # gets its share of requests by its share of replicas.
        return {
            "canary": {
                **canary_routing(model),
                "maxSurge": update.max_surge,
                "maxUnavailable": update.max_unavailable,
                "steps": canary_steps(model),
            }
        }
    return {
        "blueGreen": {
            "activeService": model.name,
            "previewService": preview_service(model),
            "autoPromotionEnabled": auto_promote(model),
            "scaleDownDelaySeconds": 30,
            "prePromotionAnalysis": _analysis_ref(model),
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
