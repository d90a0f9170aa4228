"""Write a dissection to a folder: dimensions.tsv, report.json, report.html and PNG figures.

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
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["TSV_COLUMNS", "out_dir_problem", "render_html", "write_report"]

TSV_COLUMNS = ["dimension", "label", "best_covariate", "best_statistic", "best_effect", "best_q",
               "batch_eta2", "batch_silhouette", "conditional_outcome", "conditional_p",
               "conditional_q",
               "top_pathway", "top_pathway_nes", "top_pathway_q", "variance_explained",
               "top_genes_up", "top_genes_down"]
_REPORT_FILE = re.compile(r"dimensions\.tsv|report\.json|report\.html|latent\.h5ad|heatmap\.png"
                          r"|variance_explained\.png|dimension_\d+\.png")
_CSS = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
        "th{background:#eee}.lab{font-weight:bold}img{max-width:100%}")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _table(df, columns=None, max_rows: int = 500) -> str:
    df = df[columns] if columns else df
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.head(max_rows).iterrows():
        cells = []
        for v in r:
            text = f"{v:.3g}" if isinstance(v, float) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render_html(result, figures: dict[str, bytes], *, title: str = "bio_mtl latent dissection"
                ) -> str:
    """The report page as one HTML string (figures given as PNG bytes by file name)."""
    def img(name: str) -> str:
        data = base64.b64encode(figures[name]).decode("ascii")
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    dims = result.dimensions
    counts = dims["label"].str.split(":").str[0].value_counts().to_dict()
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             "<h2>Summary</h2><p>" + ", ".join(f"{v} {html.escape(k)}" for k, v in
                                                 sorted(counts.items())) + "</p>",
             "<pre>" + html.escape(json.dumps(result.params, indent=1)) + "</pre>"]
    if result.batch_mixing:
        parts.append("<h3>Batch mixing of the whole latent</h3><pre>" + html.escape(
            json.dumps(result.batch_mixing, indent=1)) + "</pre>")
    parts += ["<h2>Dimensions</h2>", _table(dims, TSV_COLUMNS[:14]),
              "<h2>Dimension x covariate associations</h2>", img("heatmap.png"),
              img("variance_explained.png"), "<h2>Per-dimension panels</h2>"]
    for i, row in dims.iterrows():
        parts.append(f"<h3>{html.escape(row['dimension'])}: <span class='lab'>"
                     f"{html.escape(row['label'])}</span></h3><p>{html.escape(row['evidence'])}"
                     f"</p>{img(f'dimension_{i + 1:02d}.png')}")
    enr = result.enrichment
    if len(enr):
        sig = enr[enr["q"] < 0.25] if (enr["q"] < 0.25).any() else enr.head(20)
        parts += ["<h2>Gene-set enrichment (GSEA preranked, q &lt; 0.25)</h2>",
                  _table(sig, ["dimension", "name", "size", "nes", "p", "q", "direction",
                               "leading_edge"])]
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
    """
    from . import plots

    out_dir = Path(out_dir)
    problem = out_dir_problem(out_dir)
    if problem is not None:
        raise FileExistsError(problem)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    figures = {"heatmap.png": _png(plots.association_heatmap(result)),
               "variance_explained.png": _png(plots.variance_explained_bar(result))}
    for i in range(len(result.dimensions)):
        figures[f"dimension_{i + 1:02d}.png"] = _png(plots.dimension_panel(result, i))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a report folder is for sharing
    try:
        result.dimensions[TSV_COLUMNS].to_csv(tmp / "dimensions.tsv", sep="\t", index=False,
                                              float_format="%.4g")
        (tmp / "report.json").write_text(json.dumps(result.to_dict(), indent=1,
                                                    default=_json_default), encoding="utf-8")
        for name, data in figures.items():
            (tmp / name).write_bytes(data)
        (tmp / "report.html").write_text(render_html(result, figures), encoding="utf-8")
        if adata is not None:
            adata.write_h5ad(tmp / "latent.h5ad")
        if out_dir.exists():
            if not overwrite:
                raise FileExistsError(out_dir)
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
