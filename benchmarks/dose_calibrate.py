"""Few-shot calibration to a new site: leave-one-site-out over the IWPC sites (docs/dose.md).

Usage: python benchmarks/dose_calibrate.py [--data iwpc] [--min-site 100] [--ks 0 10 25 50 100]
       [--orders 5] [--model warfarin_iwpc_v1] [-o dose_calibrate.json]
       [--figure docs/figures/dose_calibration_curve.png] [--cli-check SITE]

For every site with at least ``--min-site`` patients with a stable dose: a DosingModel with the
settings of ``--model`` (seed 0) is trained on all other sites; the site's patients are taken in
table order (the closest thing to enrolment order) and in ``--orders`` random orders (seeds
0..n-1); the first k are used to calibrate (``bio_mtl.dosing.calibrate.calibrate_site``, the
library call behind ``biomtl calibrate-dose``) and every method is scored on the same patients:
those after position max(ks) in that order. Baselines on the same patients: the published IWPC
pharmacogenetic formula (missing height/weight imputed with the training sites' medians), the
IWPC formula with the same k-patient intercept recalibration on its sqrt scale (shrinkage and
leave-one-out choice as for the DosingModel), and the global DosingModel without calibration.
``--cli-check SITE`` reruns one site (table order, k = 25) end to end through
``biomtl train-dose``, ``biomtl calibrate-dose`` and ``biomtl dose --input`` and checks that it
gives the library's numbers. Torch runs on one thread (DosingModel trains on one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bio_mtl.dosing.calibrate import calibrate_site, offset_dose, select_offset
from bio_mtl.dosing.evaluate import IWPCPublished
from bio_mtl.dosing.iwpc import read_iwpc, trainable_mask
from bio_mtl.dosing.metrics import coverage, dose_metrics
from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.params import saved_params

METHODS = ("IWPC published", "IWPC + intercept recalibration", "DosingModel global",
           "DosingModel calibrated")


def _orders(n: int, n_random: int) -> dict[str, np.ndarray]:
    out = {"table": np.arange(n)}
    for seed in range(n_random):
        out[f"random{seed}"] = np.random.default_rng(seed).permutation(n)
    return out


def _site_predictions(site: pd.DataFrame, model, iwpc, ks, order) -> dict:
    """Predictions of every method and k on the site's test patients (after max(ks))."""
    rows = site.iloc[order].reset_index(drop=True)
    test = rows.iloc[max(ks):]
    iwpc_all = np.sqrt(iwpc.predict(rows))
    out = {"y": test["dose_mg_per_week"].to_numpy(float), "k": {}}
    glob, glo, ghi = model.predict_interval(test)
    for k in ks:
        first = rows.iloc[:k]
        t_obs = np.sqrt(first["dose_mg_per_week"].to_numpy(float))
        fit = select_offset(iwpc_all[:k], t_obs, levels=("none", "intercept"))
        cell = {"IWPC published": (np.square(iwpc_all[max(ks):]), None, None),
                "IWPC + intercept recalibration": (offset_dose(iwpc_all[max(ks):], fit),
                                                   None, None),
                "DosingModel global": (glob, glo, ghi)}
        if k:
            calibrated, report = calibrate_site(model, first)
            cell["DosingModel calibrated"] = calibrated.predict_interval(test)
            cell["level"] = report["level"]
        else:
            cell["DosingModel calibrated"] = (glob, glo, ghi)
            cell["level"] = "none"
        out["k"][k] = cell
    return out


def _score(y, cell) -> dict:
    scores = {}
    for method in METHODS:
        pred, lo, hi = cell[method]
        scores[method] = {**dose_metrics(y, pred),
                          "coverage": None if lo is None else coverage(y, lo, hi)}
    return scores


def _pool(parts: list[dict], k: int) -> dict:
    y = np.concatenate([p["y"] for p in parts])
    cell = {}
    for method in METHODS:
        cols = [p["k"][k][method] for p in parts]
        cell[method] = tuple(None if c[0] is None else np.concatenate(c)
                             for c in zip(*cols, strict=True))
    return _score(y, cell)


def run(data: str, *, min_site: int, ks: list[int], n_orders: int, model_name: str) -> dict:
    cohort = read_iwpc(data)
    rows = cohort.frame[trainable_mask(cohort.frame)].reset_index(drop=True)
    params = {**saved_params(model_name), "seed": 0}
    sizes = rows["site"].value_counts()
    sites = [s for s in sizes.index if sizes[s] >= min_site]
    per_site, pooled_parts = {}, {}
    for site in sites:
        train, held = rows[rows["site"] != site], rows[rows["site"] == site]
        model = DosingModel(**params).fit(train)
        iwpc = IWPCPublished().fit(train)
        for name, order in _orders(len(held), n_orders).items():
            preds = _site_predictions(held.reset_index(drop=True), model, iwpc, ks, order)
            pooled_parts.setdefault(name, []).append(preds)
            if name == "table":
                per_site[site] = {"n": len(held), "n_test": len(preds["y"]),
                                  "k": {k: {**_score(preds["y"], preds["k"][k]),
                                            "level": preds["k"][k]["level"]} for k in ks}}
        print(f"site {site}: {len(held)} patients done", file=sys.stderr)
    pooled = {name: {k: _pool(parts, k) for k in ks} for name, parts in pooled_parts.items()}
    return {"data": {"source": cohort.source, "sha256": cohort.sha256}, "params": params,
            "sites": sites, "ks": ks, "per_site": per_site, "pooled": pooled}


def random_summary(report: dict) -> dict:
    """Mean and sd over the random orders of each pooled metric."""
    names = [n for n in report["pooled"] if n.startswith("random")]
    out = {}
    for k in report["ks"]:
        out[k] = {}
        for method in METHODS:
            cells = [report["pooled"][n][k][method] for n in names]
            out[k][method] = {m: (float(np.mean([c[m] for c in cells])),
                                  float(np.std([c[m] for c in cells])))
                              for m in ("mae", "pw20") if cells}
            if cells and cells[0]["coverage"] is not None:
                out[k][method]["coverage"] = (float(np.mean([c["coverage"] for c in cells])),
                                              float(np.std([c["coverage"] for c in cells])))
    return out


def format_report(report: dict) -> str:
    lines = [f"\nPooled over {len(report['sites'])} held-out sites, table order "
             "(MAE mg/week / PW20 / coverage of the 90 % interval)\n",
             "| k | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 1) + "|"]
    for k in report["ks"]:
        cells = report["pooled"]["table"][k]
        lines.append(f"| {k} | " + " | ".join(_cell(cells[m]) for m in METHODS) + " |")
    summary = random_summary(report)
    lines += [f"\nPooled, {sum(n.startswith('random') for n in report['pooled'])} random "
              "orders (mean ± sd over orders)\n",
              "| k | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 1) + "|"]
    for k in report["ks"]:
        lines.append(f"| {k} | " + " | ".join(
            f"{summary[k][m]['mae'][0]:.2f} ± {summary[k][m]['mae'][1]:.2f} / "
            f"{100 * summary[k][m]['pw20'][0]:.1f} %"
            + (f" / {100 * summary[k][m]['coverage'][0]:.1f} %" if "coverage" in summary[k][m]
               else "") for m in METHODS) + " |")
    lines += ["\nPer site, table order: MAE (mg/week) of IWPC published / IWPC + recal / "
              "global / calibrated (chosen level)\n",
              "| site | n (test) | " + " | ".join(f"k={k}" for k in report["ks"]) + " |",
              "|---" * (len(report["ks"]) + 2) + "|"]
    for site, rec in report["per_site"].items():
        lines.append(f"| {site} | {rec['n']} ({rec['n_test']}) | " + " | ".join(
            " / ".join(f"{rec['k'][k][m]['mae']:.1f}" for m in METHODS)
            + f" ({rec['k'][k]['level']})" for k in report["ks"]) + " |")
    return "\n".join(lines)


def _cell(c: dict) -> str:
    cov = "" if c["coverage"] is None else f" / {100 * c['coverage']:.1f} %"
    return f"{c['mae']:.2f} / {100 * c['pw20']:.1f} %{cov}"


def figure(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = random_summary(report)
    ks = report["ks"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method, colour in zip(METHODS, ("grey", "tab:orange", "tab:blue", "tab:green"),
                              strict=True):
        for ax, metric in zip(axes, ("mae", "pw20"), strict=True):
            scale = 100 if metric == "pw20" else 1
            table = [scale * report["pooled"]["table"][k][method][metric] for k in ks]
            mean = [scale * summary[k][method][metric][0] for k in ks]
            sd = [scale * summary[k][method][metric][1] for k in ks]
            ax.plot(ks, table, "-o", color=colour, label=f"{method} (table order)")
            ax.errorbar(ks, mean, yerr=sd, fmt="--", color=colour, alpha=0.6, capsize=3)
    axes[0].set(xlabel="patients used to calibrate (k)", ylabel="MAE (mg/week)",
                title="pooled held-out sites")
    axes[1].set(xlabel="patients used to calibrate (k)", ylabel="PW20 (%)",
                title="dashed: 5 random orders, mean ± sd")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def cli_check(data: str, site: str, model_name: str, report: dict) -> dict:
    """One site end to end through the CLI; returns both MAEs (k = 25, table order)."""
    cohort = read_iwpc(data)
    ok = trainable_mask(cohort.frame)
    raw, frame = cohort.raw[ok].reset_index(drop=True), cohort.frame[ok].reset_index(drop=True)
    here = (frame["site"] == site).to_numpy()
    held = raw[here].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        raw[~here].to_csv(t / "train.csv", index=False)
        held.iloc[:25].to_csv(t / "first25.csv", index=False)
        held.iloc[max(report["ks"]):].to_csv(t / "rest.csv", index=False)
        params = {k: v for k, v in saved_params(model_name).items() if k != "seed"}
        (t / "params.json").write_text(json.dumps(params))
        for argv in (["train-dose", "--data", t / "train.csv", "--config", t / "params.json",
                      "--out", t / "global", "--seed", "0"],
                     ["calibrate-dose", "--model", t / "global", "--data", t / "first25.csv",
                      "--out", t / "site"],
                     ["dose", "--model", t / "site", "--input", t / "rest.csv", "-o",
                      t / "pred.csv"]):
            subprocess.run(["biomtl", *map(str, argv)], check=True)
        pred = pd.read_csv(t / "pred.csv")["dose_mg_per_week"].to_numpy(float)
    y = frame[here]["dose_mg_per_week"].to_numpy(float)[max(report["ks"]):]
    cli_mae = float(np.mean(np.abs(pred - y)))
    lib_mae = report["per_site"][site]["k"][25]["DosingModel calibrated"]["mae"]
    return {"site": site, "cli_mae": cli_mae, "library_mae": lib_mae}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="iwpc")
    parser.add_argument("--min-site", type=int, default=100)
    parser.add_argument("--ks", type=int, nargs="+", default=[0, 10, 25, 50, 100])
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--model", default="warfarin_iwpc_v1")
    parser.add_argument("-o", "--output", default="dose_calibrate.json")
    parser.add_argument("--figure", default="docs/figures/dose_calibration_curve.png")
    parser.add_argument("--cli-check", metavar="SITE")
    args = parser.parse_args()
    start = time.time()
    report = run(args.data, min_site=args.min_site, ks=args.ks, n_orders=args.orders,
                 model_name=args.model)
    print(format_report(report))
    if args.figure:
        figure(report, args.figure)
    if args.cli_check:
        report["cli_check"] = cli_check(args.data, args.cli_check, args.model, report)
        print(f"\nCLI check (site {args.cli_check}, k = 25): {report['cli_check']}")
    report["seconds"] = time.time() - start
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
