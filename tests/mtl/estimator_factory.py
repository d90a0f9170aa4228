"""Tiny multi-task estimators for the common estimator checks (tests/test_estimators.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bio_mtl.mtl.config import DataConfig, ModelConfig
from bio_mtl.mtl.estimator import Estimator
from bio_mtl.mtl.experiment import MultiTaskEstimator
from bio_mtl.mtl.tasks import TaskSpec
from bio_mtl.mtl.train_config import TrainConfig

KINDS = ("mtl",)


def make(kind: str, seed: int) -> tuple[Estimator, dict, Callable]:
    """An unfitted MultiTaskEstimator (64 synthetic samples, 3 classes + a regression, FAMO).

    The predictor returns both tasks' outputs on 6 fixed raw feature rows.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; this factory makes {KINDS}")
    est = MultiTaskEstimator(
        data=DataConfig(n_samples=64, n_features=5, missing=0.2, seed=0),
        model=ModelConfig(encoder_params={"hidden_dims": [8], "dropout": 0.1}),
        tasks=(TaskSpec("c", "classification", 3), TaskSpec("r", "regression")),
        training=TrainConfig(epochs=2, batch_size=16, lr=0.01, weighting="famo", seed=seed))
    probe = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)

    def predict(fitted: MultiTaskEstimator) -> dict:
        return fitted.predict(probe)

    return est, {}, predict
