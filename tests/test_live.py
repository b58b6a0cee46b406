"""Proven live (issue point 8): the example fleet's real services next to a real Prometheus.

``test_live_fleet`` (marker ``live``; ``make live-deps`` installs what it needs) starts on 127.0.0.1:

- fraud-detector twice in ml-prod: a "stable" and a "canary" pod of its Rollout (two
  ``rollouts-pod-template-hash`` values), and once in ml-staging, an idle pod that serves a few
  requests before Prometheus first scrapes it and none afterwards;
- churn-model (a Deployment) and sentiment (MLServer 1.6.1, a blue-green Rollout) in ml-prod;
- a Prometheus (the Debian package) that scrapes them through the rendered PodMonitors of prod and
  staging, turned into scrape jobs by ``live.operator`` exactly as the Prometheus Operator does,
  with the rendered prod rule groups (rendered/tests/prod/*.rules.yaml) loaded.

Each fake pod carries the labels of its rendered pod template; the relabeling that turns them into
series labels is the operator's, run by Prometheus. Scraping and rule evaluation run every second
(the rendered 30s would not fit the two-minute budget).

A client drives bounded traffic in phases (normal; server errors injected into 10 % of
fraud-detector's requests, 30 % of its canary's; slow answers injected into 15 %) and records
every request; after each phase the test waits until Prometheus has
scraped every pod after the last answer and evaluated every rule group twice since, then compares
what the client drove with what the rules recorded, evaluates the autoscaling and rollout-analysis
queries of the rendered objects, and reads the alerts. Before the traffic and after it, it checks
the idle case: no alert, rules healthy, scaling queries answering for an idle model and for a
namespace without pods. Every comparison is one row of the printed driven-vs-recorded table (also
written to ``live-report.txt`` in the test's tmp dir); the test fails when any row fails.

The other tests here check ``live.operator`` against the operator's own golden files, without
Prometheus.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from live import fleet, operator, prom, traffic
from live.procs import Processes, free_port, http_status, wait_until
from live.report import Checks, fmt
from test_promql_types import TYPED

from generator import promql

REPO = Path(__file__).resolve().parent.parent
SERVICES_PYTHON = REPO / ".venv" / "tools" / "services" / "bin" / "python"
MLSERVER_PYTHON = REPO / ".venv" / "tools" / "mlserver" / "bin" / "python"
MLSERVER = REPO / ".venv" / "tools" / "mlserver" / "bin" / "mlserver"

# ---------------------------------------------------------------------------------------------
# live.operator against the operator's golden files (no Prometheus needed)

# pkg/prometheus/promcfg_test.go TestEnforcedNamespaceLabelOnExcludedPodMonitor (operator at
# 6adcebc5076c34f4f55f8f5f7b1e528929373ac7): the PodMonitor, written as its CRD YAML ...
GOLDEN_PODMONITOR: dict[str, Any] = {
    "metadata": {"name": "testpodmonitor1", "namespace": "pod-monitor-ns", "labels": {"group": "group1"}},
    "spec": {
        "podTargetLabels": ["example", "env"],
        "podMetricsEndpoints": [
            {
                "port": "web",
                "interval": "30s",
                "metricRelabelings": [
                    {"action": "drop", "regex": "my-job-pod-.+", "sourceLabels": ["pod_name"], "targetLabel": "my-ns"}
                ],
                "relabelings": [
                    {
                        "action": "replace",
                        "regex": "(.*)",
                        "replacement": "$1",
                        "sourceLabels": ["__meta_kubernetes_pod_ready"],
                        "targetLabel": "pod_ready",
                    }
                ],
            }
        ],
    },
}
# ... and its scrape job from pkg/prometheus/testdata/EnforcedNamespaceLabelOnExcludedPodMonitor_Expected.golden
# (kubernetes_sd_configs left out; `$(SHARD)` as the config reloader writes it for shard 0).
GOLDEN_JOB = """
job_name: podMonitor/pod-monitor-ns/testpodmonitor1/0
honor_labels: false
scrape_interval: 30s
relabel_configs:
- {source_labels: [job], target_label: __tmp_prometheus_job_name}
- {action: drop, source_labels: [__meta_kubernetes_pod_phase], regex: (Failed|Succeeded)}
- {action: keep, source_labels: [__meta_kubernetes_pod_container_port_name], regex: web}
- {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
- {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
- {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
- {source_labels: [__meta_kubernetes_pod_label_example], target_label: example, regex: (.+), replacement: "${1}"}
- {source_labels: [__meta_kubernetes_pod_label_env], target_label: env, regex: (.+), replacement: "${1}"}
- {target_label: job, replacement: pod-monitor-ns/testpodmonitor1}
- {target_label: endpoint, replacement: web}
- {source_labels: [__meta_kubernetes_pod_ready], target_label: pod_ready, regex: (.*), replacement: $1, action: replace}
- {source_labels: [__address__, __tmp_hash], target_label: __tmp_hash, regex: (.+);, replacement: $1, action: replace}
- {source_labels: [__tmp_hash], target_label: __tmp_hash, modulus: 1, action: hashmod}
- {source_labels: [__tmp_hash, __tmp_disable_sharding], regex: 0;|.+;.+, action: keep}
metric_relabel_configs:
- {source_labels: [pod_name], target_label: my-ns, regex: my-job-pod-.+, action: drop}
"""
# promcfg_test.go TestPodMonitorPortNumber "PodMonitor with Pod Name" (defaultPodMonitor with
# port "podname", portNumber 1024, targetPort "10240") -> testdata/podMonitorObjectWithPodName.golden.
GOLDEN_SELECTOR_RULES = """
- action: keep
  source_labels: [__meta_kubernetes_pod_label_group, __meta_kubernetes_pod_labelpresent_group]
  regex: (group1);true
- {action: keep, source_labels: [__meta_kubernetes_pod_container_port_name], regex: podname}
"""


def test_operator_job_matches_the_operators_golden_file() -> None:
    (job,) = operator.scrape_configs(GOLDEN_PODMONITOR, [])
    job.pop("static_configs")
    assert job == yaml.safe_load(GOLDEN_JOB)


def test_operator_selector_and_port_rules_match_the_operators_golden_file() -> None:
    endpoint = {"port": "podname", "portNumber": 1024, "targetPort": "10240", "interval": "30s"}
    podmonitor = {
        "metadata": {"name": "defaultPodMonitor", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"group": "group1"}}, "podMetricsEndpoints": [endpoint]},
    }
    rules = operator.relabel_configs(podmonitor, endpoint)
    assert rules[2:4] == yaml.safe_load(GOLDEN_SELECTOR_RULES)
    assert {"target_label": "endpoint", "replacement": "podname"} in rules


def _expand(template: str, match: re.Match[str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: match.group(int(m.group(1) or m.group(2))) or "", template)


def _relabel(labels: Mapping[str, str], rules: Sequence[Mapping[str, Any]]) -> dict[str, str] | None:
    """Prometheus's relabeling (replace, keep, drop, hashmod) for the unit tests; None: dropped."""
    out = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(out.get(s, "") for s in rule.get("source_labels", []))
        regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
        action = rule.get("action", "replace")
        if action == "keep" and not regex.match(value):
            return None
        if action == "drop" and regex.match(value):
            return None
        if action == "hashmod":
            digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
            out[rule["target_label"]] = str(int.from_bytes(digest[8:], "big") % int(rule["modulus"]))
        if action == "replace" and (match := regex.match(value)):
            result = _expand(str(rule.get("replacement", "$1")), match)
            if result:
                out[rule["target_label"]] = result
            else:
                out.pop(rule["target_label"], None)
    final = {k: v for k, v in out.items() if not k.startswith("__")}
    final.setdefault("instance", out["__address__"])
    return final


def _series_labels(job: Mapping[str, Any]) -> list[dict[str, str]]:
    kept = []
    for static in job["static_configs"]:
        target = {"job": job["job_name"], "__address__": static["targets"][0], **static["labels"]}
        if (labels := _relabel(target, job["relabel_configs"])) is not None:
            kept.append(labels)
    return kept


def _fake_pod(
    name: str, namespace: str, labels: dict[str, str], ports: dict[str, int], phase: str = "Running"
) -> operator.Pod:
    containers = (
        operator.Container("model", tuple(operator.ContainerPort(n, p) for n, p in ports.items())),
        operator.Container("fetch-model", init=True),
    )
    return operator.Pod(name, namespace, labels, containers, phase=phase)


def test_rendered_podmonitor_keeps_only_its_running_pods_and_copies_the_hash() -> None:
    podmonitor = fleet.podmonitor_for("prod", "fraud-detector")
    fraud = dict(fleet.pod_template("prod", "fraud-detector")["metadata"]["labels"])
    churn = dict(fleet.pod_template("prod", "churn-model")["metadata"]["labels"])
    pods = [
        _fake_pod(
            "fraud-detector-5f7c9d8b64-abcde",
            "ml-prod",
            {**fraud, "rollouts-pod-template-hash": "5f7c9d8b64"},
            {"http": 1},
        ),
        _fake_pod(
            "fraud-detector-6a-old", "ml-prod", {**fraud, "rollouts-pod-template-hash": "6a"}, {"http": 2}, "Failed"
        ),
        _fake_pod("fraud-detector-7b-other", "ml-staging", {**fraud, "rollouts-pod-template-hash": "7b"}, {"http": 3}),
        _fake_pod("churn-model-c9-xyz", "ml-prod", {**churn, "pod-template-hash": "c9"}, {"http": 4}),
        _fake_pod(
            "fraud-detector-8c-two", "ml-prod", {**fraud, "rollouts-pod-template-hash": "8c"}, {"grpc": 5, "http": 6}
        ),
    ]
    (job,) = operator.scrape_configs(podmonitor, pods)
    # kubernetes_sd discovers ml-prod only; every container port and the port-less init container is a target.
    assert len(job["static_configs"]) == 2 + 2 + 2 + 3
    kept = _series_labels(job)
    assert [(s["pod"], s["instance"]) for s in kept] == [
        ("fraud-detector-5f7c9d8b64-abcde", "127.0.0.1:1"),
        ("fraud-detector-8c-two", "127.0.0.1:6"),
    ]
    assert kept[0] == {
        "namespace": "ml-prod",
        "container": "model",
        "pod": "fraud-detector-5f7c9d8b64-abcde",
        "rollouts_pod_template_hash": "5f7c9d8b64",
        "job": "ml-prod/fraud-detector",
        "endpoint": "http",
        "service": "fraud-detector",
        "instance": "127.0.0.1:1",
    }


def test_generated_scrape_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make test` installs it (Debian package prometheus)"
    pod = _fake_pod("fraud-detector-5f7c9d8b64-abcde", "ml-prod", {"app.kubernetes.io/name": "x"}, {"http": 8080})
    jobs = [
        job
        for pm in fleet.podmonitors("prod")
        for job in operator.scrape_configs(pm, [pod], scrape_interval="1s", scrape_timeout="1s")
    ]
    config = tmp_path / "prometheus.yml"
    prom.write_config(config, jobs, [], "1s")
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# the live test

ENV, STAGING, DEV = "prod", "staging", "dev"
INTERVAL = 1.0  # scrape and evaluation interval, seconds (the PodMonitors say 30s)
FRAUD_RPS, CHURN_RPS, SENTIMENT_RPS = 20.0, 5.0, 5.0
CANARY_WEIGHT = 0.2  # the share of fraud-detector traffic the canary gets, as a canary setWeight would
SENTIMENT_BAD = 0.05  # malformed sentiment requests (4xx: not server errors)
# (phase, seconds, faults of the stable and of the canary fraud-detector pod). The error phase
# fails 10 % of fraud-detector's requests, a bad canary's more often (0.8 x 5 % + 0.2 x 30 %), so
# the canary analysis shows whether it measures the canary's pods only.
PHASES: tuple[tuple[str, float, dict[str, float], dict[str, float]], ...] = (
    ("normal", 20.0, {}, {}),
    ("errors", 15.0, {"error": 0.05}, {"error": 0.30}),
    ("slow", 15.0, {"slow": 0.15}, {"slow": 0.15}),
)
RATIO_TOLERANCE = 0.02
# One pod's series over 2m: the value a counter had at its first scrape (a second of traffic) is a
# larger part of its count than over the whole fleet, so the analysed pod's ratio gets more room.
ANALYSIS_RATIO_TOLERANCE = 0.03
# rate() extrapolates each series to the window edges by at most half a scrape interval and never
# sees the value a counter had at its first scrape (a labelled counter appears at its first
# increment), so on series a few tens of seconds long the recorded rate is a few percent off the
# client's count / window; 25 % leaves room without hiding a wrong selector (which is off by 2x or 100 %).
RATE_TOLERANCE = 0.25
STABLE_HASH, CANARY_HASH, SENTIMENT_HASH, STAGING_HASH, CHURN_HASH = (
    "5f7c9d8b64",
    "7b4d6f9c58",
    "6c8d9f7b45",
    "84d6c9f7b5",
    "c9f5d7b864",
)
EVICTED_HASH = "6d5b8c7f94"
TRAIN_SENTIMENT = """
import sys
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
x = rng.random((200, 3))
y = (x @ np.array([1.5, -2.0, 0.5]) > 0).astype(int)
joblib.dump(LogisticRegression().fit(x, y), sys.argv[1])
"""
FRAUD_BODY = json.dumps(
    {
        "transaction_id": "tx-live",
        "mcc": "5732",
        "features": {
            "amount": 400,
            "is_night": False,
            "card_present": False,
            "is_foreign": True,
            "distance_from_home_km": 900,
            "txn_count_24h": 6,
            "account_age_days": 120,
            "chargebacks_90d": 0,
        },
    }
).encode()
CHURN_BODY = json.dumps(
    {"instances": [{"customer_id": "c-2", "features": {"tenure_months": 3, "monthly_charges": 95, "autopay": False}}]}
).encode()
SENTIMENT_BODY = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [0.2, 0.4, 0.6]}]}
).encode()
SENTIMENT_BAD_BODY = json.dumps({"inputs": "not a list of tensors"}).encode()


@dataclass(frozen=True)
class LivePod:
    pod: operator.Pod
    model: str
    role: str  # stable, canary, idle, failed or ""
    serve_port: int
    scrape_port: int  # the container port the PodMonitor scrapes

    @property
    def namespace(self) -> str:
        return self.pod.namespace

    @property
    def hash(self) -> str:
        return self.pod.labels.get("rollouts-pod-template-hash", "")


def build_pod(
    env: str, model: str, pod_hash: str, suffix: str, *, ports: Mapping[str, int], phase: str = "Running"
) -> operator.Pod:
    """A pod of the model's rendered template: its labels, containers and declared ports (each
    backed by a local port), plus the hash label its ReplicaSet adds."""
    workload = fleet.workload(env, model)
    template = workload["spec"]["template"]
    labels = dict(template["metadata"]["labels"])
    labels["rollouts-pod-template-hash" if workload["kind"] == "Rollout" else "pod-template-hash"] = pod_hash
    spec = template["spec"]
    containers = [
        operator.Container(
            c["name"],
            tuple(
                operator.ContainerPort(p["name"], ports[p["name"]], p.get("protocol", "TCP"))
                for p in c.get("ports") or []
            ),
            c.get("image", ""),
        )
        for c in spec["containers"]
    ] + [operator.Container(c["name"], (), c.get("image", ""), init=True) for c in spec.get("initContainers") or []]
    return operator.Pod(
        name=f"{model}-{pod_hash}-{suffix}",
        namespace=workload["metadata"]["namespace"],
        labels=labels,
        containers=tuple(containers),
        phase=phase,
        annotations=dict(template["metadata"].get("annotations") or {}),
        controller_kind="ReplicaSet",
        controller_name=f"{model}-{pod_hash}",
    )


def main_container(env: str, model: str) -> dict[str, Any]:
    return dict(fleet.pod_template(env, model)["spec"]["containers"][0])


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else math.nan


class LiveRun:
    """The processes, the traffic and every check of one live run."""

    def __init__(self, procs: Processes, tmp: Path, checks: Checks) -> None:
        self.procs, self.tmp, self.checks = procs, tmp, checks
        self.started = time.monotonic()
        self.timings: list[tuple[str, float]] = []
        self.pods: list[LivePod] = []
        self.sent: list[traffic.Sent] = []
        self.endpoints: dict[str, traffic.Endpoint] = {}
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LANG": "C.UTF-8"}
        self.api: prom.PrometheusAPI | None = None

    def mark(self, step: str) -> None:
        self.timings.append((step, time.monotonic() - self.started))

    @property
    def prometheus(self) -> prom.PrometheusAPI:
        assert self.api is not None
        return self.api

    @property
    def running(self) -> list[LivePod]:
        return [p for p in self.pods if p.pod.phase == "Running"]

    def pod(self, namespace: str, model: str, role: str = "") -> LivePod:
        return next(p for p in self.running if (p.namespace, p.model, p.role) == (namespace, model, role))

    # -------------------------------------------------------------- processes

    def start_python(self, env: str, model: str, role: str, pod_hash: str) -> LivePod:
        port = free_port()
        pod = LivePod(build_pod(env, model, pod_hash, role or "live0", ports={"http": port}), model, role, port, port)
        empty = self.tmp / "no-model"  # no model.joblib: the services score with their built-in fallback
        empty.mkdir(exist_ok=True)
        service = REPO / "services" / model
        variables = {
            **self.base_env,
            **fleet.literal_env(main_container(env, model)),
            "MODEL_DIR": str(empty),
            "CONFIG_DIR": str(service / "config"),
            "PYTHONPATH": str(REPO / "tests"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        argv = [str(SERVICES_PYTHON), "-m", "live.fault_app", "--service-dir", str(service), "--port", str(port)]
        self.procs.start(f"{pod.namespace}-{pod.pod.name}", argv, variables, self.tmp)
        self.pods.append(pod)
        return pod

    def start_sentiment(self) -> LivePod:
        model_dir = self.tmp / "sentiment-model"
        model_dir.mkdir()
        # A tiny stand-in model, trained by MLServer's own scikit-learn so that it unpickles there.
        trained = subprocess.run(
            [str(MLSERVER_PYTHON), "-c", TRAIN_SENTIMENT, str(model_dir / "model.joblib")],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert trained.returncode == 0, f"training the sentiment model failed:\n{trained.stderr}"
        settings = json.loads((REPO / "services" / "sentiment-mlserver" / "config" / "model-settings.json").read_text())
        settings["parameters"]["uri"] = str(model_dir / "model.joblib")
        (model_dir / "model-settings.json").write_text(json.dumps(settings), encoding="utf-8")
        http, grpc, metrics = free_port(), free_port(), free_port()
        ports = {"http": http, "metrics": metrics}  # the declared container ports (gRPC is not declared)
        pod = LivePod(build_pod(ENV, "sentiment", SENTIMENT_HASH, "live0", ports=ports), "sentiment", "", http, metrics)
        variables = {
            **self.base_env,
            **fleet.literal_env(main_container(ENV, "sentiment")),
            "MLSERVER_HOST": "127.0.0.1",
            "MLSERVER_HTTP_PORT": str(http),
            "MLSERVER_GRPC_PORT": str(grpc),
            "MLSERVER_METRICS_PORT": str(metrics),
            "MLSERVER_PARALLEL_WORKERS": "0",  # infer in the server process: one process less on 2 cores
        }
        argv = [str(MLSERVER), "start", str(model_dir)]
        self.procs.start(f"{pod.namespace}-{pod.pod.name}", argv, variables, self.tmp)
        self.pods.append(pod)
        return pod

    def endpoint(self, pod: LivePod) -> traffic.Endpoint:
        if pod.model == "sentiment":
            path, body, bad = f"/v2/models/{pod.model}/infer", SENTIMENT_BODY, SENTIMENT_BAD_BODY
        else:
            path, body, bad = "/predict", FRAUD_BODY if pod.model == "fraud-detector" else CHURN_BODY, b"{}"
        return traffic.Endpoint(pod.pod.name, pod.model, pod.namespace, "127.0.0.1", pod.serve_port, path, body, bad)

    def start_services(self) -> None:
        for binary in (SERVICES_PYTHON, MLSERVER_PYTHON, MLSERVER):
            assert binary.exists(), f"{binary} is missing: run `make live-deps`"
        stable = self.start_python(ENV, "fraud-detector", "stable", STABLE_HASH)
        canary = self.start_python(ENV, "fraud-detector", "canary", CANARY_HASH)
        churn = self.start_python(ENV, "churn-model", "", CHURN_HASH)
        idle = self.start_python(STAGING, "fraud-detector", "idle", STAGING_HASH)
        sentiment = self.start_sentiment()
        # An evicted pod of an older ReplicaSet: discovered, but the running filter must drop it
        # (nothing listens on its port, so a scrape of it would show as up == 0).
        gone = free_port()
        failed = build_pod(ENV, "fraud-detector", EVICTED_HASH, "evict", ports={"http": gone}, phase="Failed")
        self.pods.append(LivePod(failed, "fraud-detector", "failed", gone, gone))
        urls = [f"http://127.0.0.1:{p.serve_port}/readyz" for p in (stable, canary, churn, idle)]
        urls += [f"http://127.0.0.1:{sentiment.serve_port}/v2/models/sentiment/ready"]
        wait_until(
            "every service ready", lambda: all(http_status(u) == 200 for u in urls), 90, procs=self.procs, interval=0.2
        )
        for pod in self.running:
            self.endpoints[pod.pod.name] = self.endpoint(pod)
        self.mark("services ready")
        # The idle staging pod serves a few requests before Prometheus exists, then never again.
        warm = [traffic.send(self.endpoints[idle.pod.name], "", "before scraping") for _ in range(5)]
        assert [r.status for r in warm] == [200] * 5, warm
        self.sent += warm

    # -------------------------------------------------------------- Prometheus

    def start_prometheus(self) -> None:
        all_pods = [p.pod for p in self.pods]
        jobs = [
            job
            for env in (ENV, STAGING)  # one Prometheus stands in for each cluster's; every query is namespace-scoped
            for podmonitor in fleet.podmonitors(env)
            for job in operator.scrape_configs(podmonitor, all_pods, scrape_interval="1s", scrape_timeout="1s")
        ]
        # Every second, not the PodMonitors' 30s: a handful of samples within seconds, and the whole
        # test in under two minutes. honor_labels stays false as the operator writes it.
        config = self.tmp / "prometheus.yml"
        prom.write_config(config, jobs, fleet.rule_files(ENV), "1s")
        self.api = prom.start(self.procs, self.tmp, config, self.base_env)
        self.mark("Prometheus ready")
        instances = {f"127.0.0.1:{p.scrape_port}" for p in self.running}

        def all_up() -> bool:
            health = {t["labels"].get("instance"): t["health"] for t in self.prometheus.active_targets()}
            return all(health.get(i) == "up" for i in instances)

        wait_until("every pod's scrape target up", all_up, 30, procs=self.procs)
        # rate() needs two samples: wait for three scrapes of the idle pod.
        wait_until(
            "three scrapes of the idle pod",
            lambda: self.prometheus.query('count_over_time(up{namespace="ml-staging"}[1m]) >= 3'),
            30,
            procs=self.procs,
        )
        self.mark("every pod scraped three times")

    def settle(self, after: float) -> tuple[float, float]:
        """Wait until every pod was scraped after ``after`` and every rule group evaluated twice since
        (the alert groups read what the recording groups wrote). Returns (oldest scrape, now)."""
        instances = {f"127.0.0.1:{p.scrape_port}" for p in self.running}

        def scraped() -> float | None:
            stamps = {s.labels.get("instance", ""): s.value for s in self.prometheus.query("timestamp(up)")}
            if not instances <= stamps.keys():
                return None
            oldest = min(stamps[i] for i in instances)
            return oldest if oldest > after else None

        t_scraped = wait_until("a scrape of every pod after the last answer", scraped, 20, procs=self.procs)

        def evaluated() -> bool:
            groups = self.prometheus.rule_groups()
            oldest = min((prom.parse_time(g["lastEvaluation"]) for g in groups), default=0.0)
            return oldest > t_scraped + 2 * INTERVAL

        wait_until("two rule evaluations after that scrape", evaluated, 20, procs=self.procs)
        return t_scraped, time.time()

    # -------------------------------------------------------------- checks

    def check_up(self) -> None:
        """The series labels the operator's relabeling gives, as Prometheus applied it."""
        got = {tuple(sorted(s.labels.items())): s.value for s in self.prometheus.query("up")}
        expected = []
        for pod in self.running:
            labels = {
                "__name__": "up",
                "container": "model",
                "endpoint": "metrics" if pod.model == "sentiment" else "http",
                "instance": f"127.0.0.1:{pod.scrape_port}",
                "job": f"{pod.namespace}/{pod.model}",
                "namespace": pod.namespace,
                "pod": pod.pod.name,
                "service": pod.model,
            }
            if pod.hash:
                labels["rollouts_pod_template_hash"] = pod.hash
            key = tuple(sorted(labels.items()))
            expected.append(key)
            shown = ",".join(f"{k}={v}" for k, v in key if k not in ("__name__", "pod"))
            value = got.get(key)
            self.checks.add(
                "start",
                f"up series of {pod.namespace}/{pod.pod.name}",
                driven="1, operator's label set",
                recorded="1, that label set" if value == 1 else ("no such series" if value is None else fmt(value, 0)),
                ok=value == 1,
                note="up{" + shown + "}",
            )
        extra = [dict(k) for k in got if k not in expected]
        self.checks.add(
            "start",
            "no other up series (evicted pod dropped, each pod scraped once)",
            driven="0 others",
            recorded=f"{len(extra)} others",
            ok=not extra,
            note="; ".join(str(e) for e in extra),
        )

    def check_rules_health(self, phase: str) -> None:
        groups = self.prometheus.rule_groups()
        rules = [(g["name"], r) for g in groups for r in g["rules"]]
        bad = [
            f"{g}/{r.get('name')}: {r.get('health')} {r.get('lastError', '')}" for g, r in rules if r["health"] != "ok"
        ]
        never = [g["name"] for g in groups if prom.parse_time(g["lastEvaluation"]) == 0]
        self.checks.add(
            phase,
            f"rule health: {len(groups)} groups, {len(rules)} rules (rendered/tests/{ENV})",
            driven="every rule ok, every group evaluated",
            recorded=f"{len(rules) - len(bad)} ok, {len(never)} groups never evaluated",
            diff=f"{len(bad)} not ok",
            ok=not bad and not never,
            note="; ".join(bad[:5]),
        )

    def check_alerts_at_rest(self, phase: str) -> None:
        alerts = self.prometheus.alerts()
        firing = [a["labels"] for a in alerts if a["state"] == "firing"]
        running = {p.model for p in self.running if p.namespace == "ml-prod"}
        pending = [a["labels"] for a in alerts if a["state"] == "pending" and a["labels"].get("model") in running]
        self.checks.add(
            phase,
            "no alert firing",
            driven="0 firing",
            recorded=f"{len(firing)} firing",
            ok=not firing,
            note=_names(firing),
        )
        self.checks.add(
            phase,
            "no alert pending for a running model",
            driven="0 pending",
            recorded=f"{len(pending)} pending",
            ok=not pending,
            note=_names(pending),
        )

    def check_idle_scaling(self, phase: str, at: float) -> None:
        """Every scaling signal of staging and dev must answer one sample though nothing is served
        there: the HPA takes an empty external metric for an error (and then never scales down),
        KEDA's prometheus scaler wants exactly one element. In ml-staging fraud-detector's pod is
        idle (counters exist and stay flat: rates 0, histogram_quantile NaN); the other models have
        no pods there, and ml-dev has none at all."""
        idle = [r for r in self.sent if r.namespace == "ml-staging"]
        for env in (STAGING, DEV):
            queries = fleet.adapter_queries(env) + fleet.keda_queries(env)
            self.checks.add(
                phase, f"{env} scaling queries exist", driven=">= 1", recorded=str(len(queries)), ok=bool(queries)
            )
            for q in queries:
                samples = self.prometheus.query(q.query, at)
                pods = [p for p in self.running if p.namespace == f"ml-{env}" and p.model == q.model]
                what = "idle pod" if pods else "no pod"
                self.checks.samples(
                    phase,
                    f"ml-{env} {q.source} ({what})",
                    expected=1,
                    got=len(samples),
                    detail=_values(samples),
                    note=f"served {len(idle)} requests before its first scrape, none since" if pods else "",
                )

    def analysis_targets(self) -> list[tuple[str, dict[str, str], set[str]]]:
        """(model, what podTemplateHashValue resolves to, the pods the analysis measures)."""
        canary = self.pod("ml-prod", "fraud-detector", "canary")
        stable = self.pod("ml-prod", "fraud-detector", "stable")
        sentiment = self.pod("ml-prod", "sentiment")
        return [
            ("fraud-detector", {"Latest": canary.hash, "Stable": stable.hash}, {canary.pod.name}),
            # blue-green with one ReplicaSet running: the preview (Latest) is the one pod.
            ("sentiment", {"Latest": sentiment.hash, "Stable": sentiment.hash}, {sentiment.pod.name}),
        ]

    def check_analysis(self, phase: str, at: float, t_scraped: float) -> None:
        window = 120.0  # the analysis queries' range
        for model, hashes, pods in self.analysis_targets():
            minimum = int(fleet.explain(ENV, model, "rollout.canary.analysis.minRequests"))
            queries = fleet.analysis_queries(ENV, model, hashes)
            self.checks.add(
                phase, f"{model} analysis queries exist", driven=">= 1", recorded=str(len(queries)), ok=bool(queries)
            )
            measured = [r for r in self.sent if r.pod in pods]
            if phase == "idle":
                for q in queries:
                    samples = self.prometheus.query(q.query, at)
                    name = f"analysis {model}/{q.metric}: 0 requests (minRequests {minimum})"
                    self.checks.samples(phase, name, expected=0, got=len(samples), detail=_values(samples))
                continue
            if phase == "normal":
                # The start of the phase, evaluated now at the past instant the (k+1)-th request left:
                # at most k requests can have been counted by then.
                ordered = sorted((r for r in measured if r.phase == "normal"), key=lambda r: r.t_sent)
                k = minimum // 2
                instant = ordered[k].t_sent - 0.001
                for q in queries:
                    samples = self.prometheus.query(q.query, instant)
                    name = f"analysis {model}/{q.metric}: {k} sent < 0.8 x minRequests {minimum}"
                    self.checks.samples(phase, name, expected=0, got=len(samples), detail=_values(samples))
            # Requests surely scraped (answered before the last scrape) and inside the window at `at`.
            served = sum(1 for r in measured if at - window + 2 * INTERVAL < r.t_done < t_scraped - 0.2)
            self.checks.add(
                phase,
                f"harness: {model} analysed pod served > 1.2 x minRequests {minimum} in 2m",
                driven=f"{served} requests",
                recorded="-",
                ok=served > 1.2 * minimum,
            )
            in_window = [r for r in measured if r.t_done > at - window]
            for q in queries:
                samples = self.prometheus.query(q.query, at)
                name = f"analysis {model}/{q.metric}: {served} served in 2m"
                self.checks.samples(phase, name, expected=1, got=len(samples), detail=_values(samples))
                value = samples[0].value if len(samples) == 1 else None
                if "error" in q.metric:
                    errors = sum(1 for r in in_window if r.status >= 500)
                    self.checks.near(
                        phase,
                        f"analysis {model}/{q.metric} vs client 5xx share (2m)",
                        driven=errors / len(in_window),
                        recorded=value,
                        tolerance=ANALYSIS_RATIO_TOLERANCE,
                    )
                elif "latency" in q.metric:
                    self.p95_info(phase, f"analysis {model}/{q.metric} vs client p95 (2m)", in_window, value)

    def p95_info(self, phase: str, name: str, requests: Sequence[Any], value: float | None) -> None:
        """The recorded p95 beside the client's, for information: the client's clock includes the
        network and queueing, the server's histogram only the handler."""
        client = p95([r.latency for r in requests])
        diff = "-" if value is None else f"{value - client:+.4f}"
        self.checks.add(phase, name, driven=fmt(client), recorded=fmt(value), diff=diff, ok=None)

    def check_scaling(self, phase: str, at: float) -> None:
        """Every scaling signal of prod answers one sample; those of models with traffic are
        compared with what the client sent in the queries' 2m window."""
        window = 120.0
        queries = fleet.adapter_queries(ENV) + fleet.keda_queries(ENV)
        self.checks.add(
            phase, f"{ENV} scaling queries exist", driven=">= 1", recorded=str(len(queries)), ok=bool(queries)
        )
        for q in queries:
            samples = self.prometheus.query(q.query, at)
            self.checks.samples(phase, f"ml-prod {q.source}", expected=1, got=len(samples), detail=_values(samples))
            value = samples[0].value if len(samples) == 1 else None
            in_window = [
                r for r in self.sent if r.model == q.model and r.namespace == "ml-prod" and r.t_done > at - window
            ]
            if not in_window:
                continue
            if re.search(r"requests.per.second", q.source):
                self.checks.near(
                    phase,
                    f"ml-prod {q.source} vs client/120s",
                    driven=len(in_window) / window,
                    recorded=value,
                    tolerance=RATE_TOLERANCE,
                    relative=True,
                )
            elif "latency_p95" in q.source:
                self.p95_info(phase, f"ml-prod {q.source} vs client p95", in_window, value)

    def check_slis(self, phase: str, at: float) -> None:
        for model in ("fraud-detector", "churn-model", "sentiment"):
            sent = [r for r in self.sent if r.model == model and r.namespace == "ml-prod"]
            records = fleet.sli_records(ENV, model)
            self.checks.add(
                phase, f"{model} SLI records exist", driven=">= 1", recorded=str(len(records)), ok=bool(records)
            )
            by_kind: dict[str, list[fleet.Record]] = {}
            for record in records:
                by_kind.setdefault(record.kind, []).append(record)
            for kind, group in sorted(by_kind.items()):
                self.compare_records(
                    phase, model, kind, sorted(group, key=lambda r: r.window_seconds), sent=sent, at=at
                )

    def compare_records(
        self, phase: str, model: str, kind: str, records: list[fleet.Record], *, sent: list[traffic.Sent], at: float
    ) -> None:
        """Every window of one recorded SLI against the client's count over the same window. The
        test is shorter than the shortest window, so each window holds all the traffic so far."""
        assert min(r.t_sent for r in sent) > at - records[0].window_seconds, "the test outlasted a rule window"
        total = len(sent)
        rows: list[tuple[float, str, float, float | None]] = []  # (badness, window, driven, recorded)
        note = ""
        for record in records:
            samples = self.prometheus.query(record.selector, at)
            value = samples[0].value if len(samples) == 1 else None
            if kind == "error_ratio":
                driven, tolerance = sum(1 for r in sent if r.status >= 500) / total, RATIO_TOLERANCE
            elif kind == "latency_bad_ratio":
                threshold = fleet.latency_threshold_seconds(record)
                slower = sum(1 for r in sent if r.latency > threshold)
                driven, tolerance = slower / total, RATIO_TOLERANCE
                slow = sum(1 for r in sent if r.fault == "slow")
                note = f"client saw {slower} of {total} slower than {threshold}s; {slow} were injected slow"
            else:
                driven = total / record.window_seconds
                tolerance = RATE_TOLERANCE * driven
            badness = math.inf if value is None or math.isnan(value) else abs(value - driven) / tolerance
            rows.append((badness, record.name.rsplit(":", 1)[1], driven, value))
        worst = max(rows, key=lambda row: row[0])
        limit = f"±{RATE_TOLERANCE:.0%}" if kind == "requests" else f"±{RATIO_TOLERANCE}"
        value = worst[3]
        diff = (
            "no value" if value is None or math.isnan(value) else f"{value - worst[2]:+.4f} {limit} (worst: {worst[1]})"
        )
        self.checks.add(
            phase,
            f"{model} {records[0].name} (+{len(records) - 1} window{'s' if len(records) > 2 else ''})",
            driven=fmt(rows[0][2]),
            recorded=fmt(rows[0][3]),
            diff=diff,
            ok=worst[0] <= 1.0,
            note=note,
        )

    def check_client(self, phase: str, sent: list[traffic.Sent]) -> None:
        statuses = Counter(r.status for r in sent)
        wrong = [
            r
            for r in sent
            if r.status == 0
            or (r.fault == "error") != (r.status == 500)
            or (r.fault == "bad") != (400 <= r.status < 500)
            or (r.fault == "slow" and r.latency < 0.3)
        ]
        self.checks.add(
            phase,
            f"client: {len(sent)} requests, answered as driven",
            driven=", ".join(f"{status}: {n}" for status, n in sorted(statuses.items())),
            recorded="-",
            diff=f"{len(wrong)} unexpected",
            ok=not wrong,
        )

    def check_phase_alerts(self, phase: str) -> None:
        alerts = self.prometheus.alerts()
        firing = [a["labels"] for a in alerts if a["state"] == "firing"]
        others = [a for a in firing if a.get("model") in ("churn-model", "sentiment")]
        self.checks.add(
            phase,
            "no alert firing for churn-model or sentiment (no faults injected there)",
            driven="0 firing",
            recorded=f"{len(others)} firing",
            ok=not others,
            note=_names(others),
        )
        if phase == "errors":
            sent = [r for r in self.sent if r.model == "fraud-detector" and r.namespace == "ml-prod"]
            ratio = sum(1 for r in sent if r.status >= 500) / len(sent)
            page = [
                a
                for a in alerts
                if a["labels"].get("alertname") == "ModelAvailabilityBurnRate1h"
                and a["labels"].get("model") == "fraud-detector"
            ]
            state = page[0]["state"] if page else "inactive"
            self.checks.add(
                phase,
                "alert ModelAvailabilityBurnRate1h{model=fraud-detector} (no `for`)",
                driven=f"firing (errors {ratio:.3f} > 0.0144)",
                recorded=state,
                ok=state == "firing",
            )

    # -------------------------------------------------------------- the run

    def rest(self, phase: str) -> None:
        t_scraped, at = self.settle(time.time())
        self.check_rules_health(phase)
        self.check_idle_scaling(phase, at)
        if phase == "idle":  # before any traffic to ml-prod
            self.check_alerts_at_rest(phase)
            self.check_analysis(phase, at, t_scraped)
        self.mark(f"{phase} checked")

    def drive(
        self, pool: ThreadPoolExecutor, phase: str, seconds: float, faults: tuple[dict[str, float], dict[str, float]]
    ) -> None:
        stable = self.endpoints[self.pod("ml-prod", "fraud-detector", "stable").pod.name]
        canary = self.endpoints[self.pod("ml-prod", "fraud-detector", "canary").pod.name]
        churn = self.endpoints[self.pod("ml-prod", "churn-model").pod.name]
        sentiment = self.endpoints[self.pod("ml-prod", "sentiment").pod.name]
        streams = [
            traffic.Stream(
                FRAUD_RPS,
                [traffic.Share(stable, 1 - CANARY_WEIGHT, faults[0]), traffic.Share(canary, CANARY_WEIGHT, faults[1])],
            ),
            traffic.Stream(CHURN_RPS, [traffic.Share(churn, 1.0)]),
            traffic.Stream(SENTIMENT_RPS, [traffic.Share(sentiment, 1.0, {"bad": SENTIMENT_BAD})]),
        ]
        sent = traffic.run_phase(phase, streams, seconds, pool)
        self.sent += sent
        self.mark(f"{phase}: {len(sent)} requests answered")
        self.check_client(phase, sent)
        # Wait until Prometheus has scraped every pod after the last answer (plus the moment the
        # middleware takes to count it) and the rules were evaluated on that.
        t_scraped, at = self.settle(max(r.t_done for r in sent) + 0.2)
        self.check_slis(phase, at)
        self.check_analysis(phase, at, t_scraped)
        self.check_scaling(phase, at)
        self.check_phase_alerts(phase)
        self.mark(f"{phase} checked")

    def check_types(self, phase: str) -> None:
        """``generator.promql.value_type`` agrees with what the real server calls each result."""
        for expression, _ in TYPED:
            data = self.prometheus.get("/api/v1/query", {"query": expression})
            ours = promql.value_type(expression)
            self.checks.add(
                phase, f"result type of {expression[:52]}", driven=ours, recorded=data["resultType"],
                ok=data["resultType"] == ours,
            )

    def run(self) -> None:
        self.start_services()
        self.start_prometheus()
        self.check_up()
        self.check_types("idle")
        self.rest("idle")
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="live-client") as pool:
            for phase, seconds, stable_faults, canary_faults in PHASES:
                self.drive(pool, phase, seconds, (stable_faults, canary_faults))
        self.rest("rest")


def _names(labels: Iterable[Mapping[str, str]]) -> str:
    return "; ".join(f"{a.get('alertname')}{{model={a.get('model', '')}}}" for a in labels)


def _values(samples: Sequence[prom.Sample]) -> str:
    return "" if not samples else " = " + ", ".join(fmt(s.value) for s in samples[:3])


@pytest.mark.live
def test_live_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checks = Checks()
    run: LiveRun | None = None
    started = time.monotonic()
    try:
        with Processes(tmp_path / "logs") as procs:
            run = LiveRun(procs, tmp_path, checks)
            run.run()
    finally:
        wall = time.monotonic() - started
        lines = [checks.table(), "", "timeline (seconds since the start):"]
        lines += [f"  {at:6.1f}  {step}" for step, at in (run.timings if run else [])]
        lines += [f"  {wall:6.1f}  every process stopped", "", f"logs: {tmp_path / 'logs'}"]
        report = tmp_path / "live-report.txt"
        report.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with capsys.disabled():
            print("\n\nlive test: driven vs recorded\n\n" + "\n".join(lines) + f"\nreport: {report}\n")
    failed = checks.failed
    assert not failed, f"{len(failed)} of {len(checks.items)} live checks failed:\n" + "\n".join(
        f"- {c.phase} / {c.name}: driven {c.driven}, recorded {c.recorded} ({c.diff}) {c.note}" for c in failed
    )
