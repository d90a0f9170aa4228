"""Figures of a dissection (matplotlib, Agg backend); every function returns a Figure."""

from __future__ import annotations

import numpy as np

__all__ = ["association_heatmap", "dimension_panel", "embedding_grid", "gsea_running_sum",
           "variance_explained_bar"]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _rules(result):
    rules = result.params.get("rules", {})
    return rules.get("alpha", 0.05), rules.get("min_effect", 0.05)


def association_heatmap(result):
    """Dimensions x covariates heatmap of one signed statistic per cell.

    The colour is the association's ``signed_effect`` (Spearman's rho; for a categorical
    covariate rho with the second level, or the rank eta with more levels), and ``*`` marks
    the cells that count for the label: BH ``q < alpha`` of the same rank test and
    ``signed_effect**2 >= min_effect``.
    """
    df = result.associations
    dims = list(result.dimensions["dimension"])
    covs = list(dict.fromkeys(df["covariate"]))
    alpha, min_effect = _rules(result)
    mat = np.full((len(dims), len(covs)), np.nan)
    star = np.zeros_like(mat, dtype=bool)
    for _, r in df.iterrows():
        i, j = dims.index(r["dimension"]), covs.index(r["covariate"])
        mat[i, j] = r["signed_effect"]
        star[i, j] = r["q"] < alpha and r["effect"] >= min_effect
    fig = _figure(4.5 + 0.6 * len(covs), 1.8 + 0.32 * len(dims))
    ax = fig.subplots()
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(covs)), covs, rotation=45, ha="right")
    labels = list(result.dimensions["label"])
    ax.set_yticks(range(len(dims)), [f"{d}  [{lab}]" for d, lab in zip(dims, labels, strict=True)],
                  fontsize=7)
    for i, j in zip(*np.nonzero(star), strict=True):
        ax.text(j, i, "*", ha="center", va="center", fontsize=11,
                color="white" if abs(mat[i, j]) > 0.5 else "black")
    fig.colorbar(im, ax=ax, label="signed effect (rho; rank eta for >2 levels)")
    ax.set_title(f"Dimension x covariate (* = BH q < {alpha:g} and effect² ≥ {min_effect:g})",
                 fontsize=9)
    return fig


def variance_explained_bar(result):
    """Bar chart of the share of expression variance explained by each dimension."""
    dims = result.dimensions
    fig = _figure(max(5.5, 0.4 * len(dims)), 2.6)
    ax = fig.subplots()
    ax.bar(dims["dimension"], 100 * dims["variance_explained"].to_numpy(dtype=float),
           color="#4477aa")
    ax.set_ylabel("% variance explained")
    ax.set_title("Variance of the ranked genes explained by each dimension", fontsize=9)
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    return fig


def embedding_grid(result, *, columns: int = 4):
    """The samples on the report's 2-D embedding, one panel per dimension coloured by it."""
    xy, dims = result.embedding, list(result.dimensions["dimension"])
    rows = int(np.ceil(len(dims) / columns))
    fig = _figure(3.0 * min(columns, len(dims)), 2.7 * rows)
    axes = np.atleast_1d(fig.subplots(rows, min(columns, len(dims)), squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        if k >= len(dims):
            ax.set_axis_off()
            continue
        z = result.latent[:, k]
        lim = np.nanpercentile(np.abs(z - np.median(z)), 99) or 1.0
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=z - np.median(z), s=3, cmap="RdBu_r",
                        vmin=-lim, vmax=lim, rasterized=True)
        ax.set_title(dims[k], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(sc, ax=ax, shrink=0.8)
    fig.suptitle(f"Each dimension on {result.embedding_source} (centred at its median)",
                 fontsize=9)
    return fig


def panel_covariate(result, row) -> tuple[str | None, str]:
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


def _boxes(ax, z, values, cov, dim) -> None:
    """Horizontal box plots per level, ordered by median, each labelled with its n."""
    values = np.asarray(values).astype(str)
    levels = [lv for lv in dict.fromkeys(values) if lv not in ("nan", "None")]
    groups = {lv: z[values == lv] for lv in levels}
    levels.sort(key=lambda lv: np.median(groups[lv]))
    ax.boxplot([groups[lv] for lv in levels], orientation="horizontal", widths=0.6,
               tick_labels=[f"{lv} (n={groups[lv].size})" for lv in levels],
               flierprops={"markersize": 2})
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(dim)
    ax.set_ylabel(cov)


def dimension_panel(result, index: int, *, n_genes: int = 10):
    """Top-weights bar plot and the dimension against what it tracks.

    The right panel shows the batch for a ``nuisance:`` dimension and the best covariate
    otherwise (horizontal box plots per level, ordered by median and labelled with their n,
    for a categorical one; a scatter for a continuous one). Its title names the covariate
    drawn.
    """
    row = result.dimensions.iloc[index]
    cov, kind = panel_covariate(result, row)
    n_levels = len(set(map(str, result.covariate_values[cov]))) if kind == "categorical" else 0
    fig = _figure(9.0, max(3.0, 0.8 + 0.28 * n_levels))
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.3])
    w = result.loadings[:, index]
    order = np.argsort(-np.abs(w))[:n_genes][::-1]
    ax1.barh([result.genes[i] for i in order], w[order],
             color=["#cc6677" if v > 0 else "#4477aa" for v in w[order]])
    ax1.set_title(f"{row['dimension']}: top gene weights", fontsize=9)
    ax1.tick_params(axis="y", labelsize=7)
    z = result.latent[:, index]
    if cov is None:
        ax2.set_axis_off()
        return fig
    values = result.covariate_values[cov]
    if kind == "categorical":
        _boxes(ax2, z, values, cov, row["dimension"])
    else:
        ax2.scatter(np.asarray(values, dtype=float), z, s=4, alpha=0.5)
        ax2.set_xlabel(cov)
        ax2.set_ylabel(row["dimension"])
    ax2.set_title(f"{row['dimension']} vs {cov}", fontsize=9)
    return fig


def gsea_running_sum(result, index: int, pathway: str):
    """GSEA plot of one dimension and gene set: running sum over the ranking and the hits."""
    from .enrichment import running_sum

    dim = result.dimensions["dimension"].iloc[index]
    rs, hits = running_sum(result.loadings[:, index], result.genes, result.gene_sets[pathway])
    rec = result.enrichment.query("dimension == @dim and name == @pathway").iloc[0]
    fig = _figure(6.0, 3.0)
    ax, ticks = fig.subplots(2, 1, height_ratios=[4, 1], sharex=True)
    ax.plot(np.arange(rs.size), rs, color="#228833")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_ylabel("running ES")
    ax.set_title(f"{dim}: {pathway}\nNES {rec['nes']:.2f}, q {rec['q']:.2g}, "
                 f"{int(rec['size'])} genes of {rs.size} ranked", fontsize=8)
    ticks.vlines(hits, 0, 1, color="black", lw=0.6)
    ticks.set_yticks([])
    ticks.set_xlabel(f"genes ranked by {dim} attribution (high to low)")
    return fig
