"""Learning curve on simulated patients: shared pathway layer vs independent per-drug models.

Usage: python benchmarks/dose_multidrug.py [--seeds 0 1 2] [--n-rich 1500]
Prints the markdown table of docs/dose.md (test MAE in mg/week on the data-poor drug,
celecoxib, and the Spearman correlation of learned clearance with the true activity score).
"""

from __future__ import annotations

import argparse

from bio_mtl.dosing.simulate import learning_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-rich", type=int, default=1500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    args = parser.parse_args()
    curve = learning_curve(sizes=tuple(args.sizes), n_rich=args.n_rich, seeds=tuple(args.seeds))
    mean = curve.groupby("n_poor").mean(numeric_only=True)
    print("| n (celecoxib) | shared MAE | independent DosingModel MAE | ridge MAE | "
          "Spearman CYP2C9 | Spearman CYP2C19 |\n|---|---|---|---|---|---|")
    for n, r in mean.iterrows():
        print(f"| {n} | {r.shared_mae:.0f} | {r.independent_mae:.0f} | {r.ridge_mae:.0f} | "
              f"{r.spearman_cyp2c9:.3f} | {r.spearman_cyp2c19:.3f} |")


if __name__ == "__main__":
    main()
