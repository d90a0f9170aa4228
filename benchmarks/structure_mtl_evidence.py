"""Does multi-task training help? SS-only, RSA-only and joint structure models on one budget.

Usage::

    python benchmarks/structure_mtl_evidence.py DATA_DIR OUT_JSON [--ss-chains 1500]
        [--epochs 8] [--weightings equal,uncertainty] [--threads 2] [--seed 0]

All runs share the data (the first ``--ss-chains`` NetSurfP-2.0 training chains of the hash
split plus all RSA training chains), the validation split, the architecture (a small residual
dilated CNN), the epochs and the seed; only the tasks and the loss weighting differ. Reports
per-task validation metrics and Delta_m (Maninis et al. 2019, CVPR; Vandenhende et al. 2021,
IEEE TPAMI 44:3614): the mean relative change of every metric against the single-task model,
signed so that positive is better.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.mtl.weighting import WEIGHTINGS
from bio_mtl.structure.model import StructureModelConfig
from bio_mtl.structure.train import train_structure

SMALL = dict(embed_dim=32, conv_channels=64, conv_layers=6, kernel_size=5,
             dilations=(1, 2, 4, 8, 1, 2), lstm_layers=0, dropout=0.2)
#: (metric path, lower is better)
METRICS = {"q8": (("ss8", "accuracy"), False), "q3": (("ss3", "accuracy"), False),
           "rsa_pearson": (("rsa", "pearson"), False), "rsa_mae": (("rsa", "mae"), True)}


def run(data: Path, tasks, weighting, args) -> dict:
    mcfg = StructureModelConfig(tasks=tuple(tasks), **SMALL)
    monitor = "ss8/accuracy" if "ss8" in tasks else "rsa/pearson"
    tcfg = TrainConfig(epochs=args.epochs, lr=2e-3, warmup_steps=50, monitor=monitor,
                       weighting=weighting, seed=args.seed)
    t0 = time.time()
    res = train_structure(data / "train.jsonl.gz", rsa_paths=data / "rsa_train.jsonl.gz",
                          model_config=mcfg, train_config=tcfg, max_ss_chains=args.ss_chains,
                          batch_tokens=8192, max_len=512)
    flat = {}
    for name, ((task, metric), _) in METRICS.items():
        if task in res.metrics:
            flat[name] = res.metrics[task][metric]
    return {"tasks": list(tasks), "weighting": weighting, "metrics": flat,
            "n_train_chains": res.metrics["n_train_chains"],
            "best_epoch": res.metrics["best_epoch"],
            "wall_s": round(time.time() - t0, 1)}


def delta_m(mtl: dict, single: dict) -> float:
    """Mean signed relative change (%) of the metrics both runs have."""
    parts = []
    for name, (_, lower) in METRICS.items():
        if name in mtl and name in single:
            rel = (mtl[name] - single[name]) / abs(single[name])
            parts.append(-rel if lower else rel)
    return 100 * sum(parts) / len(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("out_json")
    ap.add_argument("--ss-chains", type=int, default=1500)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--weightings", default="equal,uncertainty")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data_dir)
    runs = {"ss_only": run(data, ("ss8", "ss3"), "equal", args),
            "rsa_only": run(data, ("rsa",), "equal", args)}
    single = {**runs["ss_only"]["metrics"], **runs["rsa_only"]["metrics"]}
    for w in args.weightings.split(","):
        if w not in WEIGHTINGS:
            runs[f"joint_{w}"] = {"skipped": f"weighting {w!r} not in the registry"}
            continue
        r = run(data, ("ss8", "ss3", "rsa"), w, args)
        r["delta_m_percent"] = round(delta_m(r["metrics"], single), 2)
        runs[f"joint_{w}"] = r
    out = {"settings": vars(args), "model": SMALL, "runs": runs}
    Path(args.out_json).write_text(json.dumps(out, indent=2, default=list))
    print(json.dumps(out, indent=2, default=list))


if __name__ == "__main__":
    main()
