"""Tiny dosing estimators for the common estimator checks (tests/test_estimators.py)."""

from __future__ import annotations

from collections.abc import Callable

from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.simulate import simulate_cohort
from bio_mtl.mtl.estimator import Estimator

KINDS = ("dosing",)


def make(kind: str, seed: int) -> tuple[Estimator, dict, Callable]:
    """An unfitted two-drug DosingModel, its fit data (120 simulated rows) and a predictor."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; this factory makes {KINDS}")
    est = DosingModel(hidden=4, epochs=3, batch_size=32, calibration_fraction=0.25, seed=seed)
    train = simulate_cohort({"warfarin": 70, "phenytoin": 50}, seed=0)
    probe = simulate_cohort({"warfarin": 4, "phenytoin": 4}, seed=1)

    def predict(fitted: DosingModel) -> dict:
        dose, lower, upper = fitted.predict_interval(probe)
        return {"dose": dose, "lower": lower, "upper": upper}

    return est, {"X": train}, predict
