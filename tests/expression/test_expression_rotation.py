"""Whitening + varimax rotation of a latent (Kaiser 1958)."""

from __future__ import annotations

import numpy as np

from bio_mtl.expression.rotation import fit_latent_rotation, varimax


def test_varimax_recovers_sparse_loadings():
    true = np.zeros((40, 2))
    true[:20, 0], true[20:, 1] = 1.0, 1.0
    angle = 0.6
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mixed = true @ rot
    recovered = mixed @ varimax(mixed)
    # each column loads on one block only (up to sign and order)
    assert np.allclose(np.sort(np.abs(recovered), axis=1)[:, 0], 0, atol=1e-6)


def test_latent_rotation_is_whitening_and_reconstruction_preserving():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(500, 3)) @ np.array([[2, 0.5, 0], [0, 1, 0.3], [0, 0, 0.5]])
    w = rng.normal(size=(30, 3))
    rot = fit_latent_rotation(z, w)
    zr = (z - rot["mean"]) @ rot["matrix"]
    np.testing.assert_allclose(np.cov(zr, rowvar=False), np.eye(3), atol=1e-8)
    np.testing.assert_allclose((z - z.mean(0)) @ w.T, zr @ rot["loadings"].T, atol=1e-8)
