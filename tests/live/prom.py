"""A real Prometheus for the live test: its configuration, its process and its HTTP API."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .procs import Processes, free_port, http_status, wait_until


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


def parse_time(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Go's format) -> Unix seconds; Go's zero time -> 0."""
    if text.startswith("0001-01-01"):
        return 0.0
    head, _, rest = text.partition(".")
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class PrometheusAPI:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        url = f"{self.base}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """Instant query (``/api/v1/query``) at ``at`` (Unix seconds; now when None)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise RuntimeError(f"{expr}: result type {data['resultType']}")
        return [Sample(item["metric"], float(item["value"][1])) for item in data["result"]]

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/rules")["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/alerts")["alerts"])

    def active_targets(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/targets", {"state": "active"})["activeTargets"])


def write_config(path: Path, jobs: Sequence[Mapping[str, Any]], rule_files: Sequence[Path], interval: str) -> None:
    config = {
        # The generated PodMonitors say 30s; the test scrapes and evaluates every second so that a
        # handful of samples exist within seconds and the whole test fits in two minutes.
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": list(jobs),
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise FileNotFoundError("no prometheus on PATH: run `make live-deps` (Debian package prometheus)")
    return found


def start(procs: Processes, workdir: Path, config: Path, env: Mapping[str, str]) -> PrometheusAPI:
    port = free_port()
    procs.start(
        "prometheus",
        [
            prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
        env,
        workdir,
    )
    api = PrometheusAPI(f"http://127.0.0.1:{port}")
    wait_until("Prometheus /-/ready", lambda: http_status(f"{api.base}/-/ready") == 200, 30, procs=procs)
    return api
