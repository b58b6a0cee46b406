"""Decision config (thresholds.yaml) and model loading for fraud-detector."""

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

log = logging.getLogger("fraud-detector")
Rows = NDArray[np.float64]
# Column names are checked against feature_names_in_ at load, so plain numpy rows are safe.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


def parse_threshold(text: str) -> float:
    if not 0.0 < (value := float(text)) <= 1.0:
        raise ValueError(f"score threshold {text!r} is outside (0, 1]")
    return value


@dataclass(frozen=True)
class Model:
    source: str  # "joblib" or "fallback"
    version: str
    predict: Callable[[Rows], Rows]  # feature rows -> fraud probability per row


@dataclass(frozen=True)
class Config:
    revision: str
    features: list[str]  # column order of the model input
    review_band: float
    mcc_thresholds: dict[str, float]
    fallback: Model  # logistic scorer used when MODEL_DIR has no model.joblib


def load_config(path: Path) -> Config:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    features, fallback = [str(name) for name in raw["features"]], raw["fallback_model"]
    if missing := [name for name in features if name not in fallback["coefficients"]]:
        raise ValueError(f"{path}: fallback_model.coefficients lacks {missing}")
    w = np.array([float(fallback["coefficients"][name]) for name in features])
    b = float(fallback["intercept"])
    logistic = Model(
        "fallback",
        str(fallback["version"]),
        lambda rows: 1.0 / (1.0 + np.exp(-np.clip(rows @ w + b, -50.0, 50.0))),
    )
    mcc_thresholds: dict[str, float] = {}
    for category, spec in raw.get("merchant_categories", {}).items():
        for mcc in spec["mcc"]:
            if not isinstance(mcc, str):  # unquoted 0742 is the integer 482 in YAML 1.1
                raise ValueError(f"{path}: {category}: MCC {mcc!r} must be a quoted string")
            mcc_thresholds[mcc] = parse_threshold(str(spec["threshold"]))
    band = float(raw["decision"]["review_band"])
    return Config(str(raw["revision"]), features, band, mcc_thresholds, logistic)


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
