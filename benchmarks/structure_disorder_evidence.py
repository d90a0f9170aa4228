"""Does the disorder task help or hurt SS and RSA? Δm with and without a disorder head.

Usage::

    nice -n 10 python benchmarks/structure_disorder_evidence.py DATA_DIR OUT_JSON \\
        [--ss-chains 1500] [--epochs 8] [--seeds 0,1] [--threads 1] [--markdown OUT_MD] \\
        [--reuse OTHER_JSON]

The protocol of ``benchmarks/structure_mtl_evidence.py`` (same data, model ``SMALL``, optimiser,
epochs and selection rule; all RSA labels), with one more task: ``disorder``, the NetSurfP-2.0
mask ``0`` of ``train.jsonl.gz`` (residues disordered or unobserved in the structure). Runs per
seed:

* ``ss_only`` (ss8 + ss3), ``rsa_only`` (RSA chains repeated to a joint epoch's length) and
  ``disorder_only``: single-task baselines, each kept at its best epoch on its own validation
  metric (Q8, RSA r, disorder AUC);
* ``joint3`` (ss8 + ss3 + rsa) and ``joint4`` (ss8 + ss3 + rsa + disorder), equal weighting,
  kept at their last epoch.

Δm (Maninis et al. 2019; Vandenhende et al. 2021; :func:`bio_mtl.mtl.negative_transfer.delta_m`)
is reported three ways: ``joint3`` and ``joint4`` against the single-task models over Q8, Q3 and
RSA r (plus disorder AUC for ``joint4``), and ``joint4`` against ``joint3`` over Q8, Q3 and RSA r
(what adding the disorder task does to SS and RSA). Disorder AUC and MCC (threshold 0.5) are
scored on the validation split only: the test sets' masks are not disorder labels.

``--reuse`` copies finished ``ss_only`` / ``rsa_only`` runs of the same seeds from a
``structure_mtl_evidence.py`` JSON run with the same settings (the baselines are identical), to
save CPU time. The JSON is rewritten after every run and finished runs are skipped on a re-run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from bio_mtl.mtl.metrics import auroc, mcc
from bio_mtl.mtl.negative_transfer import delta_m
from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.structure.distill import teacher_predictions
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.model import StructureModelConfig
from bio_mtl.structure.train import StructureDataConfig, training_chains

_spec = importlib.util.spec_from_file_location(
    "structure_mtl_evidence", Path(__file__).with_name("structure_mtl_evidence.py"))
evidence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(evidence)

SS, JOINT3 = ("ss8", "ss3"), ("ss8", "ss3", "rsa")
JOINT4 = (*JOINT3, "disorder")
PRIMARY = {"q8": True, "q3": True, "rsa_pearson": True}


def score(model, sets: dict) -> dict:
    """Q8, Q3, RSA Pearson r and MAE per evaluation set, from the network's outputs.

    The same numbers as ``score_predictions`` of ``structure_mtl_evidence.py`` (labelled
    residues only: the CB513 evaluation mask, finite RSA), without the prediction front end.
    """
    out = {}
    for name, chains in sets.items():
        if name.startswith("_"):
            continue
        preds = teacher_predictions(chains, model)
        scores = {}
        ss = [(c, p) for c, p in zip(chains, preds, strict=True) if "ss8" in p]
        if ss:
            ok = np.concatenate([c.ss8 >= 0 for c, _ in ss])
            for task, key in (("ss8", "q8"), ("ss3", "q3")):
                true = np.concatenate([getattr(c, task) for c, _ in ss])[ok]
                pred = np.concatenate([p[task].argmax(-1) for _, p in ss])[ok]
                scores[key] = float((true == pred).mean())
        if "rsa" in preds[0]:
            true = np.concatenate([c.rsa for c in chains])
            pred = np.concatenate([p["rsa"] for p in preds])
            known = np.isfinite(true)
            if known.any():
                scores["rsa_pearson"] = float(np.corrcoef(true[known], pred[known])[0, 1])
                scores["rsa_mae"] = float(np.abs(true[known] - pred[known]).mean())
        out[name] = scores
    return out


def disorder_scores(model, chains) -> dict:
    """Disorder AUC and MCC (threshold 0.5) of ``model`` on the labelled residues of ``chains``."""
    preds = teacher_predictions(chains, model)
    y = np.concatenate([c.disorder for c in chains])
    p = np.concatenate([pr["disorder"][:, 1] for pr in preds])
    return {"disorder_auc": auroc(y, p), "disorder_mcc": mcc(y, (p > 0.5).astype(int)),
            "disorder_fraction": float(y.mean()), "n_residues": int(y.size)}


def train_one(data: Path, tasks, *, seed: int, rsa_repeat: int, args) -> tuple:
    mcfg = StructureModelConfig(tasks=tuple(tasks), **evidence.SMALL)
    joint = len(tasks) > 2
    monitor = {SS: "ss8/accuracy", ("rsa",): "rsa/pearson",
               ("disorder",): "disorder/auroc"}.get(tuple(tasks), "ss8/accuracy")
    tcfg = TrainConfig(epochs=args.epochs, lr=2e-3, warmup_steps=100, weight_decay=0.01,
                       grad_clip=1.0, monitor=monitor, weighting="equal", seed=seed)
    dcfg = StructureDataConfig(max_ss_chains=args.ss_chains, rsa_repeat=rsa_repeat,
                               select_best=not joint, batch_tokens=evidence.BATCH_TOKENS,
                               max_len=evidence.MAX_LEN, val_fraction=evidence.VAL_FRACTION,
                               rsa_val_fraction=evidence.RSA_VAL_FRACTION)
    t0 = time.time()
    model = StructureModel(model=mcfg, training=tcfg, data=dcfg)
    model.fit(data / "train.jsonl.gz", rsa_paths=data / "rsa_train.jsonl.gz")
    info = {"tasks": list(tasks), "weighting": "equal", "seed": seed, "rsa_repeat": rsa_repeat,
            "n_train_chains": model.metrics_["n_train_chains"],
            "best_epoch": model.metrics_["best_epoch"], "train_s": round(time.time() - t0, 1)}
    return model, info


def summarise(results: dict) -> str:
    """Δm per joint run and a Markdown table of means over seeds."""
    for key, run in results.items():
        seed, name = key.split("/")[0], key.split("/")[-1]
        base = {k: results.get(f"{seed}/{k}") for k in ("ss_only", "rsaall/rsa_only",
                                                        "disorder_only")}
        if not name.startswith("joint") or None in base.values():
            continue
        for split in ("val", "test"):
            def pick(r, metric, s=split):
                where = ("cb513" if metric in ("q8", "q3") else "casp_fm") if s == "test" \
                    else "val"
                return r["scores"][where][metric]

            single = {m: pick(base["ss_only"] if m != "rsa_pearson" else
                              base["rsaall/rsa_only"], m) for m in PRIMARY}
            mine = {m: pick(run, m) for m in PRIMARY}
            directions = dict(PRIMARY)
            if name == "joint4" and split == "val":
                single["disorder_auc"] = base["disorder_only"]["scores"]["val"]["disorder_auc"]
                mine["disorder_auc"] = run["scores"]["val"]["disorder_auc"]
                directions["disorder_auc"] = True
            run.setdefault("delta_m_percent", {})[split] = round(
                100 * delta_m(single, mine, directions), 2)
            other = results.get(f"{seed}/joint3")
            if name == "joint4" and other is not None:
                ref = {m: pick(other, m) for m in PRIMARY}
                run.setdefault("delta_m_vs_joint3_percent", {})[split] = round(
                    100 * delta_m(ref, {m: pick(run, m) for m in PRIMARY}, PRIMARY), 2)
    lines = ["| model | val Q8 | val Q3 | val RSA r | val disorder AUC | val disorder MCC | "
             "CASP-FM RSA r | CB513 Q3 | CB513 Q8 | Δm val % | Δm test % | Δm vs joint3 val % "
             "| Δm vs joint3 test % |", "|" + " --- |" * 13]

    def cell(values, scale, digits):
        values = [v for v in values if v is not None]
        if not values:
            return "-"
        text = f"{statistics.fmean(values) * scale:.{digits}f}"
        if len(values) > 1:
            text += f" ± {(max(values) - min(values)) * scale / 2:.{digits}f}"
        return text

    labels = {"ss_only": "SS only (ss8+ss3)", "rsa_only": "RSA only",
              "disorder_only": "disorder only", "joint3": "joint ss8+ss3+rsa",
              "joint4": "joint ss8+ss3+rsa+disorder"}
    for name, label in labels.items():
        runs = [r for k, r in results.items() if k.split("/")[-1] == name]
        if not runs:
            continue
        get = lambda s, m, rs=runs: [r["scores"].get(s, {}).get(m) for r in rs]  # noqa: E731
        dm = lambda field, s, rs=runs: [r.get(field, {}).get(s) for r in rs]  # noqa: E731
        pct = [cell(get("val", "q8"), 100, 1), cell(get("val", "q3"), 100, 1),
               cell(get("val", "rsa_pearson"), 1, 3), cell(get("val", "disorder_auc"), 1, 3),
               cell(get("val", "disorder_mcc"), 1, 3), cell(get("casp_fm", "rsa_pearson"), 1, 3),
               cell(get("cb513", "q3"), 100, 1), cell(get("cb513", "q8"), 100, 1),
               cell(dm("delta_m_percent", "val"), 1, 2), cell(dm("delta_m_percent", "test"), 1, 2),
               cell(dm("delta_m_vs_joint3_percent", "val"), 1, 2),
               cell(dm("delta_m_vs_joint3_percent", "test"), 1, 2)]
        lines.append(f"| {label} | " + " | ".join(pct) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("out_json")
    ap.add_argument("--ss-chains", type=int, default=1500)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--reuse", default=None,
                    help="structure_mtl_evidence.py JSON whose ss_only / rsa_only runs to copy")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    data, out_path = Path(args.data_dir), Path(args.out_json)
    sets = evidence.evaluation_sets(data)
    _, sets["val"] = training_chains(JOINT4, StructureDataConfig(),
                                     train_files=[data / "train.jsonl.gz"],
                                     rsa_files=[data / "rsa_train.jsonl.gz"])
    ss_train, rsa_train = sets["_train"]
    ss_used = ss_train[:args.ss_chains]
    rsa_labelled = [c for c in ss_used + rsa_train if c.has_rsa]
    repeat = max(1, round(evidence.epoch_residues(ss_used + rsa_train)
                          / evidence.epoch_residues(rsa_labelled)))
    results = json.loads(out_path.read_text())["runs"] if out_path.exists() else {}
    if args.reuse:
        other = json.loads(Path(args.reuse).read_text())
        same = all(other["settings"].get(k) == v for k, v in
                   (("ss_chains", args.ss_chains), ("epochs", args.epochs)))
        for seed in seeds if same else ():
            for key in (f"s{seed}/ss_only", f"s{seed}/rsaall/rsa_only"):
                if key in other["runs"] and key not in results:
                    results[key] = {**other["runs"][key], "reused_from": str(args.reuse)}
    plan = [(f"s{s}/{name}", tasks, s) for s in seeds for name, tasks in
            (("ss_only", SS), ("rsaall/rsa_only", ("rsa",)), ("disorder_only", ("disorder",)),
             ("joint3", JOINT3), ("joint4", JOINT4))]
    started = time.time()
    for key, tasks, seed in plan:
        if key in results:
            continue
        model, info = train_one(data, tasks, seed=seed, args=args,
                                rsa_repeat=repeat if tasks == ("rsa",) else 1)
        info["scores"] = score(model, sets)
        if "disorder" in tasks:
            info["scores"]["val"].update(disorder_scores(model, sets["val"]))
        info["elapsed_s"] = round(time.time() - started, 1)
        results[key] = info
        print(json.dumps({key: info}), flush=True)
        out_path.write_text(json.dumps({"settings": vars(args), "model": evidence.SMALL,
                                        "runs": results}, indent=2, default=list))
    table = summarise(results)
    out_path.write_text(json.dumps({"settings": vars(args), "model": evidence.SMALL,
                                    "runs": results, "table": table}, indent=2, default=list))
    if args.markdown:
        Path(args.markdown).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
