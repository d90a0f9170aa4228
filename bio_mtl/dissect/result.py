"""What a dissection returns: :class:`DissectionResult` and the tables it holds."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["DissectionResult", "dimension_table", "flat_tables", "h5ad_safe"]


@dataclass
class DissectionResult:
    """Everything :func:`bio_mtl.dissect.dissect` found (tables are pandas DataFrames).

    Attributes
    ----------
    dimensions : one row per dimension (label, best covariate, statistics, top pathway/genes)
    associations : one row per (dimension, covariate) test, with BH q and conditional p
    enrichment : one row per (dimension, gene set) GSEA result
    latent : ``(n, k)`` the dissected latent
    loadings : ``(g, k)`` gene scores used for ranking; ``genes`` their names
    batch_mixing : whole-latent batch metrics, bio_mtl's and scIB's (empty without a batch key)
    params : the call's parameters (also in ``adata.uns[key_added]["params"]``)
    covariate_values : ``{covariate: (n,) values}`` (batch included)
    level_tables : ``{dimension: {categorical covariate: [{level, n, mean, auroc}]}}``
    embedding : ``(n, 2)`` coordinates to draw the samples on; ``embedding_source`` says which
    gene_sets : the tested sets, members as the data spells them (for running-sum plots)
    """

    dimensions: object
    associations: object
    enrichment: object
    latent: np.ndarray
    loadings: np.ndarray
    genes: list[str]
    batch_mixing: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    covariate_values: dict = field(default_factory=dict)
    level_tables: dict = field(default_factory=dict)
    embedding: np.ndarray | None = None
    embedding_source: str = ""
    gene_sets: dict = field(default_factory=dict)

    def to_dict(self, *, n_top_weights: int = 20) -> dict:
        """JSON-ready dict of the tables, batch mixing, parameters and top gene weights.

        ``top_weights`` maps each dimension to its ``n_top_weights`` genes of largest
        ``|weight|`` (the numbers behind the top-weights panel), largest first.
        """
        def records(df):
            return df.replace({np.nan: None}).to_dict(orient="records")
        top = {}
        for k, dim in enumerate(self.dimensions["dimension"]):
            w = self.loadings[:, k]
            order = np.argsort(-np.abs(w), kind="mergesort")[:n_top_weights]
            top[str(dim)] = [{"gene": self.genes[i], "weight": float(w[i])} for i in order]
        return {"params": self.params, "batch_mixing": self.batch_mixing,
                "dimensions": records(self.dimensions),
                "associations": records(self.associations),
                "enrichment": records(self.enrichment), "top_weights": top,
                "level_tables": self.level_tables}


def flat_tables(rows: list[dict], cond: dict, enrich: dict) -> tuple:
    """The association and enrichment DataFrames (conditional LRT joined, lists as text).

    ``rows`` (from :func:`~bio_mtl.dissect.steps.associate_all`) get ``conditional_p`` and
    ``conditional_q`` and their per-level AUROCs as text.
    """
    for r in rows:
        r["conditional_p"] = cond[r["dimension"]].get(r["covariate"], {}).get("p", np.nan)
        r["conditional_q"] = cond[r["dimension"]].get(r["covariate"], {}).get("q", np.nan)
        r["level_auroc"] = None if r["level_auroc"] is None else \
            "; ".join(f"{k}={v:.3f}" for k, v in r["level_auroc"].items())
    enr = pd.DataFrame([{"dimension": d, **{k: v for k, v in rec.items() if k != "leading_edge"},
                         "leading_edge": ",".join(rec["leading_edge"])}
                        for d, recs in enrich.items() for rec in recs])
    return pd.DataFrame(rows), enr


def h5ad_safe(obj):
    """A copy that ``write_h5ad`` accepts: object columns as strings, ``None`` values dropped.

    Examples
    --------
    >>> h5ad_safe({"a": 1, "b": None, "c": pd.DataFrame({"x": [None, "y"]})})["c"]["x"].tolist()
    ['', 'y']
    """
    if isinstance(obj, pd.DataFrame):
        out = obj.copy()
        for col in out.columns:
            if out[col].dtype == object:
                out[col] = out[col].map(lambda v: "" if v is None or v != v else str(v))
        return out
    if isinstance(obj, dict):
        return {k: h5ad_safe(v) for k, v in obj.items() if v is not None}
    return obj


def dimension_table(names, rows, *, cond, enrich, labels, loadings, genes, r2, rules):
    """One row per dimension: label, best covariate, batch, conditional test, pathway, genes.

    Assembled from the records of :mod:`bio_mtl.dissect.steps` (``rows``: associations,
    ``cond``: conditional tests, ``enrich``: GSEA, ``labels``: classification), the gene
    ``loadings`` and the variance explained ``r2``; ``rules`` picks the best covariate.
    ``pathway`` is the top pathway when its q-value passes ``rules.pathway_q``: the pathway
    beside the label (the program of a confounder, or the mechanism itself).
    """
    table = []
    for k, dim in enumerate(names):
        mine = [r for r in rows if r["dimension"] == dim and not r["is_batch"]
                and r["effect"] == r["effect"]]
        sig = [r for r in mine if r["q"] < rules.alpha and r["effect"] >= rules.min_effect]
        best = max(sig or mine, key=lambda r: r["effect"]) if mine else None  # S first
        batch = [r for r in rows if r["dimension"] == dim and r["is_batch"]]
        top = enrich[dim][0] if enrich[dim] else None
        order = np.argsort(-loadings[:, k])
        cps = {o: rec["p"] for o, rec in cond[dim].items()}
        best_cond = min(cps, key=lambda o: cps[o] if cps[o] == cps[o] else 2.0) if cps else None
        table.append({
            "dimension": dim, "label": labels[dim][0],
            "best_covariate": best["covariate"] if best else None,
            "best_statistic": best["summary"] if best else None,
            "best_signed_effect": best["signed_effect"] if best else np.nan,
            "best_ci_low": best["ci_low"] if best else np.nan,
            "best_ci_high": best["ci_high"] if best else np.nan,
            "best_effect": best["effect"] if best else np.nan,
            "best_q": best["q"] if best else np.nan,
            "batch_eta2": batch[0]["eta2"] if batch else np.nan,
            "batch_q": batch[0]["q"] if batch else np.nan,
            "conditional_outcome": best_cond,
            "conditional_p": cps.get(best_cond, np.nan) if best_cond else np.nan,
            "conditional_q": cond[dim][best_cond].get("q", np.nan) if best_cond else np.nan,
            "top_pathway": top["name"] if top else None,
            "top_pathway_nes": top["nes"] if top else np.nan,
            "top_pathway_q": top["q"] if top else np.nan,
            "pathway": top["name"] if top and top["q"] < rules.pathway_q else None,
            "variance_explained": float(r2[k]),
            "top_genes_up": ",".join(genes[i] for i in order[:10]),
            "top_genes_down": ",".join(genes[i] for i in order[::-1][:10]),
            "evidence": labels[dim][1],
        })
    return pd.DataFrame(table)
