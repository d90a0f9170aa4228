"""Per-dimension association tests between a latent and sample covariates (pure functions).

Arrays in, numbers out; no AnnData, no I/O. Every association has one statistic that gives its
p-value, its effect size and its sign, all on ranks (the tests are rank tests):

- a continuous covariate: Spearman's rho (``signed_effect``), ``effect = rho**2``, p from
  Spearman's test;
- a binary covariate: rho between the dimension and the indicator of the second level (the
  point-biserial correlation of ranks; ``effect = rho**2`` is the rank ``eta**2``), p from the
  Mann-Whitney test;
- a covariate with more levels: ``effect`` = the rank ``eta**2`` = ``H / (n - 1)`` of the
  Kruskal-Wallis test that gives p, ``signed_effect = sqrt(effect)`` (no direction exists).

So an effect threshold, a heatmap colour and a star all read the same number. Pearson's r and the
``eta**2`` of the raw values are kept as descriptions (``pearson``, ``eta2``). AUROC is the
engine's (:func:`bio_mtl.mtl.metrics.auroc`).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from ..mtl.metrics import auroc

__all__ = ["benjamini_hochberg", "bootstrap_signed_effect", "categorical_association",
           "conditional_lrt", "continuous_association", "eta_squared", "level_table"]


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (step-up FDR); NaN p-values stay NaN and are not counted.

    Parameters
    ----------
    pvalues
        Any shape of p-values.

    Returns
    -------
    numpy.ndarray
        q-values of the same shape.

    References
    ----------
    Benjamini Y, Hochberg Y. Controlling the false discovery rate. J R Stat Soc B 1995;57:289-300.

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    ok = np.flatnonzero(~np.isnan(flat))
    out = np.full(flat.shape, np.nan)
    if ok.size:
        order = ok[np.argsort(flat[ok], kind="mergesort")]
        m = ok.size
        q = flat[order] * m / np.arange(1, m + 1)
        q = np.minimum.accumulate(q[::-1])[::-1]
        out[order] = np.clip(q, 0, 1)
    return out.reshape(p.shape)


def eta_squared(values: np.ndarray, groups: np.ndarray) -> float:
    """One-way ANOVA effect size: between-group over total sum of squares.

    Examples
    --------
    >>> eta_squared(np.array([1.0, 1.0, 3.0, 3.0]), np.array(["a", "a", "b", "b"]))
    1.0
    """
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    total = np.sum((values - values.mean()) ** 2)
    if total == 0:
        return float("nan")
    between = sum(np.sum(groups == g) * (values[groups == g].mean() - values.mean()) ** 2
                  for g in np.unique(groups))
    return float(between / total)


def continuous_association(z: np.ndarray, x: np.ndarray, *, n_permutations: int = 0,
                           rng: np.random.Generator | None = None) -> dict[str, float]:
    """Spearman and Pearson correlation of one latent dimension with a continuous covariate.

    Parameters
    ----------
    z
        ``(n,)`` dimension values.
    x
        ``(n,)`` covariate values; NaN entries are left out.
    n_permutations
        If > 0, also a two-sided permutation p-value of Spearman's rho (``(b + 1) / (B + 1)``).
    rng
        Generator for the permutations.

    Returns
    -------
    dict
        ``spearman``, ``spearman_p``, ``pearson``, ``pearson_p``, ``signed_effect``
        (Spearman's rho), ``effect`` (rho^2), ``p`` (the p-value used downstream: permutation
        if computed, else Spearman's analytic), ``n``.
    """
    ok = ~(np.isnan(x) | np.isnan(z))
    z, x = z[ok], x[ok]
    if ok.sum() < 4 or np.std(x) == 0 or np.std(z) == 0:
        return {"spearman": np.nan, "spearman_p": np.nan, "pearson": np.nan,
                "pearson_p": np.nan, "signed_effect": np.nan, "effect": np.nan, "p": np.nan,
                "n": int(ok.sum())}
    rho, rho_p = stats.spearmanr(z, x)
    r, r_p = stats.pearsonr(z, x)
    out = {"spearman": float(rho), "spearman_p": float(rho_p), "pearson": float(r),
           "pearson_p": float(r_p), "signed_effect": float(rho), "effect": float(rho) ** 2,
           "p": float(rho_p), "n": int(ok.sum())}
    if n_permutations > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        rz, rx = stats.rankdata(z), stats.rankdata(x)
        rz = (rz - rz.mean()) / rz.std()
        perms = np.stack([rng.permutation(rx) for _ in range(n_permutations)])
        perms = (perms - perms.mean(axis=1, keepdims=True)) / perms.std(axis=1, keepdims=True)
        null = perms @ rz / len(rz)
        out["permutation_p"] = float((np.sum(np.abs(null) >= abs(rho) - 1e-12) + 1)
                                     / (n_permutations + 1))
        out["p"] = out["permutation_p"]
    return out


def categorical_association(z: np.ndarray, labels: np.ndarray) -> dict:
    """Association of one latent dimension with a categorical covariate.

    Binary covariates get the AUROC of the dimension for the second level (Mann-Whitney p);
    covariates with more levels get the Kruskal-Wallis test, and every level a one-vs-rest
    AUROC. The effect is the rank ``eta**2`` (see the module docstring).

    Parameters
    ----------
    z
        ``(n,)`` dimension values.
    labels
        ``(n,)`` level labels (strings); ``None``/NaN entries are left out.

    Returns
    -------
    dict
        ``test`` (``"mann-whitney"`` or ``"kruskal-wallis"``), ``statistic``, ``p``,
        ``effect`` (rank eta^2), ``signed_effect``, ``eta2`` (of the raw values), ``auroc``
        (binary) or ``level_auroc`` (``{level: AUROC}``), ``best_level`` (the level whose
        one-vs-rest AUROC is furthest from 0.5), ``n``.

    Examples
    --------
    >>> res = categorical_association(np.array([1.0, 2, 3, 4]), np.array(list("aabb")))
    >>> res["test"], res["auroc"], round(res["signed_effect"], 3), round(res["effect"], 3)
    ('mann-whitney', 1.0, 0.894, 0.8)
    """
    labels = np.asarray(labels, dtype=object)
    ok = np.array([lab is not None and lab == lab for lab in labels]) & ~np.isnan(z)
    z, labels = z[ok], labels[ok].astype(str)
    levels = sorted(set(labels))
    out: dict = {"n": int(ok.sum()), "effect": np.nan, "signed_effect": np.nan, "eta2": np.nan,
                 "p": np.nan, "statistic": np.nan}
    if len(levels) < 2 or np.ptp(z) == 0:  # one level, or a constant dimension: no test
        out["test"] = "none"
        return out
    ranks = stats.rankdata(z)
    out["effect"] = eta_squared(ranks, labels)  # = H / (n - 1), tie-corrected
    out["eta2"] = eta_squared(z, labels)
    level_auc = {lev: auroc(labels == lev, z) for lev in levels}
    out["level_auroc"] = level_auc
    out["best_level"] = max(levels, key=lambda lev: abs(level_auc[lev] - 0.5))
    groups = [z[labels == lev] for lev in levels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if len(levels) == 2:
            res = stats.mannwhitneyu(groups[1], groups[0], alternative="two-sided")
            sign = 1.0 if level_auc[levels[1]] >= 0.5 else -1.0
            out.update(test="mann-whitney", statistic=float(res.statistic), p=float(res.pvalue),
                       auroc=level_auc[levels[1]], positive_level=levels[1],
                       signed_effect=sign * float(np.sqrt(out["effect"])))
        else:
            res = stats.kruskal(*groups)
            out.update(test="kruskal-wallis", statistic=float(res.statistic),
                       p=float(res.pvalue), signed_effect=float(np.sqrt(out["effect"])))
    return out


def level_table(z: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Per level of a categorical covariate: ``n``, mean of the dimension, one-vs-rest AUROC.

    Levels are ordered by their mean, highest first; missing labels are left out.

    Examples
    --------
    >>> level_table(np.array([1.0, 2, 3, 4]), np.array(list("aabb")))[0]
    {'level': 'b', 'n': 2, 'mean': 3.5, 'auroc': 1.0}
    """
    labels = np.asarray(labels, dtype=object)
    ok = np.array([lab is not None and lab == lab for lab in labels]) & ~np.isnan(z)
    z, labels = z[ok], labels[ok].astype(str)
    rows = [{"level": str(lev), "n": int(np.sum(labels == lev)),
             "mean": float(z[labels == lev].mean()),
             "auroc": float(auroc(labels == lev, z)) if 0 < np.sum(labels == lev) < len(z)
             else float("nan")} for lev in sorted(set(labels))]
    return sorted(rows, key=lambda r: -r["mean"])


def _rank_rows(a: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis, standardised (mean 0, sd 1; constant rows give 0)."""
    r = stats.rankdata(a, axis=-1)
    r = r - r.mean(axis=-1, keepdims=True)
    sd = r.std(axis=-1, keepdims=True)
    return r / np.where(sd == 0, 1.0, sd)


def bootstrap_signed_effect(z: np.ndarray, values: np.ndarray, *, categorical: bool,
                            n_boot: int = 200, level: float = 0.95,
                            rng: np.random.Generator | None = None) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of an association's ``signed_effect``.

    Samples are resampled with replacement and the statistic of the module docstring is
    recomputed (Spearman's rho; for a categorical covariate rho with the second level, or the
    square root of the rank ``eta**2`` with more levels).

    Parameters
    ----------
    z
        ``(n,)`` dimension values.
    values
        ``(n,)`` covariate: floats (NaN = missing) or labels (``None``/NaN = missing).
    categorical
        Whether ``values`` are levels.
    n_boot
        Bootstrap resamples.
    level
        Coverage of the interval.
    rng
        Generator of the resamples.

    Returns
    -------
    tuple of float
        ``(low, high)``; NaN when the statistic is undefined.

    References
    ----------
    Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall 1993.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    if categorical:
        lab = np.asarray(values, dtype=object)
        ok = np.array([v is not None and v == v for v in lab]) & ~np.isnan(z)
        codes = np.unique(lab[ok].astype(str), return_inverse=True)[1]
    else:
        x = np.asarray(values, dtype=float)
        ok = ~np.isnan(x) & ~np.isnan(z)
        codes = x[ok]
    zz = z[ok]
    n_levels = int(codes.max()) + 1 if categorical and len(codes) else 0
    if ok.sum() < 4 or np.ptp(zz) == 0 or (categorical and n_levels < 2) \
            or (not categorical and np.ptp(codes) == 0):
        return float("nan"), float("nan")
    idx = rng.integers(0, len(zz), size=(n_boot, len(zz)))
    rz = _rank_rows(zz[idx])
    if not categorical or n_levels == 2:
        rx = _rank_rows(codes[idx].astype(float))
        boot = np.mean(rz * rx, axis=1)
    else:
        onehot = np.eye(n_levels)[codes[idx]]  # (B, n, L)
        counts = onehot.sum(axis=1)
        means = np.einsum("bn,bnl->bl", rz, onehot) / np.where(counts == 0, 1, counts)
        boot = np.sqrt(np.sum(counts * means**2, axis=1) / len(zz))  # rank eta, sd(rz) = 1
    tail = (1 - level) / 2
    low, high = np.nanquantile(boot, [tail, 1 - tail])
    return float(low), float(high)


def _design(columns: list[np.ndarray]) -> np.ndarray:
    return np.column_stack([np.ones(len(columns[0])), *columns]) if columns else \
        np.ones((0, 1))


#: Optimisers tried in turn when a maximum-likelihood fit is not finite (Newton's method
#: returns NaN parameters for a many-level multinomial outcome while claiming convergence).
SOLVERS = ("newton", "bfgs", "lbfgs")


def _fit(model_class, y, x):
    """The first finite maximum-likelihood fit over :data:`SOLVERS` (``None`` if none is)."""
    for method in SOLVERS:
        try:
            fit = model_class(y, x).fit(disp=0, maxiter=200 if method == "newton" else 2000,
                                        method=method)
        except Exception:  # singular Hessian, perfect separation: try the next solver
            continue
        if np.isfinite(fit.llf) and np.all(np.isfinite(np.asarray(fit.params))):
            return fit
    return None


def conditional_lrt(outcome: np.ndarray, z: np.ndarray, confounders: list[np.ndarray], *,
                    categorical: bool) -> dict[str, float]:
    """Does ``z`` still predict ``outcome`` in a model that already has the confounders?

    Fits ``outcome ~ confounders`` and ``outcome ~ confounders + z`` by maximum likelihood
    (logistic or multinomial regression for a categorical outcome, linear regression for a
    continuous one) and returns the likelihood-ratio test, ``LR = 2 (ll1 - ll0)`` against a
    chi-squared with ``k1 - k0`` degrees of freedom. A logistic fit that is not finite is
    refitted with the next solver of :data:`SOLVERS`; a test that no solver can fit is NaN
    (undetermined, which :func:`~bio_mtl.dissect.classify.classify_dimension` never reads as
    "no association").

    Parameters
    ----------
    outcome
        ``(n,)`` outcome: integer codes (categorical; negative = missing) or floats (NaN =
        missing).
    z
        ``(n,)`` the latent dimension.
    confounders
        Columns (``(n,)`` each, already numerically encoded) to condition on; may be empty.
    categorical
        Whether ``outcome`` is categorical.

    Returns
    -------
    dict
        ``lr``, ``df``, ``p`` (NaN when no fit is finite, e.g. under perfect separation),
        ``n``, ``coef`` (the z coefficient of the full model; first non-reference class for a
        multinomial outcome), ``solver`` (of the full model).

    References
    ----------
    Wilks SS. The large-sample distribution of the likelihood ratio for testing composite
    hypotheses. Ann Math Stat 1938;9:60-62.
    """
    # the submodules, not statsmodels.api (which imports graphics and tsa: ~2 s)
    from statsmodels.discrete.discrete_model import Logit, MNLogit
    from statsmodels.regression.linear_model import OLS

    y = np.asarray(outcome, dtype=float)
    ok = ~np.isnan(z) & ~np.isnan(y) & (y >= 0 if categorical else True)
    for c in confounders:
        ok &= ~np.isnan(c)
    nan = {"lr": np.nan, "df": np.nan, "p": np.nan, "n": int(ok.sum()), "coef": np.nan,
           "solver": ""}
    if ok.sum() < 8 or np.ptp(z[ok]) == 0:  # too few samples, or a constant dimension
        return nan
    y = y[ok]
    zz = (z[ok] - z[ok].mean()) / (z[ok].std() or 1.0)
    cols = [(c[ok] - c[ok].mean()) / (c[ok].std() or 1.0) for c in confounders]
    x0, x1 = _design(cols) if cols else np.ones((len(y), 1)), _design([*cols, zz])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if categorical:
            codes = np.unique(y, return_inverse=True)[1]
            if codes.max() < 1:
                return nan
            model = Logit if codes.max() == 1 else MNLogit
            f0, f1 = _fit(model, codes, x0), _fit(model, codes, x1)
            if f0 is None or f1 is None:
                return nan
            params = np.asarray(f1.params)
            coef = float(params[-1] if params.ndim == 1 else params[-1, 0])
            solver = f1.mle_settings["optimizer"]
        else:
            if np.ptp(y) == 0:  # a constant outcome: nothing to explain
                return nan
            f0, f1 = OLS(y, x0).fit(), OLS(y, x1).fit()
            coef, solver = float(np.asarray(f1.params)[-1]), "ols"
        llf0, llf1 = float(f0.llf), float(f1.llf)
    if not np.isfinite(llf0) or np.isnan(llf1):  # the confounders alone fit exactly
        return nan
    lr = max(2.0 * (llf1 - llf0), 0.0)  # inf when z fits the outcome exactly: p = 0
    df = int(np.asarray(f1.params).size - np.asarray(f0.params).size)
    return {"lr": float(lr), "df": df, "p": float(stats.chi2.sf(lr, df)), "n": int(ok.sum()),
            "coef": coef, "solver": solver}
