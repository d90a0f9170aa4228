"""Nested leave-sites-out selection of DosingModel settings on IWPC (no tuning on test folds).

Usage: python benchmarks/dose_select.py [--data iwpc] [--seed 0] [-o dose_select.json]

Outer loop: the 5 leave-sites-out folds of ``biomtl evaluate-dose`` (group k-fold on
``Project Site``). Inside each outer training fold, every candidate in ``CANDIDATES`` is scored
by an inner 4-fold leave-sites-out CV on the training sites only; the candidate with the lowest
inner MAE is refit on the whole outer training fold and predicts the held-out sites. The
outer-fold numbers of every candidate are printed too, for information only: they are never
used to choose.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bio_mtl.dosing.evaluate import cv_folds
from bio_mtl.dosing.features import read_training_table
from bio_mtl.dosing.metrics import dose_metrics
from bio_mtl.dosing.model import DosingModel

CANDIDATES = {
    "log mse (previous default)": {"target": "log", "loss": "mse", "vkorc1_by_ancestry": False},
    "log mse + VKORC1 x ancestry": {"target": "log", "loss": "mse"},
    "sqrt mse + VKORC1 x ancestry": {"target": "sqrt", "loss": "mse"},
    "sqrt huber + VKORC1 x ancestry": {"target": "sqrt", "loss": "huber"},
    "log huber + VKORC1 x ancestry": {"target": "log", "loss": "huber"},
    "sqrt mse + VKORC1 x ancestry + MLP(8)": {"target": "sqrt", "loss": "mse", "hidden": 8},
}


def _predict(rows, train, test, params, seed):
    model = DosingModel(seed=seed, **params).fit(rows.iloc[train])
    return model.predict(rows.iloc[test])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="iwpc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="dose_select.json")
    args = parser.parse_args()
    rows, info = read_training_table(args.data)
    y = rows["dose_mg_per_week"].to_numpy(float)
    start = time.time()
    outer = {name: np.full(len(rows), np.nan) for name in CANDIDATES}
    selected_pred = np.full(len(rows), np.nan)
    chosen = []
    for k, (train, test) in enumerate(cv_folds(rows, "sites", n_splits=5, seed=args.seed)):
        inner_rows = rows.iloc[train].reset_index(drop=True)
        inner_y = inner_rows["dose_mg_per_week"].to_numpy(float)
        inner_score = {}
        for name, params in CANDIDATES.items():
            pred = np.full(len(inner_rows), np.nan)
            for itr, iva in cv_folds(inner_rows, "sites", n_splits=4, seed=args.seed):
                pred[iva] = _predict(inner_rows, itr, iva, params, args.seed)
            inner_score[name] = dose_metrics(inner_y, pred)["mae"]
            outer[name][test] = _predict(rows, train, test, params, args.seed)
        best = min(inner_score, key=inner_score.get)
        chosen.append({"fold": k, "chosen": best, "inner_mae": inner_score})
        selected_pred[test] = outer[best][test]
        print(f"fold {k}: chose {best!r} (inner MAE {inner_score[best]:.3f})", flush=True)
    print("\n| DosingModel setting | MAE (mg/week) | PW20 | R² |\n|---|---|---|---|")
    report = {}
    for name, pred in [("nested selection (honest)", selected_pred), *outer.items()]:
        m = dose_metrics(y, pred)
        report[name] = m
        print(f"| {name} | {m['mae']:.2f} | {100 * m['pw20']:.1f} % | {m['r2']:.3f} |")
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"data": info, "seed": args.seed, "candidates": CANDIDATES,
                   "folds": chosen, "outer": report, "seconds": time.time() - start},
                  handle, indent=2, default=float)


if __name__ == "__main__":
    main()
