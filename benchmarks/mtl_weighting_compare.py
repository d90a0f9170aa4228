"""Compare every loss-weighting strategy on one seeded synthetic 3-task problem.

Usage::

    python benchmarks/mtl_weighting_compare.py [--epochs 15] [--seeds 0,1,2] [--threads 1]
        [--strategies equal,dwa]

The problem is built to stress loss weighting: ``cls`` (3-class classification), ``reg``
(regression whose targets are multiplied by 10, so its MSE is ~100x the others' losses) and
``sparse`` (binary classification with 90 % of labels missing). Same data, model, optimizer,
epochs and seeds for every strategy; only ``TrainConfig.weighting`` differs. Prints a markdown
table of the test-split primary metrics (mean over seeds) and the mean wall time per step.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from bio_mtl.mtl import MultiTaskModel, TaskSpec
from bio_mtl.mtl.synthetic import TabularBatches, make_synthetic, split_indices
from bio_mtl.mtl.trainer import TrainConfig, Trainer
from bio_mtl.mtl.weighting import WEIGHTINGS

TASKS = [TaskSpec("cls", "classification", 3), TaskSpec("reg", "regression"),
         TaskSpec("sparse", "classification", 2)]


def data(seed: int):
    d = make_synthetic(TASKS, n_samples=2000, relatedness=0.7, noise=0.3, seed=seed)
    d.targets["reg"] = d.targets["reg"] * 10.0
    drop = np.random.default_rng(seed).random(len(d)) < 0.9
    d.targets["sparse"] = np.where(drop, -100, d.targets["sparse"])
    return d, split_indices(len(d), val_fraction=0.0, test_fraction=0.25, seed=seed)


def model(seed: int) -> MultiTaskModel:
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
    heads = {"cls": nn.Linear(64, 3), "reg": nn.Sequential(nn.Linear(64, 1), nn.Flatten(0)),
             "sparse": nn.Linear(64, 2)}
    return MultiTaskModel(enc, heads)


def run(name: str, seed: int, epochs: int) -> dict:
    d, split = data(seed)
    train = TabularBatches(d, split["train"], batch_size=64, shuffle=True, seed=seed)
    test = TabularBatches(d, split["test"], batch_size=256)
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, seed=seed, weighting=name)
    start = time.perf_counter()
    trainer = Trainer(model(seed), TASKS, cfg).fit(train)
    per_step = (time.perf_counter() - start) / trainer.history_[-1]["step"]
    ev = trainer.evaluate(test)
    return {"cls": ev["cls"]["accuracy"], "reg": ev["reg"]["pearson"],
            "sparse": ev["sparse"]["accuracy"], "ms": 1000 * per_step}


def step_times(rounds: int = 5, steps: int = 20) -> dict[str, float]:
    """Min over interleaved rounds of the mean wall time (ms) of one training step."""
    from bio_mtl.mtl.tasks import compute_loss
    from bio_mtl.mtl.weighting import get_weighting

    d, split = data(0)
    batch = next(iter(TabularBatches(d, split["train"], batch_size=64)))
    best = {name: float("inf") for name in WEIGHTINGS}
    for _ in range(rounds):
        for name in WEIGHTINGS:
            net = model(0)
            strategy = get_weighting(name, [t.name for t in TASKS])
            opt = torch.optim.AdamW([*net.parameters(), *strategy.parameters()], lr=1e-3)
            start = time.perf_counter()
            for i in range(steps):
                opt.zero_grad(set_to_none=True)
                out = net(batch["inputs"])
                losses = {t.name: compute_loss(t, out[t.name], batch["targets"][t.name])
                          for t in TASKS}
                strategy.backward(losses, shared_params=net.shared_parameters(), step=i,
                                  counts={"cls": 64, "reg": 64, "sparse": 6})
                opt.step()
            best[name] = min(best[name], 1000 * (time.perf_counter() - start) / steps)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timing", action="store_true", help="only time one step per strategy")
    ap.add_argument("--strategies", default=",".join(WEIGHTINGS), help="comma-separated keys")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.timing:
        print("| strategy | ms / step (min of 5 rounds of 20 steps) |\n| --- | --- |")
        for name, ms in step_times().items():
            print(f"| {name} | {ms:.2f} |")
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    run("equal", seeds[0], 1)  # warm-up: imports and first-call costs out of the timings
    print("| strategy | cls accuracy | reg Pearson r | sparse accuracy | ms / step (fit) |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.strategies.split(","):
        rows = [run(name, s, args.epochs) for s in seeds]
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        sd = {k: float(np.std([r[k] for r in rows])) for k in rows[0]}
        print(f"| {name} | {mean['cls']:.3f} ± {sd['cls']:.3f} | {mean['reg']:.3f} ± "
              f"{sd['reg']:.3f} | {mean['sparse']:.3f} ± {sd['sparse']:.3f} | "
              f"{mean['ms']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
