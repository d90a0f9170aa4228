"""Tiny expression estimators for the common estimator checks (tests/test_estimators.py)."""

from __future__ import annotations

from collections.abc import Callable

from bio_mtl.dissect.simulate import simulate_expression
from bio_mtl.expression import ExpressionModel
from bio_mtl.mtl.estimator import Estimator

KINDS = ("expression",)


def make(kind: str, seed: int) -> tuple[Estimator, dict, Callable]:
    """An unfitted ExpressionModel with the batch adversary, its fit data and a predictor.

    Fit data: 60 simulated samples (40 highly variable genes kept), an age regression and a
    disease classification, batch key ``batch``. The predictor returns the
    rotated latent and the gene loadings of 20 other samples.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; this factory makes {KINDS}")
    est = ExpressionModel(latent_dim=3, hidden_dim=8, n_top_genes=40, adversarial_batch=True,
                          epochs=2, batch_size=16, seed=seed)
    train = simulate_expression(60, seed=0)
    probe = simulate_expression(20, seed=1)

    def predict(fitted: ExpressionModel) -> dict:
        return {"latent": fitted.transform(probe)[0], "loadings": fitted.gene_loadings()}

    fit = {"adata": train, "tasks": {"age": "regression", "disease": "classification"},
           "batch_key": "batch"}
    return est, fit, predict
