"""Reproduce the IWPC evaluation table of docs/dose.md.

Usage: python benchmarks/dose_eval.py [--data iwpc] [--seed 0] [-o dose_eval.json]
(5-fold CV and leave-sites-out for every model in bio_mtl.dosing.evaluate.MODELS).
"""

from __future__ import annotations

import argparse
import json
import time

from bio_mtl.dosing.evaluate import evaluate_cohort
from bio_mtl.dosing.features import read_dose_table
from bio_mtl.dosing.iwpc import trainable_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="iwpc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="dose_eval.json")
    args = parser.parse_args()
    _, frame, info = read_dose_table(args.data)
    rows = frame[trainable_mask(frame)].reset_index(drop=True)
    start = time.time()
    report = evaluate_cohort(rows, seed=args.seed)
    for scheme, rep in report.items():
        print(f"\n{scheme} ({rep['n_splits']} folds, {rep['n_patients']} patients)")
        print("| model | MAE (mg/week) | PW20 | R² |\n|---|---|---|---|")
        for name, m in rep["models"].items():
            o = m["overall"]
            print(f"| {name} | {o['mae']:.2f} | {100 * o['pw20']:.1f} % | {o['r2']:.3f} |")
        print("coverage of the DosingModel 90 % intervals:", rep.get("coverage"))
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"data": info, "seed": args.seed, "report": report,
                   "seconds": time.time() - start}, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
