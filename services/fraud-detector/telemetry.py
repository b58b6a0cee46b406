"""JSON-lines logging and Prometheus HTTP metrics for a Starlette model service.

The same file ships in every Python model service's build context (services/*/telemetry.py).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # type: ignore[no-untyped-call]
REQUESTS = Counter("http_requests_total", "HTTP requests.", ["method", "path", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency.",
    ["method", "path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMEASURED = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: not traffic
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
log = logging.getLogger("access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, msg, logger, extra fields; secrets redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [json.dumps(s)[1:-1] for s in secrets if len(s) >= 4]

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "logger": record.name,
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str)
        for secret in self.secrets:
            line = line.replace(secret, "[REDACTED]")
        return line


def setup_logging(name: str, level_name: str, secrets: Iterable[str] = ()) -> logging.Logger:
    """Route every record, uvicorn's included, to stdout through JsonFormatter."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(secrets))
    level = logging.getLevelNamesMapping().get(level_name.upper(), logging.INFO)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for uvicorn_logger in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(uvicorn_logger)
        logger.handlers.clear()
        logger.propagate, logger.level = True, level
    logging.getLogger("uvicorn.access").disabled = True  # ObservabilityMiddleware logs requests
    logger = logging.getLogger(name)
    if level_name.upper() not in logging.getLevelNamesMapping():
        logger.warning("unknown LOG_LEVEL, using info", extra=kv(log_level=level_name))
    return logger


def kv(**fields: Any) -> dict[str, Any]:
    """`extra=` argument that adds fields to a JSON log line."""
    return {"fields": fields}


class ObservabilityMiddleware:
    """Counts and times each request (bounded labels) and writes one access-log line."""

    def __init__(self, app: ASGIApp, paths: Collection[str]) -> None:
        self.app, self.paths = app, frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNMEASURED:
            await self.app(scope, receive, send)
            return
        status, start = 500, time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            seconds = time.perf_counter() - start
            path = scope["path"] if scope["path"] in self.paths else "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            REQUESTS.labels(method, path, str(status)).inc()
            LATENCY.labels(method, path).observe(seconds)
            log.info(
                "request",
                extra=kv(
                    method=method,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                ),
            )


async def metrics(_: Request) -> Response:
    """Prometheus text exposition of the default registry."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_PLAIN_0_0_4)
