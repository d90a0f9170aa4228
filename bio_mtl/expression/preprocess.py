"""Expression preprocessing recorded in the model: input detection, scanpy normalisation, HVGs.

Training runs ``sc.pp.normalize_total`` -> ``sc.pp.log1p`` -> ``sc.pp.highly_variable_genes``
(Seurat flavour) and standardises the chosen genes; every parameter, the gene list, and the
per-gene means and standard deviations are returned as a JSON-ready dict that the checkpoint
stores, so the same transformation is re-applied to a new file.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["apply_preprocessing", "detect_input", "fit_preprocessing"]

_CLIP = 10.0


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float64)


def _is_counts(x: np.ndarray) -> bool:
    sample = x[: min(len(x), 500)]
    return bool(sample.min() >= 0 and np.allclose(sample, np.round(sample)) and sample.max() > 1)


def detect_input(adata, *, path: object = None) -> tuple[str, np.ndarray, list[str]]:
    """Find the expression matrix: raw counts or log-normalised values.

    Looks, in order, at ``layers["counts"]``, ``X`` and ``raw.X``. A matrix of non-negative
    integers is ``"counts"``; a non-negative non-integer matrix with maximum below 30 is
    ``"lognorm"`` (already ``normalize_total`` + ``log1p``). Scaled data (negative values) is
    skipped.

    Returns
    -------
    tuple
        ``(kind, matrix (n, g) float64, gene names)``.

    Raises
    ------
    InputError
        When none of them holds counts or log-normalised values.
    """
    candidates = []
    if "counts" in adata.layers:
        candidates.append(("layers['counts']", adata.layers["counts"], list(adata.var_names)))
    candidates.append(("X", adata.X, list(adata.var_names)))
    if adata.raw is not None:
        candidates.append(("raw.X", adata.raw.X, list(adata.raw.var_names)))
    seen = []
    for where, matrix, genes in candidates:
        x = None if matrix is None else _dense(matrix)
        if x is None or x.size == 0:
            seen.append(f"{where} is empty")
            continue
        if not np.isfinite(x).all():
            seen.append(f"{where} has NaN or infinite values")
            continue
        if _is_counts(x):
            return "counts", x, genes
        if x.min() >= 0 and x.max() < 30:
            return "lognorm", x, genes
        seen.append(f"{where} has negative values (scaled?)" if x.min() < 0 else
                    f"{where} is non-integer with values up to {x.max():.3g}")
    raise InputError(
        f"no raw counts or log-normalised expression found ({'; '.join(seen)}); layers "
        f"available: {', '.join(sorted(adata.layers.keys())) or 'none'}; put raw counts in "
        "layers['counts'] or X", path=path)


def _log_normalise(adata_like, kind: str, target_sum: float):
    import scanpy as sc

    if kind == "counts":
        sc.pp.normalize_total(adata_like, target_sum=target_sum)
        sc.pp.log1p(adata_like)
    return adata_like


def fit_preprocessing(adata, *, n_top_genes: int = 2000, target_sum: float = 1e4,
                      path: object = None) -> tuple[np.ndarray, dict]:
    """Normalise, log-transform, choose HVGs and standardise; return matrix and recipe.

    Parameters
    ----------
    adata
        The training AnnData (not modified).
    n_top_genes
        Number of highly variable genes (all genes when the file has fewer).
    target_sum
        ``normalize_total`` target.
    path
        File name for error messages.

    Returns
    -------
    tuple
        ``(X (n, g) float32 standardised, recipe dict)``.
    """
    import anndata as ad
    import scanpy as sc

    kind, x, genes = detect_input(adata, path=path)
    tmp = ad.AnnData(X=x.astype(np.float32))
    tmp.var_names = [str(g) for g in genes]
    tmp = _log_normalise(tmp, kind, target_sum)
    if n_top_genes < tmp.n_vars:
        sc.pp.highly_variable_genes(tmp, n_top_genes=n_top_genes, flavor="seurat")
        keep = np.asarray(tmp.var["highly_variable"], dtype=bool)
    else:
        keep = np.ones(tmp.n_vars, dtype=bool)
    logx = _dense(tmp.X)[:, keep]
    mean, std = logx.mean(axis=0), logx.std(axis=0)
    std[std == 0] = 1.0
    recipe = {"input": kind, "target_sum": target_sum, "log1p": True,
              "highly_variable_genes": {"flavor": "seurat", "n_top_genes": int(n_top_genes)},
              "scale": {"clip": _CLIP},
              "genes": [g for g, k in zip(genes, keep, strict=True) if k],
              "mean": mean.round(6).tolist(), "std": std.round(6).tolist()}
    return np.clip((logx - mean) / std, -_CLIP, _CLIP).astype(np.float32), recipe


def apply_preprocessing(adata, recipe: dict, *, path: object = None) -> tuple[np.ndarray, dict]:
    """Re-apply a recorded recipe to a new AnnData.

    Genes of the recipe that the file lacks are set to the training mean (0 after
    standardisation); the returned info dict lists them.

    Raises
    ------
    InputError
        If the model was trained on counts and the file has none, or no gene matches.
    """
    import anndata as ad

    kind, x, genes = detect_input(adata, path=path)
    if recipe["input"] == "counts" and kind != "counts":
        raise InputError("the model was trained on raw counts but the file holds "
                         f"log-normalised values only; layers available: "
                         f"{sorted(adata.layers.keys()) or 'none'}; provide counts in X or "
                         "layers['counts']", path=path)
    tmp = _log_normalise(ad.AnnData(X=x.astype(np.float32)), kind, recipe["target_sum"])
    logx = _dense(tmp.X)
    index = {g: i for i, g in enumerate(genes)}
    wanted = recipe["genes"]
    present = [g for g in wanted if g in index]
    if not present:
        raise InputError(f"none of the model's {len(wanted)} genes are in the file (model "
                         f"genes start {', '.join(wanted[:5])}; file genes start "
                         f"{', '.join(genes[:5])})", path=path)
    mean, std = np.asarray(recipe["mean"]), np.asarray(recipe["std"])
    out = np.zeros((logx.shape[0], len(wanted)), dtype=np.float64)
    for j, g in enumerate(wanted):
        if g in index:
            out[:, j] = (logx[:, index[g]] - mean[j]) / std[j]
    missing = [g for g in wanted if g not in index]
    return np.clip(out, -_CLIP, _CLIP).astype(np.float32), {"missing_genes": missing,
                                                              "input": kind}
