"""Worked real-data example of ``biomtl dissect`` (docs/dissect.md), end to end through the CLI.

1. scanpy's bundled ``pbmc68k_reduced`` (700 PBMCs, 765 genes; ``raw`` log-normalised) is
   written to an .h5ad and dissected on its ``X_pca`` (10 PCs) against the cell type, the cell
   cycle and quality covariates, with the shipped MSigDB Hallmark v7.0 sets;
2. an expression model is trained on it with ``biomtl train-expression`` (cell type and phase
   as tasks) and its latent dissected the same way;
3. scIB batch metrics: pbmc68k_reduced has no batch, so the planted-batch cohort of
   ``bio_mtl.dissect.simulate_expression`` (PCA of the log-normalised counts) is dissected with
   ``--batch-key batch --label-key disease`` and its scIB numbers are printed beside the ones
   scib-metrics gives by itself (its own pynndescent neighbours, as its Benchmarker does), for
   the PCA of all genes (batches apart) and of the non-technical genes (batches mixed).

Run from the repository root (about 3-6 minutes on 2 cores)::

    python benchmarks/dissect_pbmc68k.py [--out runs/dissect_pbmc68k]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

COVARIATES = ["bulk_labels", "phase", "G2M_score", "S_score", "percent_mito", "n_counts"]


def biomtl(*args: str) -> float:
    """Run the CLI; return its wall time."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bio_mtl.cli", "-q", *args], check=True)
    return time.perf_counter() - start


def covariate_args() -> list[str]:
    return [a for c in COVARIATES for a in ("--covariate", c)]


def summary(folder: Path, sets=("HALLMARK_G2M_CHECKPOINT", "HALLMARK_E2F_TARGETS",
                                "HALLMARK_COMPLEMENT", "HALLMARK_INFLAMMATORY_RESPONSE")):
    doc = json.loads((folder / "report.json").read_text())
    print(f"  gene attribution: {doc['params']['gene_attribution']} "
          f"({doc['params']['n_genes_ranked']} genes ranked)")
    for d in doc["dimensions"]:
        print(f"  {d['dimension']:>6} {d['label']:<32} {d['best_covariate'] or '':<12} "
              f"{d['best_signed_effect'] or float('nan'):+.2f} "
              f"[{d['best_ci_low'] or float('nan'):.2f}, {d['best_ci_high'] or float('nan'):.2f}]"
              f"  top {d['top_pathway']} NES {d['top_pathway_nes'] or float('nan'):.2f} "
              f"q {d['top_pathway_q'] or float('nan'):.2g}")
    print("  selected sets (best dimension each):")
    for name in sets:
        rows = [e for e in doc["enrichment"] if e["name"] == name]
        if rows:
            best = min(rows, key=lambda e: (e["q"], -abs(e["nes"])))
            print(f"    {name:<32} {best['dimension']:>6} size {best['size']:>3} "
                  f"NES {best['nes']:+.2f} q {best['q']:.2g} ({best['n_permutations']} perms)")


def pbmc(out: Path) -> None:
    import scanpy as sc

    data = out / "pbmc68k_reduced.h5ad"
    sc.datasets.pbmc68k_reduced().write_h5ad(data)
    t = biomtl("dissect", "--data", str(data), "--latent-key", "X_pca", *covariate_args(),
               "--max-dims", "10", "--out", str(out / "pca"))
    print(f"X_pca ({t:.0f} s):")
    summary(out / "pca")
    t = biomtl("train-expression", str(data), "--task", "bulk_labels:classification",
               "--task", "phase:classification", "--latent-dim", "10", "--hidden-dim", "64",
               "--epochs", "60", "--seed", "0", "--out", str(out / "model"))
    print(f"train-expression: {t:.0f} s")
    t = biomtl("dissect", "--model", str(out / "model"), "--data", str(data),
               *covariate_args(), "--out", str(out / "model_report"))
    print(f"expression model latent ({t:.0f} s):")
    summary(out / "model_report")


def scib_numbers(out: Path) -> None:
    import numpy as np
    import scanpy as sc
    import scib_metrics
    from scib_metrics.nearest_neighbors import pynndescent

    from bio_mtl.dissect import simulate_expression

    adata = simulate_expression(600, seed=1)
    for key, genes in (("X_pca", adata.var_names),  # batch genes in: batches apart
                       ("X_pca_biology", adata.var_names[adata.var["program"] != "technical"])):
        work = adata[:, genes].copy()
        sc.pp.normalize_total(work, target_sum=1e4)
        sc.pp.log1p(work)
        sc.pp.pca(work, n_comps=10, random_state=0)
        adata.obsm[key] = work.obsm["X_pca"]
    adata.write_h5ad(out / "cohort.h5ad")
    print("scIB metrics, simulated cohort (batch = batch, labels = disease):")
    print(f"  {'latent':<14}{'metric':<26}{'biomtl dissect':>16}{'scib-metrics':>14}")
    for key in ("X_pca", "X_pca_biology"):
        folder = out / f"cohort_{key}"
        biomtl("dissect", "--data", str(out / "cohort.h5ad"), "--latent-key", key,
               "--covariate", "age", "--covariate", "disease", "--batch-key", "batch",
               "--label-key", "disease", "--no-enrichment", "--out", str(folder))
        ours = json.loads((folder / "report.json").read_text())["batch_mixing"]
        x, batch = adata.obsm[key].astype(np.float32), adata.obs["batch"].to_numpy()
        cells = adata.obs["disease"].to_numpy()
        own = {"scib_batch_asw": scib_metrics.silhouette_batch(x, cells, batch),
               "scib_ilisi": scib_metrics.ilisi_knn(
                   pynndescent(x, n_neighbors=90, random_state=0), batch),
               "scib_graph_connectivity": scib_metrics.graph_connectivity(
                   pynndescent(x, n_neighbors=15, random_state=0), cells)}
        for name, value in own.items():
            print(f"  {key:<14}{name:<26}{ours[name]:>16.4f}{float(value):>14.4f}")
        print(f"  {key:<14}bio_mtl's own (not scIB): " + ", ".join(
            f"{k} {ours[k]:.3f}" for k in ("batch_silhouette_mean", "batch_lisi_mean",
                                           "kbet_rejection")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/dissect_pbmc68k"))
    parser.add_argument("--scib-only", action="store_true", help="Only the scIB comparison.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.scib_only:
        pbmc(args.out)
    scib_numbers(args.out)


if __name__ == "__main__":
    main()
