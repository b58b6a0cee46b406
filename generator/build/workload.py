"""Build the Kubernetes objects that run one model: ServiceAccount, ConfigMap, Deployment or
Rollout, Services, PodDisruptionBudget, NetworkPolicy, autoscaler and PodMonitor.

Values are computed here; templates in templates/k8s/ only lay them out.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from generator.build.fetch import FetchPlan, fetch_plan
from generator.build.identity import (
    CONTAINER,
    common_labels,
    image_reference,
    selector_labels,
    serving_port,
    version_label,
)
from generator.build.platform import platform_settings
from generator.build.rollout import CANARY_HASH_ARG, analysis_sli, rollout_context
from generator.build.scaling import scaling_context
from generator.build.sli import sli_for
from generator.build.templating import render_documents
from generator.build.traffic import route_objects
from generator.read.resolve import ResolvedModel
from generator.spec.environment import Prometheus
from generator.spec.runtimes import MODEL_DIR, RUNTIME_CONFIG_DIR, RUNTIME_CONFIG_FILES, facts

CONFIG_DIR = "/etc/modelfleet/config"
# The label Argo Rollouts puts on every pod of a Rollout's ReplicaSet (argo-rollouts
# pkg/apis/rollouts/v1alpha1/types.go DefaultRolloutUniqueLabelKey).
POD_HASH_LABEL = "rollouts-pod-template-hash"
# Runtimes that read their log level from a variable of their own (vLLM: VLLM_LOGGING_LEVEL).
RUNTIME_LOG_LEVEL = {"vllm": "VLLM_LOGGING_LEVEL"}

KubeObject = dict[str, Any]


@dataclass(frozen=True)
class ConfigFile:
    key: str
    source: str
    content: str


def read_config_files(model: ResolvedModel, root: Path) -> list[ConfigFile]:
    """Read config.files, keyed by base name. The spec checked the rest when it was validated:
    unique base names that are valid keys, UTF-8 text, at most 1 MiB, no character kustomize refuses."""
    return [
        ConfigFile(PurePosixPath(relative).name, relative, (root / relative).read_bytes().decode("utf-8"))
        for relative in model.spec.config.files
    ]


def config_map_name(model: ResolvedModel, files: list[ConfigFile]) -> str:
    digest = hashlib.sha256(json.dumps({f.key: f.content for f in files}, sort_keys=True).encode("utf-8")).hexdigest()
    return f"{model.spec.name}-config-{digest[:10]}"


def runtime_config_name(model: ResolvedModel) -> str:
    return f"{model.spec.name}-runtime"


def _probe_timing(max_seconds: int) -> tuple[int, int]:
    """periodSeconds and failureThreshold whose product is exactly max_seconds."""
    for period in (10, 5, 2, 1):
        if max_seconds % period == 0:
            return period, max_seconds // period
    return 1, max_seconds  # pragma: no cover - period 1 always divides


def _http_probe(path: str, port: str, period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _env(model: ResolvedModel, fetch: FetchPlan | None) -> list[dict[str, Any]]:
    spec = model.spec
    env: list[dict[str, Any]] = [{"name": key, "value": spec.env[key]} for key in sorted(spec.env)]
    env.append({"name": "LOG_LEVEL", "value": spec.logging.level})
    env.append({"name": "LOG_FORMAT", "value": spec.logging.format})
    own = RUNTIME_LOG_LEVEL.get(spec.runtime)
    if own is not None and own not in spec.env:
        env.append({"name": own, "value": spec.logging.level.upper()})
    if fetch is not None and "MODEL_DIR" not in spec.env:
        env.append({"name": "MODEL_DIR", "value": fetch.model_dir})
    if spec.config.files and "CONFIG_DIR" not in spec.env:
        env.append({"name": "CONFIG_DIR", "value": CONFIG_DIR})
    env.extend(
        {
            "name": secret.env,
            "valueFrom": {"secretKeyRef": {"name": secret.secretRef.name, "key": secret.secretRef.key}},
        }
        for secret in spec.secrets
    )
    return env


def _resources(model: ResolvedModel) -> dict[str, Any]:
    res = model.spec.resources
    requests: dict[str, Any] = {"cpu": res.requests.cpu, "memory": res.requests.memory}
    limits: dict[str, Any] = {"memory": res.limits.memory}
    if res.limits.cpu is not None:
        limits["cpu"] = res.limits.cpu
    if res.gpu:
        requests["nvidia.com/gpu"] = str(res.gpu)
        limits["nvidia.com/gpu"] = str(res.gpu)
    return {"requests": requests, "limits": limits}


def _volumes(
    model: ResolvedModel, config_name: str | None, fetch: FetchPlan | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if config_name is not None:
        volumes.append({"name": "config", "configMap": {"name": config_name}})
        mounts.append({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True})
    if model.spec.runtime in RUNTIME_CONFIG_FILES:
        volumes.append({"name": "runtime-config", "configMap": {"name": runtime_config_name(model)}})
        mounts.append({"name": "runtime-config", "mountPath": RUNTIME_CONFIG_DIR, "readOnly": True})
    if fetch is not None:
        volumes.append(fetch.volume)
        mounts.append({"name": fetch.volume["name"], "mountPath": MODEL_DIR, "readOnly": True})
    if model.spec.runtime in {"triton", "vllm"}:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return volumes, mounts


def _ports(model: ResolvedModel) -> list[dict[str, Any]]:
    info = facts(model.spec.runtime)
    ports: list[dict[str, Any]] = [{"name": "http", "containerPort": serving_port(model), "protocol": "TCP"}]
    if info.metrics_port is not None and info.metrics_port != serving_port(model):
        ports.append({"name": "metrics", "containerPort": info.metrics_port, "protocol": "TCP"})
    return ports


def workload_context(model: ResolvedModel, root: Path) -> dict[str, Any]:
    spec = model.spec
    info = facts(spec.runtime)
    files = read_config_files(model, root)
    config_name = config_map_name(model, files) if files else None
    fetch = fetch_plan(model)
    volumes, mounts = _volumes(model, config_name, fetch)
    period, failures = _probe_timing(spec.startup.maxSeconds)
    labels = common_labels(model)
    workload_labels = {**labels, "app.kubernetes.io/version": version_label(model)}
    gpu = spec.resources.gpu > 0
    platform = platform_settings(model)
    pod_annotations: dict[str, str] = {"kubectl.kubernetes.io/default-container": CONTAINER}
    if config_name:
        pod_annotations["modelfleet.io/config"] = config_name
    pod_annotations.update(platform.pods.annotations)
    return {
        "name": spec.name,
        "labels": labels,
        "annotations": {"modelfleet.io/description": spec.description} if spec.description else {},
        "selector": selector_labels(model),
        "workload_labels": workload_labels,
        "pod_labels": {**workload_labels, **platform.pods.labels},
        "pod_annotations": pod_annotations,
        "service_account_labels": {**labels, **platform.service_account.labels},
        "service_account_annotations": platform.service_account.annotations,
        "service_labels": {**labels, **platform.services.labels},
        "service_annotations": platform.services.annotations,
        "replicas": None,  # the HorizontalPodAutoscaler owns the replica count
        "progress_deadline": spec.startup.maxSeconds + 300,
        "termination_grace": 30,
        "uid": info.user_id,
        "node_selector": {"nvidia.com/gpu.present": "true"} if gpu else {},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}] if gpu else [],
        "init_containers": fetch.init_containers if fetch else [],
        "container_name": CONTAINER,
        "image": image_reference(model),
        "ports": _ports(model),
        "env": _env(model, fetch),
        "resources": _resources(model),
        "startup_probe": _http_probe(info.readiness_path.format(name=spec.name), "http", period, failures, 2),
        "readiness_probe": _http_probe(info.readiness_path.format(name=spec.name), "http", 10, 3, 2),
        "liveness_probe": _http_probe(info.liveness_path.format(name=spec.name), "http", 15, 3, 5),
        "container_security": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "mounts": mounts,
        "volumes": volumes,
        "service_ports": [
            {"name": p["name"], "port": p["containerPort"], "targetPort": p["name"], "protocol": "TCP"}
            for p in _ports(model)
        ],
        "ingress_ports": [{"port": p["name"], "protocol": "TCP"} for p in _ports(model)],
        "egress": _egress(fetch),
        "configmap_name": config_name,
        "runtime_config_name": runtime_config_name(model),
        "runtime_config_data": RUNTIME_CONFIG_FILES.get(spec.runtime, {}),
        "metrics_port_name": "metrics" if info.metrics_port not in (None, serving_port(model)) else "http",
        "metrics_path": info.metrics_path,
        "monitoring_labels": {**labels, **platform.monitoring.labels},
        "pod_target_labels": [POD_HASH_LABEL] if spec.rollout.strategy != "rolling" else [],
        # The operator labels a PodMonitor's series with namespace, pod and container but no
        # service; the SLI queries scope by service, so the scrape names it after the model
        # (user relabelings come after the operator's own: prometheus-operator
        # pkg/prometheus/promcfg.go generatePodMonitorConfig).
        "scrape_relabelings": [{"action": "replace", "targetLabel": "service", "replacement": spec.name}],
        "canary_hash_arg": CANARY_HASH_ARG,
        "config_sources": ", ".join(f.source for f in files),
        "config_data": {f.key: f.content for f in files},
    }


def _egress(fetch: FetchPlan | None) -> list[dict[str, Any]]:
    """DNS always; HTTPS out only when an init container must fetch the artifact."""
    rules: list[dict[str, Any]] = [
        {
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]
    if fetch is not None and fetch.needs_network:
        rules.append({"ports": [{"port": 443, "protocol": "TCP"}]})
    return rules


def build_workload(model: ResolvedModel, root: Path) -> list[KubeObject]:
    """Every object of one model, in a fixed order."""
    env = model.environment
    namespace = env.namespace if env is not None else None
    prometheus_url = (env.prometheus if env is not None else Prometheus()).url
    context = workload_context(model, root)
    context.update(rollout_context(model, analysis_sli(model), prometheus_url))
    context.update(scaling_context(model, sli_for(model, namespace), prometheus_url))
    objects: list[KubeObject] = []

    def add(template: str, **extra: Any) -> None:
        objects.extend(render_documents(posixpath.join("k8s", f"{template}.yaml.j2"), {**context, **extra}))

    add("serviceaccount", labels=context["service_account_labels"], annotations=context["service_account_annotations"])
    if context["configmap_name"]:
        add("configmap")
    if context["runtime_config_data"]:
        add("runtimeconfig")
    add("rollout" if context["workload_kind"] == "Rollout" else "deployment")
    for service in context["service_names"]:
        labels, annotations = context["service_labels"], context["service_annotations"]
        add("service", service_name=service, labels=labels, annotations=annotations)
    objects.extend(route_objects(model, context["labels"]))
    if context["analysis_metrics"]:
        add("analysistemplate")
    add("pdb")
    add("networkpolicy")
    add("scaledobject" if model.spec.scaling.engine == "keda" else "hpa")
    add("podmonitor")
    return objects
