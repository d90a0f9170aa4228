"""Does multi-task training help? SS-only, RSA-only and joint structure models on one budget.

Usage::

    nice -n 10 python benchmarks/structure_mtl_evidence.py DATA_DIR OUT_JSON \\
        [--ss-chains 1500] [--rsa-levels 100,all] [--epochs 8] \\
        [--weightings equal,uncertainty] [--matched equal] [--seeds 0,1] [--threads 1]
        [--markdown OUT_MD]

Protocol (every run shares it; only the tasks, the loss weighting and the number of RSA labels
differ):

* Data: the first ``--ss-chains`` NetSurfP-2.0 training chains of the library's hash split plus
  every RSA-labelled training chain (their SS8 labels too). At each RSA level ``n`` only ``n``
  of those chains keep their RSA labels (a fixed subset, ``StructureDataConfig(rsa_label_chains=)``);
  ``all`` keeps every one. The SS labels never change, so one SS-only model per seed serves
  every level.
* Model: a small residual dilated CNN (``SMALL``), AdamW with warm-up and cosine decay, a fixed
  number of epochs, 1 torch thread.
* Equal optimisation budget: an RSA-only model repeats its chains (``rsa_repeat``) so that its
  epoch has about as many residues as a joint model's epoch. A joint model then sees each RSA
  label ``rsa_repeat`` times less often than the RSA-only model; ``--matched W`` adds joint runs
  (``joint_W_matched``) whose RSA chains are repeated as often as the RSA-only model's (more
  steps in all), to tell fewer RSA updates apart from negative transfer.
* Selection favours the single-task baselines: SS-only and RSA-only models keep their best
  epoch on their own validation metric (Q8, RSA Pearson r); joint models keep their last epoch.
* Scores: the validation split of ``StructureModel.fit`` (hash split: 5 % of the SS chains, 10 %
  of the RSA chains), ``casp_fm_rsa.jsonl.gz`` (an RSA and SS test set) and ``cb513.jsonl.gz``
  (SS test set; reported, never used to choose anything).
* Delta_m (Maninis et al. 2019, CVPR; Vandenhende et al. 2021, IEEE TPAMI 44:3614) over one
  metric per task, Q8 (ss8), Q3 (ss3) and RSA Pearson r (rsa), each against its single-task
  model: :func:`bio_mtl.mtl.negative_transfer.delta_m`.

The JSON is rewritten after every run and finished runs are skipped on a re-run, so an
interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from bio_mtl.mtl.negative_transfer import delta_m
from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.mtl.weighting import WEIGHTINGS
from bio_mtl.structure.data import CB513_OVERLAP_IDS, join_rsa, read_chains, split_chains
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.metrics import score_predictions
from bio_mtl.structure.model import StructureModelConfig
from bio_mtl.structure.train import StructureDataConfig, limit_rsa_labels

SMALL = dict(embed_dim=32, conv_channels=64, conv_layers=6, kernel_size=5,
             dilations=(1, 2, 4, 8, 1, 2), lstm_layers=0, dropout=0.1)
#: Metrics kept per evaluation set.
REPORTED = ("q8", "q3", "sov3", "rsa_pearson", "rsa_mae")
#: One metric per task for Delta_m (all higher-is-better).
PRIMARY = {"q8": True, "q3": True, "rsa_pearson": True}
MAX_LEN, BATCH_TOKENS, VAL_FRACTION, RSA_VAL_FRACTION = 512, 8192, 0.05, 0.1


def evaluation_sets(data: Path) -> dict[str, list]:
    """The validation split exactly as ``StructureModel.fit`` draws it, and the two test sets."""
    ss = read_chains(data / "train.jsonl.gz", exclude_ids=CB513_OVERLAP_IDS)
    rsa = read_chains(data / "rsa_train.jsonl.gz")
    ss, rsa = join_rsa(ss, rsa)
    ss_train, ss_val = split_chains(ss, VAL_FRACTION)
    rsa_train, rsa_val = split_chains(rsa, RSA_VAL_FRACTION)
    return {"val": ss_val + rsa_val,
            "casp_fm": read_chains(data / "casp_fm_rsa.jsonl.gz"),
            "cb513": read_chains(data / "cb513.jsonl.gz"),
            "_train": (ss_train, rsa_train)}


def epoch_residues(chains) -> int:
    return int(sum(min(len(c), MAX_LEN) for c in chains))


def score(model, sets: dict) -> dict:
    out = {}
    for name, chains in sets.items():
        if name.startswith("_"):
            continue
        preds = model.predict([(c.id, c.seq) for c in chains])
        full = score_predictions(preds, chains)
        out[name] = {k: full[k] for k in REPORTED if k in full}
    return out


def train_one(data: Path, tasks, weighting: str, *, seed: int, rsa_n, rsa_repeat: int,
              args) -> tuple:
    mcfg = StructureModelConfig(tasks=tuple(tasks), **SMALL)
    joint = "rsa" in tasks and "ss8" in tasks
    monitor = "ss8/accuracy" if "ss8" in tasks else "rsa/pearson"
    tcfg = TrainConfig(epochs=args.epochs, lr=2e-3, warmup_steps=100, weight_decay=0.01,
                       grad_clip=1.0, monitor=monitor, weighting=weighting, seed=seed)
    t0 = time.time()
    dcfg = StructureDataConfig(max_ss_chains=args.ss_chains, rsa_label_chains=rsa_n,
                               rsa_repeat=rsa_repeat, select_best=not joint,
                               batch_tokens=BATCH_TOKENS, max_len=MAX_LEN,
                               val_fraction=VAL_FRACTION, rsa_val_fraction=RSA_VAL_FRACTION)
    model = StructureModel(model=mcfg, training=tcfg, data=dcfg)
    model.fit(data / "train.jsonl.gz", rsa_paths=data / "rsa_train.jsonl.gz")
    info = {"tasks": list(tasks), "weighting": weighting, "seed": seed, "rsa_label_chains": rsa_n,
            "rsa_repeat": rsa_repeat, "n_train_chains": model.metrics_["n_train_chains"],
            "best_epoch": model.metrics_["best_epoch"], "ss3_source": model.config_.ss3_source,
            "train_s": round(time.time() - t0, 1)}
    return model, info


def plan(args) -> list[tuple]:
    """(key, tasks, weighting, seed, rsa level) of every run, cheapest first per seed."""
    runs = []
    for seed in args.seeds:
        runs.append((f"s{seed}/ss_only", ("ss8", "ss3"), "equal", seed, None))
        for level in args.rsa_levels:
            n = None if level == "all" else int(level)
            runs.append((f"s{seed}/rsa{level}/rsa_only", ("rsa",), "equal", seed, n))
            for w in args.weightings:
                runs.append((f"s{seed}/rsa{level}/joint_{w}", ("ss8", "ss3", "rsa"), w, seed, n))
            for w in args.matched:
                runs.append((f"s{seed}/rsa{level}/joint_{w}_matched", ("ss8", "ss3", "rsa"), w,
                             seed, n))
    return runs


def summarise(results: dict, args) -> tuple[dict, str]:
    """Delta_m per joint run, and a Markdown table of means over seeds."""
    rows = {}
    for key, run in results.items():
        seed, *rest = key.split("/")
        if not rest[-1].startswith("joint_"):
            continue
        single_ss, single_rsa = results.get(f"{seed}/ss_only"), \
            results.get(f"{seed}/{rest[0]}/rsa_only")
        if single_ss is None or single_rsa is None:
            continue
        for split in ("val", "test"):
            def pick(r, metric, s=split):
                name = ("cb513" if metric in ("q8", "q3") else "casp_fm") if s == "test" else "val"
                return r["scores"][name][metric]

            single = {m: pick(single_ss if m in ("q8", "q3") else single_rsa, m) for m in PRIMARY}
            joint = {m: pick(run, m) for m in PRIMARY}
            run.setdefault("delta_m_percent", {})[split] = round(
                100 * delta_m(single, joint, PRIMARY), 2)
        rows.setdefault((rest[0], rest[1]), []).append(run)
    lines = ["| RSA labels | model | val Q8 | val Q3 | val RSA r | val RSA MAE | CASP-FM RSA r | "
             "CASP-FM RSA MAE | CB513 Q3 | CB513 Q8 | Δm val % | Δm test % |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def cell(values, pct):
        values = [v for v in values if v is not None]
        if not values:
            return "–"
        scale = 100 if pct else 1
        mean = statistics.fmean(values) * scale
        text = f"{mean:.1f}" if pct else f"{mean:.3f}"
        if len(values) > 1:
            spread = (max(values) - min(values)) * scale / 2
            text += f" ± {spread:.1f}" if pct else f" ± {spread:.3f}"
        return text

    def line(level, label, runs):
        get = lambda s, m: [r["scores"][s].get(m) for r in runs]  # noqa: E731
        dm = [r.get("delta_m_percent") for r in runs]
        dval = [d["val"] / 100 for d in dm if d] or [None]
        dtest = [d["test"] / 100 for d in dm if d] or [None]
        return (f"| {level} | {label} | {cell(get('val', 'q8'), True)} | "
                f"{cell(get('val', 'q3'), True)} | {cell(get('val', 'rsa_pearson'), False)} | "
                f"{cell(get('val', 'rsa_mae'), False)} | "
                f"{cell(get('casp_fm', 'rsa_pearson'), False)} | "
                f"{cell(get('casp_fm', 'rsa_mae'), False)} | {cell(get('cb513', 'q3'), True)} | "
                f"{cell(get('cb513', 'q8'), True)} | {cell(dval, True)} | {cell(dtest, True)} |")

    ss_runs = [r for k, r in results.items() if k.endswith("/ss_only")]
    if ss_runs:
        lines.append(line("–", "SS only (ss8+ss3)", ss_runs))
    for level in args.rsa_levels:
        names = ["rsa_only"] + [f"joint_{w}" for w in args.weightings] + \
            [f"joint_{w}_matched" for w in args.matched]
        for name in names:
            runs = [r for k, r in results.items() if k.split("/")[1:] == [f"rsa{level}", name]]
            if runs:
                label = "RSA only" if name == "rsa_only" else \
                    f"joint, {runs[0]['weighting']}" + (
                        f", RSA ×{runs[0]['rsa_repeat']}" if name.endswith("_matched") else "")
                lines.append(line(runs[0]["n_rsa_chains"], label, runs))
    return results, "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("out_json")
    ap.add_argument("--ss-chains", type=int, default=1500)
    ap.add_argument("--rsa-levels", default="100,all",
                    help="RSA-labelled training chains per level (a number or 'all')")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--weightings", default="equal,uncertainty")
    ap.add_argument("--matched", default="",
                    help="weightings that also get a joint run with RSA-only's RSA repeats")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--markdown", default=None, help="also write the summary table here")
    args = ap.parse_args()
    args.rsa_levels = [x.strip() for x in args.rsa_levels.split(",")]
    args.weightings = [w.strip() for w in args.weightings.split(",")]
    args.matched = [w.strip() for w in args.matched.split(",") if w.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    bad = [w for w in args.weightings + args.matched if w not in WEIGHTINGS]
    if bad:
        ap.error(f"unknown weighting(s) {bad}; choose from {', '.join(WEIGHTINGS)}")
    torch.set_num_threads(args.threads)
    data, out_path = Path(args.data_dir), Path(args.out_json)
    sets = evaluation_sets(data)
    ss_train, rsa_train = sets["_train"]
    ss_used = ss_train[:args.ss_chains]
    rsa_labelled = [c for c in ss_used + rsa_train if c.has_rsa]
    joint_res = epoch_residues(ss_used + rsa_train)
    results = json.loads(out_path.read_text())["runs"] if out_path.exists() else {}
    started = time.time()
    for key, tasks, weighting, seed, n in plan(args):
        if key in results:
            continue
        repeat = 1
        if tasks == ("rsa",) or key.endswith("_matched"):
            chosen = rsa_labelled if n is None else [
                c for c in limit_rsa_labels(rsa_labelled, rsa_labelled, n) if c.has_rsa]
            repeat = max(1, round(joint_res / epoch_residues(chosen)))
        model, info = train_one(data, tasks, weighting, seed=seed, rsa_n=n, rsa_repeat=repeat,
                                args=args)
        info["n_rsa_chains"] = len(rsa_labelled) if n is None else min(n, len(rsa_labelled))
        info["scores"] = score(model, sets)
        info["elapsed_s"] = round(time.time() - started, 1)
        results[key] = info
        print(json.dumps({key: info}), flush=True)
        out_path.write_text(json.dumps({"settings": vars(args), "model": SMALL,
                                        "runs": results}, indent=2, default=list))
    results, table = summarise(results, args)
    out = {"settings": vars(args), "model": SMALL, "runs": results,
           "epoch_residues_joint": joint_res, "n_rsa_labelled_chains": len(rsa_labelled),
           "table": table}
    out_path.write_text(json.dumps(out, indent=2, default=list))
    if args.markdown:
        Path(args.markdown).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
