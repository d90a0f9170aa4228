"""Federated vs centralized vs local-only dosing models on IWPC (docs/dose.md).

Usage: python benchmarks/dose_federated.py [--data iwpc] [--folds 5] [--rounds 20]
       [--strategies fedavg fedprox personalised] [--model warfarin_iwpc_v1]
       [--runtime simulation] [-o dose_federated.json]

Leave-sites-out folds (5-fold group k-fold on ``Project Site``, as ``biomtl evaluate-dose``).
In each fold, 20 % of every training site's patients (a hash of the patient id) are kept aside
as that site's own test patients; the rest train:

* federated: ``bio_mtl.dosing.federated.train_federated`` (the library call behind
  ``biomtl train-dose --federated``) with Flower's Simulation Runtime, one client per training
  site, ``--rounds`` rounds of 2 local epochs (batch 64, lr 0.03 with cosine decay), for each
  strategy; the DosingModel settings of ``--model`` (target, loss, VKORC1 x ancestry, ...);
* centralized: one DosingModel on the pooled training rows (the same settings, seed 0);
* local-only: one DosingModel per training site on that site's rows alone.

Scored on (a) the held-out sites' patients (every model's global head; local-only = the mean of
the site models' metrics) and (b) each training site's own 20 % (the personalised strategy with
that site's own head, local-only with the site's own model). MAE (mg/week), PW20, R² pooled
over the folds' test patients; cost: rounds, bytes exchanged (payload of Flower's records),
wall time. Torch runs on one thread per client.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bio_mtl._random import hash_split
from bio_mtl.dosing.evaluate import cv_folds
from bio_mtl.dosing.features import read_training_table
from bio_mtl.dosing.federated import FederatedConfig, split_sites, train_federated
from bio_mtl.dosing.metrics import dose_metrics
from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.params import saved_params

MIN_LOCAL = 20  # a site needs this many training patients for a local-only model


def _fold(rows, train_idx, test_idx, args, params) -> dict:
    train, held = rows.iloc[train_idx], rows.iloc[test_idx].reset_index(drop=True)
    own = hash_split(train["patient_id"].astype(str).tolist(), 0.2, salt="fed-own-test")
    fit_rows, own_test = train[~own].reset_index(drop=True), train[own].reset_index(drop=True)
    sites = split_sites(fit_rows, "site")
    out = {"held": {"y": held["dose_mg_per_week"].to_numpy(float)},
           "own": {"y": own_test["dose_mg_per_week"].to_numpy(float),
                   "site": own_test["site"].astype(str).to_numpy()}, "cost": {}}
    model_params = {k: v for k, v in params.items()
                    if k not in ("epochs", "lr", "batch_size", "seed")}
    start = time.time()
    central = DosingModel(**params).fit(fit_rows)
    out["cost"]["centralized"] = {"seconds": time.time() - start}
    out["held"]["centralized"] = central.predict(held)
    out["own"]["centralized"] = central.predict(own_test)
    local_held, own_local = [], np.full(len(own_test), np.nan)
    for name, part in sites.items():
        if len(part) < MIN_LOCAL:
            continue
        model = DosingModel(**params).fit(part)
        local_held.append(dose_metrics(out["held"]["y"], model.predict(held)))
        here = out["own"]["site"] == name
        if here.any():
            own_local[here] = model.predict(own_test[here])
    out["held"]["local-only"] = local_held
    out["own"]["local-only"] = own_local
    for strategy in args.strategies:
        start = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            result = train_federated(sites, config=FederatedConfig(
                strategy=strategy, rounds=args.rounds, seed=0), model_params=model_params,
                runtime=args.runtime, site_dir=tmp)
            out["cost"][strategy] = {**result.cost, "seconds": time.time() - start}
            out["held"][strategy] = result.model.predict(held)
            out["own"][strategy] = result.model.predict(own_test)
            if strategy == "personalised":
                mine = np.full(len(own_test), np.nan)
                for name in sites:
                    here = out["own"]["site"] == name
                    if here.any() and (Path(tmp) / name).exists():
                        mine[here] = DosingModel.load(Path(tmp) / name).predict(own_test[here])
                out["own"]["personalised (own head)"] = mine
        print(f"  {strategy}: {out['cost'][strategy]['seconds']:.0f} s", file=sys.stderr)
    return out


def _pooled(folds: list[dict], part: str) -> dict:
    y = np.concatenate([f[part]["y"] for f in folds])
    names = [k for k in folds[0][part] if k not in ("y", "site")]
    table = {}
    for name in names:
        if isinstance(folds[0][part][name], list):  # local-only on held-out sites
            metrics = [m for f in folds for m in f[part][name]]
            table[name] = {k: float(np.mean([m[k] for m in metrics]))
                           for k in ("mae", "pw20", "r2")} | {"n_models": len(metrics)}
        else:
            pred = np.concatenate([f[part][name] for f in folds])
            table[name] = dose_metrics(y, pred)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="iwpc")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", type=int, nargs="*", help="Run only these folds.")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--strategies", nargs="+",
                        default=["fedavg", "fedprox", "personalised"])
    parser.add_argument("--model", default="warfarin_iwpc_v1")
    parser.add_argument("--runtime", default="simulation")
    parser.add_argument("-o", "--output", default="dose_federated.json")
    args = parser.parse_args()
    rows, info = read_training_table(args.data)
    params = {**saved_params(args.model), "seed": 0}
    folds = []
    for i, (train_idx, test_idx) in enumerate(cv_folds(rows, "sites", n_splits=args.folds)):
        if args.only_folds and i not in args.only_folds:
            continue
        print(f"fold {i}: held-out sites {sorted(set(rows.iloc[test_idx]['site']))}",
              file=sys.stderr)
        folds.append(_fold(rows, train_idx, test_idx, args, params))
    report = {"data": info, "params": params, "rounds": args.rounds, "runtime": args.runtime,
              "held_out_sites": _pooled(folds, "held"), "own_sites": _pooled(folds, "own"),
              "cost": [f["cost"] for f in folds]}
    for part in ("held_out_sites", "own_sites"):
        print(f"\n{part} (pooled over {len(folds)} folds)\n\n| model | MAE | PW20 | R² |\n"
              "|---|---|---|---|")
        for name, m in report[part].items():
            print(f"| {name} | {m['mae']:.2f} | {100 * m['pw20']:.1f} % | {m['r2']:.3f} |")
    print("\n| strategy | rounds | bytes down | bytes up | failed | seconds (mean per fold) |\n"
          "|---|---|---|---|---|---|")
    for name in args.strategies:
        costs = [c[name] for c in report["cost"]]
        print(f"| {name} | {args.rounds} | {np.mean([c['bytes_down'] for c in costs]):,.0f} | "
              f"{np.mean([c['bytes_up'] for c in costs]):,.0f} | "
              f"{sum(c['failed_replies'] for c in costs)} | "
              f"{np.mean([c['seconds'] for c in costs]):.0f} |")
    print(f"centralized fit: {np.mean([c['centralized']['seconds'] for c in report['cost']]):.0f}"
          " s per fold")
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
