"""Whitening plus varimax rotation of a learned latent, so each axis carries one gene program.

A neural latent is identified only up to an invertible transform: any rotation of ``z`` with
the matching counter-rotation of a linear decoder reconstructs the data equally well, so single
dimensions need not mean anything. As in factor analysis we first whiten ``z`` (uncorrelated,
unit-variance axes) and then choose the orthogonal rotation that makes the decoder loadings
simplest, i.e. maximises the variance of the squared loadings (varimax, Kaiser 1958). Axes are
then ordered by the expression variance they carry and signed so their heaviest loadings are
positive. :class:`~bio_mtl.expression.ExpressionModel` rotates its latent this way after
training, and :func:`bio_mtl.dissect.dissect` (``rotate="varimax"``) any given latent.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_latent_rotation", "varimax"]


def varimax(loadings: np.ndarray, *, max_sweeps: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Orthogonal rotation ``R`` maximising the (raw) varimax criterion of ``loadings @ R``.

    Kaiser's pairwise algorithm: sweeps over all pairs of columns, rotating each pair by its
    closed-form optimal angle, until no angle exceeds ``tol``. (The popular SVD fixed-point
    iteration can oscillate between two rotations of equal criterion; the pairwise one cannot.)

    Parameters
    ----------
    loadings
        ``(p, k)`` loading matrix.
    max_sweeps, tol
        Sweep limit and angle tolerance (radians).

    Returns
    -------
    numpy.ndarray
        ``(k, k)`` orthogonal matrix.

    References
    ----------
    Kaiser HF. The varimax criterion for analytic rotation in factor analysis.
    Psychometrika 1958;23:187-200.

    Examples
    --------
    >>> r = varimax(np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 2.0]]))
    >>> np.allclose(r @ r.T, np.eye(2))
    True
    """
    lam = np.array(loadings, dtype=float)
    p, k = lam.shape
    rotation = np.eye(k)
    for _ in range(max_sweeps):
        largest = 0.0
        for i in range(k - 1):
            for j in range(i + 1, k):
                x, y = lam[:, i], lam[:, j]
                u, v = x**2 - y**2, 2 * x * y
                a, b = u.sum(), v.sum()
                num = 2 * (np.sum(u * v) - a * b / p)
                den = np.sum(u**2 - v**2) - (a**2 - b**2) / p
                phi = np.arctan2(num, den) / 4
                if abs(phi) < tol:
                    continue
                largest = max(largest, abs(phi))
                c, s = np.cos(phi), np.sin(phi)
                pair = np.array([[c, -s], [s, c]])
                lam[:, [i, j]] = lam[:, [i, j]] @ pair
                rotation[:, [i, j]] = rotation[:, [i, j]] @ pair
        if largest < tol:
            break
    return rotation


def fit_latent_rotation(z: np.ndarray, decoder_weight: np.ndarray, *, method: str = "varimax",
                        eps: float = 1e-6) -> dict:
    """Fit ``z' = (z - mean) @ matrix`` and the matching loadings ``W' = W @ pinv(matrix).T``.

    Parameters
    ----------
    z
        ``(n, k)`` latent of the training samples.
    decoder_weight
        ``(g, k)`` linear decoder weights (gene loadings on the raw latent).
    method
        ``"varimax"`` or ``"none"`` (whitening only, principal-axis order).
    eps
        Axes with variance below ``eps`` times the largest are dropped as dead.

    Returns
    -------
    dict
        ``mean`` ``(k,)``, ``matrix`` ``(k, k')`` and ``loadings`` ``(g, k')``.
    """
    mean = z.mean(axis=0)
    evals, evecs = np.linalg.eigh(np.cov(z, rowvar=False))
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    keep = evals > eps * evals[0]
    evals, evecs = evals[keep], evecs[:, keep]
    whiten = evecs / np.sqrt(evals)[None, :]  # u = (z - mean) @ whiten has identity covariance
    loadings = decoder_weight @ (evecs * np.sqrt(evals)[None, :])
    rotation = varimax(loadings) if method == "varimax" else np.eye(loadings.shape[1])
    loadings = loadings @ rotation
    order = np.argsort(-np.sum(loadings**2, axis=0))
    signs = np.sign(np.sum(loadings**3, axis=0))[order]
    signs[signs == 0] = 1.0
    rotation = rotation[:, order] * signs[None, :]
    return {"mean": mean, "matrix": whiten @ rotation, "loadings": loadings[:, order] * signs}
