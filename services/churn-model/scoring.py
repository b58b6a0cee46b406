"""Feature config (features.yaml) and model loading for churn-model."""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import yaml
from numpy.typing import NDArray

log = logging.getLogger("churn-model")
Rows = NDArray[np.float64]
# Column names are checked against feature_names_in_ at load, so plain numpy rows are safe.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


@dataclass(frozen=True)
class Model:
    source: str  # "joblib" or "fallback"
    version: str
    predict: Callable[[Rows], Rows]  # feature rows -> churn probability per row


@dataclass(frozen=True)
class Config:
    revision: str
    max_batch_size: int
    features: list[str]  # column order of the model input
    defaults: Rows  # value used for a missing or null feature, per column
    risk_bands: list[tuple[str, float]]  # (band, lowest probability), highest cutoff first
    fallback: Model  # logistic scorer used when MODEL_DIR has no model.joblib


def load_config(path: Path) -> Config:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = raw["features"]
    features = [str(spec["name"]) for spec in specs]
    if len(set(features)) != len(features):
        raise ValueError(f"{path}: feature names repeat: {features}")
    defaults = np.array([float(spec["default"]) for spec in specs])
    w = np.array([float(spec["coefficient"]) for spec in specs])
    b = float(raw["fallback_model"]["intercept"])
    logistic = Model(
        "fallback",
        str(raw["fallback_model"]["version"]),
        lambda rows: 1.0 / (1.0 + np.exp(-np.clip(rows @ w + b, -50.0, 50.0))),
    )
    bands = sorted(((str(k), float(v)) for k, v in raw["risk_bands"].items()), key=lambda x: -x[1])
    if any(not 0.0 < cutoff <= 1.0 for _, cutoff in bands):
        raise ValueError(f"{path}: risk_bands cutoffs must lie in (0, 1]: {bands}")
    max_batch = int(raw["max_batch_size"])
    return Config(str(raw["revision"]), max_batch, features, defaults, bands, logistic)


def load_model(model_dir: Path, config: Config) -> Model:
    path = model_dir / "model.joblib"
    if not path.is_file():
        log.warning(
            "no model.joblib, using the built-in scorer", extra={"fields": {"path": str(path)}}
        )
        return config.fallback
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    estimator = joblib.load(path)
    names = [str(name) for name in getattr(estimator, "feature_names_in_", config.features)]
    width = getattr(estimator, "n_features_in_", len(config.features))
    if not hasattr(estimator, "predict_proba") or names != config.features or width != len(names):
        raise ValueError(f"{path}: need predict_proba over {config.features}, got {estimator!r}")
    return Model("joblib", f"sha256:{digest}", lambda rows: estimator.predict_proba(rows)[:, 1])
