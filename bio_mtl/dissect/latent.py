"""The latent to dissect and the genes behind each of its dimensions.

A latent comes either from ``adata.obsm`` (:func:`latent_dims`: any embedding, with genes
attributed by :func:`attribute_genes` from PCA loadings or by correlation) or from a model,
through the adapter of its checkpoint kind (:mod:`bio_mtl.dissect.adapters`), which returns a
:class:`LatentSource`: the AnnData, the ``obsm`` key, the covariates it computed and, when the
model has a linear decoder, its own gene attribution (:class:`GeneAttribution`).
:func:`rotate_latent` whitens and varimax-rotates any latent through its least-squares linear
decoder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ..expression.rotation import fit_latent_rotation

__all__ = ["ATTRIBUTIONS", "GeneAttribution", "LatentSource", "attribute_genes", "describe_model",
           "gene_universe", "latent_dims", "rotate_latent"]

#: Gene attribution modes of :func:`attribute_genes`.
ATTRIBUTIONS = ("auto", "correlation", "loadings")


@dataclass
class GeneAttribution:
    """A model's own gene scores for each latent dimension (e.g. decoder loadings).

    Attributes
    ----------
    loadings : ``(g, k)`` gene scores, one column per dimension
    genes : the ``g`` gene names
    expression : ``(n, g)`` the expression the model reads (for variance explained)
    source : how the scores were made (``"decoder"``)
    """

    loadings: np.ndarray
    genes: list[str]
    expression: np.ndarray
    source: str = "decoder"


@dataclass
class LatentSource:
    """What an adapter built from a model and its data.

    Attributes
    ----------
    adata : anndata.AnnData (``obs`` covariates, ``obsm`` latents)
    latent_key : the ``obsm`` key dissected by default
    latent_keys : every latent ``obsm`` key the adapter wrote
    covariates : covariates with at least one value (the default ``--covariate`` list)
    batch_key : suggested batch column (``None`` when there is only one level)
    attribution : the model's gene scores for ``latent_key`` (``None``: attribute from ``X``)
    gene_sets : whether ``X`` holds genes, so that gene sets are tested by default
    derived : whether ``adata`` was built from other inputs (a report then saves it)
    model : what to record as the model in the results' parameters
    """

    adata: Any
    latent_key: str
    latent_keys: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    batch_key: str | None = None
    attribution: GeneAttribution | None = None
    gene_sets: bool = False
    derived: bool = True
    model: str | None = None


def describe_model(model) -> str:
    """What results record as a model: its folder or shipped name, else its class name.

    Examples
    --------
    >>> describe_model("runs/expr"), describe_model(object())
    ('runs/expr', 'object')
    """
    return str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__


def _missing(kind: str, name: str, available, path) -> InputError:
    return InputError(f"{kind} {name!r} not found; available: "
                      f"{', '.join(map(str, available)) or 'none'}", path=path)


def latent_dims(adata, latent_key: str, *, max_dims: int | None = None,
                path: object = None) -> tuple[np.ndarray, list[str]]:
    """The latent ``obsm[latent_key]`` (first ``max_dims`` dimensions) and their names.

    Dimensions are named ``<key without X_><k>`` (``pca1``...), or after the columns when
    ``obsm[latent_key]`` is a DataFrame.

    Raises
    ------
    InputError
        A missing key (listing the available ones), a non-numeric latent or one with NaN or
        infinite values.

    Examples
    --------
    >>> import anndata as ad
    >>> a = ad.AnnData(np.zeros((3, 2)))
    >>> a.obsm["X_pca"] = np.arange(9.0).reshape(3, 3)
    >>> z, names = latent_dims(a, "X_pca", max_dims=2)
    >>> z.shape, names
    ((3, 2), ['pca1', 'pca2'])
    """
    z = _obsm_latent(adata, latent_key, path)[:, :max_dims]
    short = latent_key[2:] if latent_key.startswith("X_") else latent_key
    names = [f"{short}{i + 1}" for i in range(z.shape[1])]
    columns = getattr(adata.obsm[latent_key], "columns", None)  # a DataFrame names its axes
    if columns is not None and len(set(map(str, columns))) == len(columns):
        names = [str(c) for c in columns][: z.shape[1]]
    return z, names


def gene_universe(adata) -> tuple[np.ndarray | None, list[str], str]:
    """The widest expression the samples carry: ``adata.raw`` when present, else ``X``.

    scanpy workflows keep every gene (log-normalised) in ``raw`` and only the highly
    variable ones, scaled, in ``X``; ranking genes over ``raw`` lets a gene set be tested
    whatever the HVG selection kept of it.

    Returns
    -------
    tuple
        ``(expression (n, g) or None, genes, source)`` with ``source`` ``"raw"`` or ``"X"``.
    """
    if adata.raw is not None and adata.raw.X is not None and adata.raw.shape[1] > 0:
        m, genes, source = adata.raw.X, list(map(str, adata.raw.var_names)), "raw"
    elif adata.X is not None:
        m, genes, source = adata.X, list(map(str, adata.var_names)), "X"
    else:
        return None, [], "X"
    return np.asarray(m.toarray() if hasattr(m, "toarray") else m, dtype=float), genes, source


def attribute_genes(adata, latent_key: str, z: np.ndarray, *, attribution: str = "auto",
                    path: object = None
                    ) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    """Gene scores of each dimension of ``z`` (``obsm[latent_key]``) from the expression.

    Parameters
    ----------
    adata
        The samples, with expression in ``raw`` and/or ``X`` (:func:`gene_universe`).
    latent_key
        Where ``z`` came from (``"X_pca"`` has loadings in ``varm["PCs"]``).
    z
        ``(n, k)`` the latent.
    attribution
        ``"auto"`` or ``"correlation"``: the Pearson correlation of every gene of the
        universe (``raw`` when present, else ``X``) with each dimension; ``"loadings"``: the
        PCA loadings ``varm["PCs"]`` of ``X_pca`` (only the genes the PCA used, often the
        HVGs).
    path
        File name for error messages.

    Returns
    -------
    tuple
        ``(loadings (g, k), genes, expression (n, g), source)`` where ``source`` is
        ``"correlation:raw"``, ``"correlation:X"``, ``"pca_loadings"`` or ``"none"`` (no
        genes).

    Raises
    ------
    ConfigError
        An unknown ``attribution``, or ``"loadings"`` for a latent without them.
    InputError
        Correlation asked of an AnnData without expression.
    """
    if attribution not in ATTRIBUTIONS:
        raise ConfigError(f"unknown gene attribution {attribution!r}; choose "
                          f"{' or '.join(ATTRIBUTIONS)}")
    if attribution == "loadings":
        return _pca_loadings(adata, latent_key, z)
    x, genes, where = gene_universe(adata)
    if x is None:  # e.g. an obs + obsm only file: no genes to attribute
        if attribution == "correlation":
            raise InputError("gene attribution by correlation needs expression in X or raw, "
                             "but both are empty; layers available: "
                             f"{sorted(adata.layers.keys()) or 'none'}", path=path)
        return np.zeros((0, z.shape[1])), [], np.zeros((adata.n_obs, 0)), "none"
    if x.shape[1] == 0:
        return np.zeros((0, z.shape[1])), genes, x, "none"
    xs = (x - x.mean(0)) / np.where(x.std(0) == 0, 1, x.std(0))
    zs = (z - z.mean(0)) / np.where(z.std(0) == 0, 1, z.std(0))
    return xs.T @ zs / len(z), genes, x, f"correlation:{where}"


def _pca_loadings(adata, latent_key, z):
    """``varm["PCs"]`` of an ``X_pca`` latent over the genes the PCA used."""
    if latent_key != "X_pca" or "PCs" not in adata.varm \
            or adata.varm["PCs"].shape[1] < z.shape[1]:
        raise ConfigError("gene attribution 'loadings' needs latent_key='X_pca' with "
                          "varm['PCs'] (scanpy's PCA); use 'correlation'")
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    genes = list(map(str, adata.var_names))
    pcs = np.asarray(adata.varm["PCs"], dtype=float)[:, : z.shape[1]]
    used = np.isfinite(pcs).all(axis=1) & (np.abs(pcs).sum(axis=1) > 0)  # non-HVG: 0 or NaN
    return (pcs[used], [g for g, u in zip(genes, used, strict=True) if u],
            np.asarray(x, dtype=float)[:, used], "pca_loadings")


def _obsm_latent(adata, latent_key: str, path) -> np.ndarray:
    """``obsm[latent_key]`` as a finite 2-D float array (dense, DataFrame or sparse input)."""
    if latent_key not in adata.obsm:
        raise _missing("latent key (obsm)", latent_key, list(adata.obsm.keys()), path)
    value = adata.obsm[latent_key]
    value = value.toarray() if hasattr(value, "toarray") else value
    try:
        z = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"obsm[{latent_key!r}] is not numeric ({type(value).__name__})",
                         path=path) from None
    if z.ndim != 2 or z.shape[1] == 0:
        raise InputError(f"obsm[{latent_key!r}] has shape {z.shape}; expected (n_obs, dims)",
                         path=path)
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        first = [str(n) for n in np.asarray(adata.obs_names)[bad][:3]]
        raise InputError(f"obsm[{latent_key!r}] has NaN or infinite values in {int(bad.sum())} "
                         f"of {len(z)} rows (first: {', '.join(first)}); drop or impute them",
                         path=path)
    return z


def rotate_latent(z: np.ndarray, x: np.ndarray, names: list[str]
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Whiten + varimax an arbitrary latent using its least-squares linear decoder to ``x``.

    The decoder ``W`` (genes x dims) solves ``x - mean ~ (z - mean) W^T``; the rotation is the
    one :func:`~bio_mtl.expression.rotation.fit_latent_rotation` fits for expression models.

    Returns
    -------
    tuple
        The rotated latent, the rotated loadings (genes x dims') and names ``<name>_vmx<k>``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(50, 2))
    >>> zr, w, names = rotate_latent(z, z @ rng.normal(size=(2, 6)), ["pca1", "pca2"])
    >>> zr.shape, w.shape, names
    ((50, 2), (6, 2), ['pca_vmx1', 'pca_vmx2'])
    """
    zc, xc = z - z.mean(0), x - x.mean(0)
    weight = np.linalg.lstsq(zc, xc, rcond=None)[0].T  # (g, k)
    rot = fit_latent_rotation(z, weight)
    prefix = names[0].rstrip("0123456789") if names else "dim"
    new = [f"{prefix}_vmx{i + 1}" for i in range(rot["matrix"].shape[1])]
    return (z - rot["mean"]) @ rot["matrix"], rot["loadings"], new
