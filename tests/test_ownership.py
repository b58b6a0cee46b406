"""Property: whatever the strategy, engine and GPU settings, every rendered workload has
exactly one replica owner (its HPA or ScaledObject), never a spec.replicas of its own,
and the owner targets the workload's real kind (Rollout for canary and blue-green).

The strategy draws only valid settings, so every example renders: an invalid combination
is reported, not rendered, and tests/invalid covers those reports."""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.pipeline import render

BASE = Path(__file__).resolve().parent / "invalid" / "_base"
MAX_REPLICAS = 8


@dataclass(frozen=True)
class Bounds:
    """What the environments of BASE impose on one model's own replica counts."""

    min_at_most: int  # an environment caps maxReplicas and keeps the model's minReplicas
    max_at_least: int  # an environment raises minReplicas and keeps the model's maxReplicas
    env_max: int  # the highest maxReplicas an environment sets (blue-green needs GPUs for all of them)


@functools.cache
def bounds() -> tuple[Bounds, ...]:
    """Per model of BASE, in order. In an environment, its defaults and then the model's
    override replace the model's own minReplicas and maxReplicas (generator.resolve)."""
    models = [m["name"] for m in yaml.safe_load((BASE / "models.yaml").read_text(encoding="utf-8"))["models"]]
    files = sorted((BASE / "environments").glob("*.yaml"))
    environments = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in files]
    found: list[Bounds] = []
    for name in models:
        min_at_most, max_at_least, env_max = 3, 1, 0
        for env in environments:
            scaling = {
                **((env.get("defaults") or {}).get("scaling") or {}),
                **(((env.get("models") or {}).get(name) or {}).get("scaling") or {}),
            }
            assert set(scaling) <= {"minReplicas", "maxReplicas"}, f"{env['name']} sets {scaling}: teach bounds()"
            low, high = scaling.get("minReplicas"), scaling.get("maxReplicas")
            if high is not None:
                env_max = max(env_max, high)
                if low is None:
                    min_at_most = min(min_at_most, high)
            if low is not None and high is None:
                max_at_least = max(max_at_least, low)
        found.append(Bounds(min_at_most, max_at_least, env_max))
    return tuple(found)


@st.composite
def model_settings(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """Valid settings for the model at ``index`` of BASE, in every environment of BASE."""
    limits = bounds()[index]
    engine = draw(st.sampled_from(["hpa", "keda"]))
    minimum = draw(st.integers(0 if engine == "keda" else 1, limits.min_at_most))  # an HPA cannot scale to zero
    maximum = draw(st.integers(max(minimum, limits.max_at_least, 1), MAX_REPLICAS))
    gpu = draw(st.sampled_from([0, 0, 1, 2]))
    strategy = draw(st.sampled_from(["rolling", "canary", "blueGreen"]))
    spare = draw(st.sampled_from([0, 2, 16]))
    if strategy == "blueGreen":  # a second full set of pods: their GPUs must be free, in every environment
        spare += gpu * max(maximum, limits.env_max)
    targets: dict[str, Any] = {"cpuUtilization": draw(st.integers(30, 90))}
    if draw(st.booleans()):
        targets["requestsPerSecond"] = draw(st.integers(1, 200))
    if draw(st.booleans()):
        targets["latencyP95Ms"] = draw(st.sampled_from([100, 200, 500]))
    scaling: dict[str, Any] = {"engine": engine, "minReplicas": minimum, "maxReplicas": maximum, "targets": targets}
    if minimum == 0:  # scale to zero wakes on a queue, which exists without pods
        scaling["wakeUp"] = {"query": "sum(scoring_queue_length)", "perReplica": 10}
    return {
        "scaling": scaling,
        "rollout": {"strategy": strategy},
        "resources": {"gpu": gpu, "spareGpus": spare},
    }


@settings(max_examples=25, deadline=None)
@given(first=model_settings(0), second=model_settings(1))
def test_every_workload_has_exactly_one_replica_owner(
    tmp_path_factory: Any, first: dict[str, Any], second: dict[str, Any]
) -> None:
    fleet = tmp_path_factory.mktemp("fleet") / "fleet"
    shutil.copytree(BASE, fleet)
    spec = yaml.safe_load((fleet / "models.yaml").read_text())
    for model, extra in zip(spec["models"], (first, second), strict=True):
        model.update(extra)
    (fleet / "models.yaml").write_text(yaml.safe_dump(spec))
    rendered = render(fleet)  # valid settings: a finding here is a bug in the generator or in model_settings
    for env in rendered.environments:
        workloads = [o for o in env.objects if o["kind"] in {"Deployment", "Rollout"}]
        owners = [o for o in env.objects if o["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}]
        assert len(workloads) == len(owners)
        for workload in workloads:
            assert "replicas" not in workload["spec"]
            ref = {"apiVersion": workload["apiVersion"], "kind": workload["kind"], "name": workload["metadata"]["name"]}
            assert [o["spec"]["scaleTargetRef"] for o in owners].count(ref) == 1
