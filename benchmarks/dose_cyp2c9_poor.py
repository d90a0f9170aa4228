"""CYP2C9 poor metabolizers in the warfarin model: the evidence behind ``cyp2c9_poor_metabolizer``.

Usage: python benchmarks/dose_cyp2c9_poor.py [--seed 0] [--old DIR] [--new DIR] [-o out.json]

1. Out-of-fold check (5-fold CV and leave-sites-out on the 5,919 IWPC patients with a stable
   dose, seed 0, the shipped model's settings with and without the poor-metabolizer term):
   overall MAE / PW20 / R², and per CYP2C9 diplotype the number of patients and the mean
   residual sqrt(observed) - sqrt(predicted) (negative = dose too high).
2. The reference patient of issue 11 (65 years, 175 cm, 80 kg, white, no interacting drugs)
   for every VKORC1 x CYP2C9 *1/*2/*3 genotype: the models given by --old/--new, the published
   IWPC formula, the FDA label range and the observed IWPC median (all ages and sizes).

A DosingModel fit takes 5-15 s on one core; the whole script about 5 minutes.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from bio_mtl.dosing.evaluate import cv_folds, make_model
from bio_mtl.dosing.features import read_training_table
from bio_mtl.dosing.genotypes import parse_genotype_string
from bio_mtl.dosing.iwpc import iwpc_pharmacogenetic_dose
from bio_mtl.dosing.metrics import dose_metrics
from bio_mtl.dosing.params import saved_params
from bio_mtl.dosing.predict import patient_frame
from bio_mtl.dosing.pretrained import load_pretrained

DIPLOTYPES = ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3")
VKORC1 = ("G/G", "A/G", "A/A")
#: COUMADIN label Table 5, expected maintenance dose (mg/day) -> mg/week (x 7).
FDA_MG_PER_DAY = {
    "G/G": ("5-7", "5-7", "3-4", "3-4", "3-4", "0.5-2"),
    "A/G": ("5-7", "3-4", "3-4", "3-4", "0.5-2", "0.5-2"),
    "A/A": ("3-4", "3-4", "0.5-2", "0.5-2", "0.5-2", "0.5-2")}


def _weekly(day_range: str) -> str:
    lo, hi = (float(x) * 7 for x in day_range.split("-"))
    return f"{lo:g}-{hi:g}"


def out_of_fold(rows: pd.DataFrame, params: dict, *, scheme: str, seed: int) -> np.ndarray:
    """Out-of-fold DosingModel predictions (mg/week)."""
    pred = np.full(len(rows), np.nan)
    for train, test in cv_folds(rows, scheme, n_splits=5, seed=seed):
        model = make_model("DosingModel (pathway layer)", seed, **params).fit(rows.iloc[train])
        pred[test] = model.predict(rows.iloc[test])
    return pred


def by_diplotype(rows: pd.DataFrame, pred: np.ndarray) -> dict:
    """Per CYP2C9 diplotype: n and mean sqrt residual (observed - predicted)."""
    y = rows["dose_mg_per_week"].to_numpy(float)
    res = pd.Series(np.sqrt(y) - np.sqrt(pred)).groupby(rows["cyp2c9"].fillna("NA").values)
    return {d: {"n": int(res.size()[d]), "sqrt_residual": float(res.mean()[d])}
            for d in DIPLOTYPES}


def reference_table(rows: pd.DataFrame, models: dict) -> list[dict]:
    """The issue's reference patient for every VKORC1 x CYP2C9 genotype."""
    out = []
    for vk in VKORC1:
        for j, cyp in enumerate(DIPLOTYPES):
            geno = parse_genotype_string(f"CYP2C9={cyp}; VKORC1={vk}")
            frame = patient_frame(geno, age=65, weight=80, height=175, ancestry="white")
            iwpc = iwpc_pharmacogenetic_dose(frame.assign(cyp2c9=cyp, vkorc1=vk))[0]
            cell = rows[(rows["cyp2c9"] == cyp) & (rows["vkorc1"] == vk)]["dose_mg_per_week"]
            out.append({"vkorc1": vk, "cyp2c9": cyp, "iwpc": float(iwpc),
                        "fda_mg_per_week": _weekly(FDA_MG_PER_DAY[vk][j]),
                        "observed_n": len(cell),
                        "observed_median": float(cell.astype(float).median()),
                        **{name: float(m.predict(frame)[0]) for name, m in models.items()}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--old", help="model without the term (default: none)")
    parser.add_argument("--new", default="warfarin_iwpc_v1", help="model with the term")
    parser.add_argument("--skip-cv", action="store_true")
    parser.add_argument("-o", "--output", default="dose_cyp2c9_poor.json")
    args = parser.parse_args()
    rows, _ = read_training_table("iwpc")
    y = rows["dose_mg_per_week"].to_numpy(float)
    base = {k: v for k, v in saved_params("warfarin_iwpc_v1").items() if k != "seed"}
    report = {"cv": {}}
    for scheme in () if args.skip_cv else ("kfold", "sites"):
        for flag in (False, True):
            pred = out_of_fold(rows, {**base, "cyp2c9_poor_metabolizer": flag}, scheme=scheme,
                               seed=args.seed)
            key = f"{scheme}, cyp2c9_poor_metabolizer={flag}"
            report["cv"][key] = {"overall": dose_metrics(y, pred),
                                 "by_diplotype": by_diplotype(rows, pred)}
            print(key, json.dumps(report["cv"][key], default=float), flush=True)
    models = {"new": load_pretrained(args.new)}
    if args.old:
        models["old"] = load_pretrained(args.old)
    report["reference_patient"] = reference_table(rows, models)
    print(pd.DataFrame(report["reference_patient"]).round(1).to_string(index=False))
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
