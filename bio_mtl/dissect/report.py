"""Write a dissection to a folder: dimensions.tsv, report.json, report.html and PNG figures.

The page shows the parameters (gene attribution, universe and enrichment test included), the
batch metrics (scIB's from scib-metrics apart from bio_mtl's own), one row per dimension with
its label, the pathway beside it, its strongest association as a signed effect with a bootstrap
interval, its top pathway and genes, then the heatmap, the dimensions on a 2-D embedding, one
panel per dimension (with the per-level table of a categorical covariate and the GSEA running
sum of its pathway) and the enrichment table. Columns that mean nothing for the run (batch
without a batch key, conditional tests without confounders) are left out.

Everything is first written into a temporary folder beside the destination and moved into place
at the end, so a failed run leaves no partial report. An existing destination is replaced only
when it is empty or holds nothing but the files of an earlier report (never a folder with other
files, never a file). The HTML page is self-contained (figures embedded as base64 PNG, inline
CSS, no scripts, no network).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from pathlib import Path

import numpy as np

from .._io import atomic_folder

__all__ = ["TSV_COLUMNS", "out_dir_problem", "render_html", "write_report"]

TSV_COLUMNS = ["dimension", "label", "pathway", "best_covariate", "best_statistic",
               "best_signed_effect", "best_ci_low", "best_ci_high", "best_effect", "best_q",
               "batch_eta2", "batch_silhouette", "conditional_outcome", "conditional_p",
               "conditional_q", "top_pathway", "top_pathway_nes", "top_pathway_q",
               "variance_explained", "top_genes_up", "top_genes_down"]
_REPORT_FILE = re.compile(r"dimensions\.tsv|report\.json|report\.html|latent\.h5ad|heatmap\.png"
                          r"|variance_explained\.png|embedding\.png|dimension_\d+\.png"
                          r"|gsea_\d+\.png")
_CSS = ("body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;"
        "box-sizing:border-box}table{border-collapse:collapse;font-size:12px;width:100%;"
        "table-layout:fixed;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 5px;"
        "text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#eee}"
        "table.kv{width:auto;max-width:100%;table-layout:auto}.lab{font-weight:bold}"
        "img{max-width:100%;height:auto;display:block}.genes{font-size:11px;color:#333}"
        "p,li{overflow-wrap:anywhere}.note{color:#555;font-size:13px}")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}"
    return str(v)


def _table(df, columns=None, max_rows: int = 500, widths=None) -> str:
    df = df[columns] if columns else df
    cols = "".join(f'<col style="width:{w}">' for w in widths) if widths else ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = ["<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>"
            for _, r in df.head(max_rows).iterrows()]
    return f"<table>{cols}<tr>{head}</tr>{''.join(rows)}</table>"


def _kv(pairs) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in pairs)
    return f"<table class='kv'>{rows}</table>"


def _ci(row) -> str:
    if row["best_signed_effect"] != row["best_signed_effect"]:
        return ""
    ci = "" if row["best_ci_low"] != row["best_ci_low"] else \
        f" [{row['best_ci_low']:.2f}, {row['best_ci_high']:.2f}]"
    return f"{row['best_covariate']}: {row['best_signed_effect']:+.2f}{ci}, q {row['best_q']:.2g}"


def _dimension_rows(result) -> str:
    """The dimensions table: only the columns that mean something for this run."""
    p, dims = result.params, result.dimensions
    head = ["dimension", "label (pathway beside)", "best association: signed effect [95% CI]"]
    width = ["7%", "17%", "17%"]
    if p.get("confounders"):
        head.append(f"conditional on {'+'.join(p['confounders'])}: LRT q")
        width.append("9%")
    if p.get("batch_key"):
        head.append(f"batch ({p['batch_key']}) eta2")
        width.append("6%")
    head += ["top pathway (NES, q)", "top genes + / -"]
    width += ["17%", "auto"]
    rows = []
    for _, r in dims.iterrows():
        label = html.escape(r["label"]) + (f"<br><span class='genes'>pathway: "
                                           f"{html.escape(r['pathway'])}</span>"
                                           if isinstance(r["pathway"], str) else "")
        cells = [html.escape(r["dimension"]), label, html.escape(_ci(r))]
        if p.get("confounders"):
            cells.append(html.escape(f"{r['conditional_outcome']}: {_fmt(r['conditional_q'])}"
                                     if isinstance(r["conditional_outcome"], str) else ""))
        if p.get("batch_key"):
            cells.append(html.escape(_fmt(r["batch_eta2"])))
        top = "" if not isinstance(r["top_pathway"], str) else \
            f"{r['top_pathway']} ({r['top_pathway_nes']:.2f}, {r['top_pathway_q']:.2g})"
        genes = (f"<span class='genes'>+ {html.escape(r['top_genes_up'].replace(',', ', '))}"
                 f"<br>- {html.escape(r['top_genes_down'].replace(',', ', '))}</span>")
        cells += [html.escape(top), genes]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    cols = "".join(f'<col style="width:{w}">' for w in width)
    ths = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table>{cols}<tr>{ths}</tr>{''.join(rows)}</table>"


def _parameters(result) -> str:
    p = result.params
    gs = "none (enrichment off)" if p.get("gene_sets") == "none" else p.get("gene_sets")
    pairs = [("latent", p.get("latent_key")), ("model", p.get("model") or "none (obsm embedding)"),
             ("samples x dimensions", f"{p.get('n_obs')} x {p.get('n_dims')}"),
             ("covariates", ", ".join(p.get("covariates", []))),
             ("confounders", ", ".join(p.get("confounders", [])) or "none declared"),
             ("batch key", p.get("batch_key") or "none"),
             ("cell-type key (scIB)", p.get("label_key") or "none"),
             ("gene attribution", f"{p.get('gene_attribution')} ({p.get('n_genes_ranked')} "
                                  "genes ranked)"),
             ("gene sets", f"{gs} ({p.get('gene_set_alias_matches', 0)} members matched "
                           "through renamed-symbol aliases)"),
             ("enrichment test", f"{p.get('enrichment_test')}: {p.get('n_gsea_permutations')} "
                                 f"to {p.get('max_gsea_permutations')} per set size, BH q"),
             ("bootstrap resamples (CIs)", p.get("n_bootstrap")),
             ("rotation", p.get("rotate")), ("seed", p.get("seed")),
             ("rules", ", ".join(f"{k}={v}" for k, v in p.get("rules", {}).items()))]
    return _kv(pairs)


def _batch_section(result) -> str:
    m = result.batch_mixing
    if not m:
        return ""
    scib_rows = [(k, m[k]) for k in ("scib_batch_asw", "scib_ilisi", "scib_graph_connectivity")
                 if k in m]
    own = [(k, m[k]) for k in ("batch_silhouette_mean", "batch_lisi_mean", "kbet_rejection",
                               "kbet_expected", "batch_eta2_max", "n_batches") if k in m]
    scib_html = _kv(scib_rows) if scib_rows else \
        "<p class='note'>scib-metrics is not installed (pip install 'bio-mtl[scib]').</p>"
    return ("<h2>Batch mixing of the whole latent</h2><h3>scIB metrics (computed by "
            "scib-metrics; comparable with published scIB tables)</h3>" + scib_html +
            "<h3>bio_mtl's own summaries (not scIB's definitions)</h3>" + _kv(own))


def _levels(result, dim, cov) -> str:
    rows = result.level_tables.get(dim, {}).get(cov)
    if not rows:
        return ""
    import pandas as pd

    return _table(pd.DataFrame(rows).rename(columns={"mean": f"mean {dim}",
                                                     "auroc": "AUROC (one vs rest)"}))


def render_html(result, figures: dict[str, bytes], *, title: str = "bio_mtl latent dissection"
                ) -> str:
    """The report page as one HTML string (figures given as PNG bytes by file name)."""
    from .plots import panel_covariate

    def img(name: str) -> str:
        data = base64.b64encode(figures[name]).decode("ascii")
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    dims = result.dimensions
    counts = dims["label"].str.split(":").str[0].value_counts().to_dict()
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' "
             f"content='width=device-width'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             "<p>" + ", ".join(f"{v} {html.escape(k)}" for k, v in sorted(counts.items()))
             + " &middot; files: <a href='dimensions.tsv'>dimensions.tsv</a>, "
             "<a href='report.json'>report.json</a></p>",
             "<h2>Parameters</h2>", _parameters(result), _batch_section(result),
             "<h2>Dimensions</h2>", _dimension_rows(result),
             "<h2>Dimension x covariate associations</h2>", img("heatmap.png"),
             img("variance_explained.png"), "<h2>Dimensions on the samples</h2>",
             img("embedding.png"), "<h2>Per-dimension panels</h2>"]
    for i, row in dims.iterrows():
        cov, kind = panel_covariate(result, row)
        parts.append(f"<h3>{html.escape(row['dimension'])}: <span class='lab'>"
                     f"{html.escape(row['label'])}</span></h3><p>{html.escape(row['evidence'])}"
                     f"</p>{img(f'dimension_{i + 1:02d}.png')}")
        if kind == "categorical":
            parts.append(_levels(result, row["dimension"], cov))
        if f"gsea_{i + 1:02d}.png" in figures:
            parts.append(img(f"gsea_{i + 1:02d}.png"))
    enr = result.enrichment
    if len(enr):
        sig = enr[enr["q"] < 0.25] if (enr["q"] < 0.25).any() else enr.head(20)
        parts += ["<h2>Gene-set enrichment (GSEA preranked, q &lt; 0.25)</h2>",
                  _table(sig, ["dimension", "name", "size", "nes", "p", "q", "n_permutations",
                               "leading_edge"],
                         widths=["7%", "22%", "5%", "6%", "7%", "7%", "8%", "auto"])]
    parts.append("</body></html>")
    return "\n".join(parts)


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    return str(obj)


def out_dir_problem(out_dir: str | os.PathLike) -> str | None:
    """Why ``out_dir`` cannot receive a report (``None`` if it can).

    A missing path or an empty folder is fine, and so is a folder holding only the files an
    earlier report wrote (it is replaced). A file, or a folder with any other entry, is refused,
    so a mistyped ``--out`` never deletes a user's data.

    Parameters
    ----------
    out_dir
        The intended report folder.

    Returns
    -------
    str or None
        A one-line reason (naming up to three foreign entries), or ``None``.

    Examples
    --------
    >>> out_dir_problem("no/such/folder") is None
    True
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        return f"{out_dir} exists and is not a folder"
    foreign = sorted(p.name for p in out_dir.iterdir() if not _REPORT_FILE.fullmatch(p.name))
    if foreign:
        return (f"{out_dir} exists and holds files that are not part of a dissect report "
                f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); choose a new "
                "folder or remove it")
    return None


def _figures(result) -> dict[str, bytes]:
    """Every figure of the report as PNG bytes, by file name."""
    from . import plots

    figures = {"heatmap.png": _png(plots.association_heatmap(result)),
               "variance_explained.png": _png(plots.variance_explained_bar(result)),
               "embedding.png": _png(plots.embedding_grid(result))}
    for i, row in result.dimensions.reset_index(drop=True).iterrows():
        figures[f"dimension_{i + 1:02d}.png"] = _png(plots.dimension_panel(result, i))
        if isinstance(row["pathway"], str) and row["pathway"] in result.gene_sets:
            figures[f"gsea_{i + 1:02d}.png"] = _png(
                plots.gsea_running_sum(result, i, row["pathway"]))
    return figures


def write_report(result, out_dir: str | os.PathLike, *, overwrite: bool = True,
                 adata=None) -> Path:
    """Write the report folder atomically (temporary folder, then rename).

    Parameters
    ----------
    result
        A :class:`~bio_mtl.dissect.DissectionResult`.
    out_dir
        Destination folder. An existing one is replaced (with ``overwrite``) only if it is
        empty or holds nothing but an earlier report's files (see :func:`out_dir_problem`).
    overwrite
        Replace an existing folder.
    adata
        Optional AnnData that was dissected (e.g. built by an adapter from a structure or
        dosing model), written as ``latent.h5ad`` so the report can be reproduced.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    FileExistsError
        ``out_dir`` is a file or a folder with other files, or exists and not ``overwrite``.
    OutputError
        The folder could not be written (full disk, no permission; nothing is left behind).
    """
    out_dir = Path(out_dir)
    problem = out_dir_problem(out_dir)
    if problem is not None:
        raise FileExistsError(problem)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(out_dir)
    figures = _figures(result)
    with atomic_folder(out_dir, replace=True) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; a report folder is for sharing
        result.dimensions[TSV_COLUMNS].to_csv(tmp / "dimensions.tsv", sep="\t", index=False,
                                              float_format="%.4g")
        (tmp / "report.json").write_text(json.dumps(result.to_dict(), indent=1,
                                                    default=_json_default), encoding="utf-8")
        for name, data in figures.items():
            (tmp / name).write_bytes(data)
        (tmp / "report.html").write_text(render_html(result, figures), encoding="utf-8")
        if adata is not None:
            adata.write_h5ad(tmp / "latent.h5ad")
    return out_dir
