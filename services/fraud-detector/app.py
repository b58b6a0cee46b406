"""fraud-detector: real-time card fraud scoring API (Starlette, served by uvicorn)."""

from __future__ import annotations

import asyncio
import math
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from prometheus_client import Histogram
from scoring import Config, Model, load_config, load_model, parse_threshold
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from telemetry import ObservabilityMiddleware, kv, metrics, setup_logging

MODEL_DIR = Path(os.getenv("MODEL_DIR", "/models"))
CONFIG_FILE = Path(os.getenv("CONFIG_DIR", "/etc/fraud-detector")) / "thresholds.yaml"
TOKEN = os.getenv("FEATURE_STORE_TOKEN", "")  # secret: never logged, redacted if it leaks
log = setup_logging("fraud-detector", os.getenv("LOG_LEVEL", "info"), secrets=[TOKEN])
SCORES = Histogram(
    "fraud_score",
    "Fraud scores returned by /predict.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)


class Runtime:
    config: Config
    default_threshold: float
    model: Model | None = None


runtime = Runtime()


async def load_in_background() -> None:
    try:
        runtime.model = await asyncio.to_thread(load_model, MODEL_DIR, runtime.config)
    except Exception:
        log.exception("model load failed, shutting down")
        os.kill(os.getpid(), signal.SIGTERM)
        return
    log.info("ready", extra=kv(source=runtime.model.source, version=runtime.model.version))


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    runtime.config = config = load_config(CONFIG_FILE)
    runtime.default_threshold = threshold = parse_threshold(os.getenv("SCORE_THRESHOLD", "0.8"))
    fields = kv(revision=config.revision, threshold=threshold, token_set=bool(TOKEN))
    log.info("loading model", extra=fields)
    task = asyncio.create_task(load_in_background())  # /healthz answers while the model loads
    yield
    task.cancel()


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


async def predict(request: Request) -> JSONResponse:
    model, config = runtime.model, runtime.config
    if model is None:
        return JSONResponse({"error": "model not loaded yet"}, status_code=503)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "request body is not valid JSON"}, status_code=400)
    features = body.get("features") if isinstance(body, dict) else None
    if not isinstance(features, dict):
        return JSONResponse({"error": 'expected {"features": {...}}'}, status_code=422)
    missing = [name for name in config.features if name not in features]
    invalid = [
        name for name in config.features if name in features and not is_number(features[name])
    ]
    if missing or invalid:
        error = {"error": "invalid features", "missing": missing, "not_numeric": invalid}
        return JSONResponse(error, status_code=422)
    score = float(model.predict(np.array([[float(features[n]) for n in config.features]]))[0])
    SCORES.observe(score)
    mcc = str(body.get("mcc")).zfill(4)  # merchant category code, e.g. "5732"
    cutoff, band = config.mcc_thresholds.get(mcc, runtime.default_threshold), config.review_band
    verdict = "decline" if score >= cutoff else "review" if score >= cutoff - band else "approve"
    txn = body.get("transaction_id")
    return JSONResponse(
        {
            "transaction_id": txn if isinstance(txn, str) else None,
            "score": round(score, 6),
            "threshold": cutoff,
            "decision": verdict,
            "model": {"source": model.source, "version": model.version},
            "config_revision": config.revision,
        }
    )


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(_: Request) -> JSONResponse:
    if runtime.model is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return JSONResponse({"status": "ready", "model": runtime.model.source})


app = Starlette(
    routes=[
        Route("/predict", predict, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ],
    middleware=[Middleware(ObservabilityMiddleware, paths={"/predict"})],
    lifespan=lifespan,
    max_body_size=64 * 1024,
)
