"""Build stage: the objects of one model carry the guarantees users rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.build.fetch import VERIFY_SCRIPT
from generator.pipeline import Rendered

REPO = Path(__file__).resolve().parent.parent
ENVIRONMENTS = sorted(path.stem for path in (REPO / "environments").glob("*.yaml"))  # a file per environment

Objects = list[tuple[str, dict[str, Any]]]  # (environment, object)


@pytest.fixture
def objects(example_render: Rendered) -> Objects:
    """Every object of every environment of the example fleet (read-only: shared by the session)."""
    return [(env.name, obj) for env in example_render.environments for obj in env.objects]


def _find(objects: Objects, env: str, kind: str, name: str) -> dict[str, Any]:
    return next(o for e, o in objects if e == env and o["kind"] == kind and o["metadata"]["name"].startswith(name))


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = obj["spec"]["template"]["spec"]
    return pod


def _assert_restricted_and_autoscaler_owned(objects: Objects, env: str, obj: dict[str, Any]) -> None:
    assert "replicas" not in obj["spec"], "the autoscaler owns the replica count"
    name = obj["metadata"]["name"]
    owners = [o for e, o in objects if e == env and o["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}]
    [owner] = [o for o in owners if o["spec"]["scaleTargetRef"]["name"] == name]
    assert owner["spec"]["scaleTargetRef"] == {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name}
    pod = _pod(obj)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod.get("initContainers", []):
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"]["memory"]
        assert container["resources"]["limits"]["memory"]
    [main] = pod["containers"]
    startup = main["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert obj["spec"]["progressDeadlineSeconds"] > budget
    assert {m["mountPath"] for m in main["volumeMounts"]} >= {"/tmp"}
    assert any(c["topologyKey"] == "topology.kubernetes.io/zone" for c in pod["topologySpreadConstraints"])
    assert _find(objects, env, "NetworkPolicy", obj["metadata"]["name"])["spec"]["policyTypes"] == ["Ingress", "Egress"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_workloads_are_restricted_and_autoscaler_owned(env: str, objects: Objects) -> None:
    workloads = [o for e, o in objects if e == env and o["kind"] in {"Deployment", "Rollout"}]
    assert workloads, f"no workload in {env}"
    for obj in workloads:
        try:
            _assert_restricted_and_autoscaler_owned(objects, env, obj)
        except (AssertionError, ValueError) as exc:  # ValueError: no single owner, no single container
            raise AssertionError(f"{env}-{obj['metadata']['name']}: {exc}") from exc


def _workload(objects: Objects, env: str, name: str) -> dict[str, Any]:
    workloads = (o for e, o in objects if e == env and o["kind"] in {"Deployment", "Rollout"})
    return next(o for o in workloads if o["metadata"]["name"] == name)


def test_startup_budget_equals_max_seconds(example_render: Rendered, objects: Objects) -> None:
    resolved = next(m for m in example_render.resolution.base if m.name == "support-llm")
    probe = _pod(_workload(objects, "prod", "support-llm"))["containers"][0]["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] == resolved.spec.startup.maxSeconds == 900


def test_gpu_model_schedules_on_gpus_and_never_surges(objects: Objects) -> None:
    obj = _workload(objects, "prod", "support-llm")
    pod = _pod(obj)
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    hpa = _find(objects, "prod", "HorizontalPodAutoscaler", "support-llm")
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 900


def test_secrets_are_references_and_env_values_strings(objects: Objects) -> None:
    main = _pod(_workload(objects, "prod", "fraud-detector"))["containers"][0]
    by_name = {e["name"]: e for e in main["env"]}
    assert by_name["FEATURE_STORE_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "feature-store", "key": "token"}}
    assert by_name["SCORE_THRESHOLD"] == {"name": "SCORE_THRESHOLD", "value": "0.82"}
    assert by_name["LOG_LEVEL"]["value"] == "warning"  # prod defaults override the model


def test_config_map_name_follows_content_and_is_mounted_read_only(objects: Objects) -> None:
    deployment = _workload(objects, "prod", "fraud-detector")
    config = _find(objects, "prod", "ConfigMap", "fraud-detector-config-")
    name = config["metadata"]["name"]
    assert len(name.rsplit("-", 1)[1]) == 10
    assert config["immutable"] is True
    volume = next(v for v in _pod(deployment)["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == name
    mount = next(m for m in _pod(deployment)["containers"][0]["volumeMounts"] if m["name"] == "config")
    assert mount["readOnly"] is True
    source = (REPO / "services/fraud-detector/config/thresholds.yaml").read_text(encoding="utf-8")
    assert config["data"] == {"thresholds.yaml": source}


def test_artifact_fetched_and_verified_before_start(objects: Objects) -> None:
    pod = _pod(_workload(objects, "prod", "fraud-detector"))
    fetch, verify = pod["initContainers"]
    assert fetch["command"][:2] == ["rclone", "copy"]
    assert verify["command"] == ["sh", "-c", VERIFY_SCRIPT]
    expected = {e["name"]: e.get("value") for e in verify["env"]}["EXPECTED_SHA256"]
    assert expected == "9f2c4e6a8b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a3c5b7d9f2e"
    dev_pod = _pod(_workload(objects, "dev", "fraud-detector"))
    assert [c["name"] for c in dev_pod["initContainers"]] == ["fetch-model"], "no checksum, no verify step"


def test_gated_hugging_face_download_gets_the_token(objects: Objects) -> None:
    fetch = _pod(_workload(objects, "prod", "support-llm"))["initContainers"][0]
    names = {e["name"] for e in fetch["env"]}
    assert "HF_TOKEN" in names
    assert fetch["command"][-2:] == ["--revision", "0e9e39f249a16976918f6564b8830bc894c89659"]


def test_namespace_enforces_restricted(objects: Objects) -> None:
    namespace = _find(objects, "prod", "Namespace", "ml-prod")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_disabled_model_is_absent_from_its_environment(objects: Objects) -> None:
    dev = {o["metadata"]["name"] for e, o in objects if e == "dev"}
    assert "support-llm" not in dev
    assert "support-llm" in {o["metadata"]["name"] for e, o in objects if e == "prod"}
