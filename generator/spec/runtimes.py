"""Facts about each serving runtime: ports, probe paths, metrics endpoint, command.

Sources (upstream docs, read 2026-11):
- Triton: HTTP 8000, gRPC 8001, metrics 8002 at /metrics; /v2/health/{live,ready}
  (KServe v2 protocol), docs "Triton Metrics" and "HTTP/REST and GRPC Protocol".
- MLServer: HTTP 8080, gRPC 8081, metrics 8082 at /metrics (MLSERVER_METRICS_PORT);
  /v2/health/{live,ready}, docs "Metrics" and "Settings".
- TorchServe: inference 8080 (/ping), management 8081, metrics 8082 at /metrics,
  docs "Metrics API" and "Inference API".
- TF Serving: REST 8501, gRPC 8500; /v1/models/<name> reports model state; Prometheus
  metrics at /monitoring/prometheus/metrics when a monitoring config enables them.
- vLLM OpenAI server: 8000, /health, /metrics on the same port, docs "Production Metrics".
- python: modelfleet's convention for custom apps (see services/*/README.md): /healthz,
  /readyz and /metrics on the serving port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RUNTIMES = ("python", "mlserver", "triton", "torchserve", "tfserving", "vllm")
Runtime = Literal["python", "mlserver", "triton", "torchserve", "tfserving", "vllm"]
MODEL_DIR = "/models"
RUNTIME_CONFIG_DIR = "/etc/modelfleet/runtime"

# Server configuration some runtimes need to expose Prometheus metrics at all. It is
# mounted from a ConfigMap at RUNTIME_CONFIG_DIR and named on the server's command line.
RUNTIME_CONFIG_FILES: dict[str, dict[str, str]] = {
    # TF Serving serves /monitoring/prometheus/metrics only with a monitoring config
    # (tensorflow/serving docs "Monitoring configuration": prometheus_config).
    "tfserving": {
        "monitoring.config": 'prometheus_config {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n',
    },
    # TorchServe logs metrics instead of serving them unless metrics_mode=prometheus
    # (pytorch/serve docs/metrics.md, docs/configuration.md).
    "torchserve": {
        "config.properties": (
            "inference_address=http://0.0.0.0:8080\n"
            "management_address=http://0.0.0.0:8081\n"
            "metrics_address=http://0.0.0.0:8082\n"
            "metrics_mode=prometheus\n"
            f"model_store={MODEL_DIR}\n"
            "load_models=all\n"
            "disable_token_authorization=true\n"
        ),
    },
}


@dataclass(frozen=True)
class RuntimeFacts:
    port: int
    metrics_port: int | None  # None: metrics on the serving port
    metrics_path: str
    liveness_path: str
    readiness_path: str
    user_id: int


RUNTIME_FACTS: dict[str, RuntimeFacts] = {
    "python": RuntimeFacts(8080, None, "/metrics", "/healthz", "/readyz", 10001),
    "mlserver": RuntimeFacts(8080, 8082, "/metrics", "/v2/health/live", "/v2/health/ready", 1000),
    "triton": RuntimeFacts(8000, 8002, "/metrics", "/v2/health/live", "/v2/health/ready", 1000),
    "torchserve": RuntimeFacts(8080, 8082, "/metrics", "/ping", "/ping", 1000),
    "tfserving": RuntimeFacts(
        8501, None, "/monitoring/prometheus/metrics", "/v1/models/{name}", "/v1/models/{name}", 10001
    ),
    "vllm": RuntimeFacts(8000, None, "/metrics", "/health", "/health", 10001),
}


def facts(runtime: str) -> RuntimeFacts:
    return RUNTIME_FACTS[runtime]


def default_command(runtime: str, name: str, port: int) -> list[str]:
    """The serving command of a runtime's official image, reading models from MODEL_DIR."""
    if runtime == "triton":
        return [
            "tritonserver",
            f"--model-repository={MODEL_DIR}",
            f"--http-port={port}",
            "--strict-readiness=true",
            "--exit-on-error=true",
            "--metrics-config=histogram_latencies=true",  # latency histogram for the SLI (Triton >= 24.11)
        ]
    if runtime == "mlserver":
        return ["mlserver", "start", MODEL_DIR]
    if runtime == "torchserve":
        return [
            "torchserve",
            "--start",
            "--foreground",
            f"--ts-config={RUNTIME_CONFIG_DIR}/config.properties",
            f"--model-store={MODEL_DIR}",
            "--models=all",
            "--disable-token-auth",
        ]
    if runtime == "tfserving":
        return [
            "tensorflow_model_server",
            f"--rest_api_port={port}",
            "--port=8500",
            f"--model_name={name}",
            f"--model_base_path={MODEL_DIR}/{name}",
            f"--monitoring_config_file={RUNTIME_CONFIG_DIR}/monitoring.config",
        ]
    if runtime == "vllm":
        return [
            "python3",
            "-m",
            "vllm.entrypoints.openai.api_server",
            f"--model={MODEL_DIR}",
            f"--served-model-name={name}",
            f"--port={port}",
        ]
    raise ValueError(f"runtime {runtime} has no default command; give build.command")
