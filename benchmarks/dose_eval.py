"""Reproduce the IWPC evaluation table of docs/dose.md.

Usage: python benchmarks/dose_eval.py [--data iwpc] [--seed 0] [-o dose_eval.json] [--params JSON]
(5-fold CV and leave-sites-out for every model in bio_mtl.dosing.evaluate.MODELS; overall, per
ancestry and per dose range, and the DosingModel's conformal coverage).
"""

from __future__ import annotations

import argparse
import json
import time

from bio_mtl.dosing.evaluate import evaluate_cohort
from bio_mtl.dosing.features import read_training_table


def format_report(report: dict) -> str:
    """Markdown tables (overall, per ancestry, per dose range, coverage) of an evaluation."""
    out = []
    for scheme, rep in report.items():
        out.append(f"\n{scheme} ({rep['n_splits']} folds, {rep['n_patients']} patients)\n")
        out.append("| model | MAE (mg/week) | PW20 | R² |\n|---|---|---|---|")
        for name, m in rep["models"].items():
            o = m["overall"]
            out.append(f"| {name} | {o['mae']:.2f} | {100 * o['pw20']:.1f} % | {o['r2']:.3f} |")
        first = next(iter(rep["models"].values()))
        for key, title in (("by_ancestry", "ancestry"), ("by_dose_range", "dose range")):
            groups = list(first[key])
            sizes = ", ".join(f"{g} {first[key][g]['n']}" for g in groups)
            out.append(f"\n{scheme}, MAE (mg/week) / PW20 by {title} (n: {sizes})\n")
            out.append("| model | " + " | ".join(groups) + " |\n" + "|---" * (len(groups) + 1)
                       + "|")
            for name, m in rep["models"].items():
                cells = [f"{m[key][g]['mae']:.2f} / {100 * m[key][g]['pw20']:.0f} %"
                         for g in groups]
                out.append(f"| {name} | " + " | ".join(cells) + " |")
        cov = rep.get("coverage", {})
        out.append(f"\nDosingModel conformal intervals: nominal {cov.get('nominal')}, empirical "
                   f"{cov.get('empirical', float('nan')):.3f}, median width "
                   f"{cov.get('median_width', float('nan')):.1f} mg/week")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="iwpc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="dose_eval.json")
    parser.add_argument("--params", help="DosingModel parameters as JSON, e.g. "
                                         "'{\"target\": \"sqrt\"}' (default: the defaults)")
    args = parser.parse_args()
    rows, info = read_training_table(args.data)
    start = time.time()
    params = json.loads(args.params) if args.params else {}
    report = evaluate_cohort(rows, seed=args.seed, dosing_params=params)
    print(format_report(report))
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"data": info, "seed": args.seed, "dosing_params": params, "report": report,
                   "seconds": time.time() - start}, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
