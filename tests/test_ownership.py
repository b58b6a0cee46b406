"""Property: whatever the strategy, engine and GPU settings, every rendered workload has
exactly one replica owner (its HPA or ScaledObject), never a spec.replicas of its own,
and the owner targets the workload's real kind (Rollout for canary and blue-green)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from generator.errors import ModelfleetError
from generator.pipeline import render

BASE = Path(__file__).resolve().parent / "invalid" / "_base"


@st.composite
def model_settings(draw: st.DrawFn) -> dict[str, Any]:
    minimum = draw(st.integers(0, 3))
    engine = draw(st.sampled_from(["hpa", "keda"]))
    gpu = draw(st.sampled_from([0, 0, 1, 2]))
    targets: dict[str, Any] = {"cpuUtilization": draw(st.integers(30, 90))}
    if draw(st.booleans()):
        targets["requestsPerSecond"] = draw(st.integers(1, 200))
    if draw(st.booleans()):
        targets["latencyP95Ms"] = draw(st.sampled_from([100, 200, 500]))
    scaling: dict[str, Any] = {
        "engine": engine,
        "minReplicas": minimum,
        "maxReplicas": draw(st.integers(max(minimum, 1), 8)),
        "targets": targets,
    }
    if minimum == 0 and engine == "keda":  # scale to zero wakes on a queue, which exists without pods
        scaling["wakeUp"] = {"query": "sum(scoring_queue_length)", "perReplica": 10}
    return {
        "scaling": scaling,
        "rollout": {"strategy": draw(st.sampled_from(["rolling", "canary", "blueGreen"]))},
        "resources": {"gpu": gpu, "spareGpus": draw(st.sampled_from([0, 2, 16]))},
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=model_settings(), second=model_settings())
def test_every_workload_has_exactly_one_replica_owner(
    tmp_path_factory: Any, first: dict[str, Any], second: dict[str, Any]
) -> None:
    fleet = tmp_path_factory.mktemp("fleet") / "fleet"
    shutil.copytree(BASE, fleet)
    spec = yaml.safe_load((fleet / "models.yaml").read_text())
    for model, extra in zip(spec["models"], (first, second), strict=True):
        model.update(extra)
    (fleet / "models.yaml").write_text(yaml.safe_dump(spec))
    try:
        rendered = render(fleet)
    except ModelfleetError:
        assume(False)  # an invalid combination is reported, not rendered: covered in tests/invalid
        return
    for env in rendered.environments:
        workloads = [o for o in env.objects if o["kind"] in {"Deployment", "Rollout"}]
        owners = [o for o in env.objects if o["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}]
        assert len(workloads) == len(owners)
        for workload in workloads:
            assert "replicas" not in workload["spec"]
            ref = {"apiVersion": workload["apiVersion"], "kind": workload["kind"], "name": workload["metadata"]["name"]}
            assert [o["spec"]["scaleTargetRef"] for o in owners].count(ref) == 1
