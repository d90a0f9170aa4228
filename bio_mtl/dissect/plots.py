"""Figures of a dissection (matplotlib, Agg backend); every function returns a Figure."""

from __future__ import annotations

import numpy as np

__all__ = ["association_heatmap", "dimension_panel", "variance_explained_bar"]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def association_heatmap(result):
    """Dimensions x covariates heatmap of the effect size (r^2 or eta^2), ``*`` where q < 0.05."""
    df = result.associations
    dims = list(result.dimensions["dimension"])
    covs = list(dict.fromkeys(df["covariate"]))
    mat = np.full((len(dims), len(covs)), np.nan)
    star = np.zeros_like(mat, dtype=bool)
    for _, r in df.iterrows():
        i, j = dims.index(r["dimension"]), covs.index(r["covariate"])
        mat[i, j], star[i, j] = r["effect"], r["q"] < 0.05
    fig = _figure(4.5 + 0.6 * len(covs), 1.5 + 0.32 * len(dims))
    ax = fig.subplots()
    im = ax.imshow(mat, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(covs)), covs, rotation=45, ha="right")
    labels = list(result.dimensions["label"])
    ax.set_yticks(range(len(dims)), [f"{d}  [{lab}]" for d, lab in zip(dims, labels, strict=True)],
                  fontsize=7)
    for i, j in zip(*np.nonzero(star), strict=True):
        ax.text(j, i, "*", ha="center", va="center", color="white", fontsize=10)
    fig.colorbar(im, ax=ax, label="r² / η² (variance share)")
    ax.set_title("Dimension x covariate (* = BH q < 0.05)", fontsize=9)
    return fig


def variance_explained_bar(result):
    """Bar chart of the share of expression variance explained by each dimension."""
    dims = result.dimensions
    fig = _figure(max(4.0, 0.4 * len(dims)), 2.6)
    ax = fig.subplots()
    ax.bar(dims["dimension"], 100 * dims["variance_explained"].to_numpy(dtype=float),
           color="#4477aa")
    ax.set_ylabel("% variance explained")
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    return fig


def _panel_covariate(result, row) -> tuple[str | None, str]:
    """The covariate a dimension is drawn against and its kind.

    The batch for a ``nuisance:`` dimension (that is what it tracks), else the best covariate.
    """
    batch = result.params.get("batch_key")
    if str(row["label"]).startswith("nuisance:") and batch in result.covariate_values:
        return batch, "categorical"
    cov = row["best_covariate"]
    if cov is None or cov != cov or cov not in result.covariate_values:
        return None, ""
    return cov, result.associations.query("covariate == @cov")["kind"].iloc[0]


def dimension_panel(result, index: int, *, n_genes: int = 10):
    """Top-weights bar plot and the dimension against what it tracks.

    The right panel shows the batch for a ``nuisance:`` dimension and the best covariate
    otherwise (box plots per level for a categorical one, a scatter for a continuous one).
    """
    row = result.dimensions.iloc[index]
    fig = _figure(8.0, 3.0)
    ax1, ax2 = fig.subplots(1, 2)
    w = result.loadings[:, index]
    order = np.argsort(-np.abs(w))[:n_genes][::-1]
    ax1.barh([result.genes[i] for i in order], w[order],
             color=["#cc6677" if v > 0 else "#4477aa" for v in w[order]])
    ax1.set_title(f"{row['dimension']}: top gene weights", fontsize=9)
    ax1.tick_params(axis="y", labelsize=7)
    cov, kind = _panel_covariate(result, row)
    z = result.latent[:, index]
    if cov is not None:
        values = result.covariate_values[cov]
        if kind == "categorical":
            levels = [lv for lv in dict.fromkeys(map(str, values)) if lv not in ("nan", "None")]
            ax2.boxplot([z[np.asarray(values).astype(str) == lv] for lv in levels],
                        tick_labels=levels)
            ax2.tick_params(axis="x", rotation=45, labelsize=7)
        else:
            ax2.scatter(np.asarray(values, dtype=float), z, s=4, alpha=0.5)
        ax2.set_xlabel(cov)
        ax2.set_ylabel(row["dimension"])
    ax2.set_title(f"{row['label']}", fontsize=7)
    return fig
