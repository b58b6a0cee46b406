"""churn-model: batch customer churn scoring API (Starlette, served by uvicorn)."""

from __future__ import annotations

import asyncio
import math
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import Histogram
from scoring import Config, Model, Rows, load_config, load_model
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from telemetry import ObservabilityMiddleware, kv, metrics, setup_logging

MODEL_DIR = Path(os.getenv("MODEL_DIR", "/models"))
CONFIG_FILE = Path(os.getenv("CONFIG_DIR", "/etc/churn-model")) / "features.yaml"
log = setup_logging("churn-model", os.getenv("LOG_LEVEL", "info"))
PROBABILITIES = Histogram(
    "churn_probability",
    "Churn probabilities returned by /predict, one observation per customer.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
BATCH_SIZES = Histogram(
    "churn_batch_size",
    "Customers scored per /predict request.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
)


class Runtime:
    config: Config
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
    log.info("loading model", extra=kv(revision=config.revision, model_dir=str(MODEL_DIR)))
    task = asyncio.create_task(load_in_background())  # /healthz answers while the model loads
    yield
    task.cancel()


def build_rows(config: Config, instances: list[Any]) -> tuple[Rows, list[str]]:
    """Feature matrix in config column order, defaults for missing or null values; errors."""
    rows, errors = np.tile(config.defaults, (len(instances), 1)), []
    for i, instance in enumerate(instances):
        features = instance.get("features") if isinstance(instance, dict) else None
        if not isinstance(features, dict):
            errors.append(f"instances[{i}]: expected an object with a 'features' object")
            continue
        for j, name in enumerate(config.features):
            value = features.get(name)
            if isinstance(value, int | float) and math.isfinite(value):
                rows[i, j] = float(value)
            elif value is not None:
                errors.append(f"instances[{i}].features.{name}: {value!r} is not a number")
    return rows, errors


def risk_band(config: Config, probability: float) -> str:
    return next((band for band, low in config.risk_bands if probability >= low), "low")


async def predict(request: Request) -> JSONResponse:
    model, config = runtime.model, runtime.config
    if model is None:
        return JSONResponse({"error": "model not loaded yet"}, status_code=503)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "request body is not valid JSON"}, status_code=400)
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        return JSONResponse({"error": 'expected {"instances": [...]}, not empty'}, status_code=422)
    if len(instances) > config.max_batch_size:
        error = f"{len(instances)} instances, at most {config.max_batch_size} per request"
        return JSONResponse({"error": error}, status_code=413)
    rows, errors = build_rows(config, instances)
    if errors:
        return JSONResponse({"error": "invalid instances", "details": errors[:20]}, 422)
    probabilities = await asyncio.to_thread(model.predict, rows)  # keep the event loop free
    BATCH_SIZES.observe(len(instances))
    predictions = []
    for instance, value in zip(instances, probabilities, strict=True):
        probability = float(value)
        PROBABILITIES.observe(probability)
        customer = instance.get("customer_id")
        predictions.append(
            {
                "customer_id": customer if isinstance(customer, str) else None,
                "churn_probability": round(probability, 6),
                "risk": risk_band(config, probability),
            }
        )
    return JSONResponse(
        {
            "predictions": predictions,
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
    max_body_size=1024 * 1024,
)
