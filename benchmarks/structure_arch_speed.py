"""Training and inference throughput of candidate structure encoders on the CPU.

Usage::

    python benchmarks/structure_arch_speed.py DATA_DIR/train.jsonl.gz [--threads 2] [--only 4,6,7]

For each candidate: 6 training steps (forward, backward, AdamW) and 6 inference batches of
8,192-token, length-bucketed batches drawn from the first 400 chains (cropped to 512).
"""

from __future__ import annotations

import argparse
import time

import torch

from bio_mtl.mtl.tasks import compute_loss
from bio_mtl.structure.data import TokenBatches, read_chains
from bio_mtl.structure.model import TASKS, StructureModelConfig, build_structure_model

CANDIDATES = [
    dict(lstm_layers=2, lstm_hidden=128),
    dict(lstm_layers=1, lstm_hidden=128, conv_layers=3),
    dict(lstm_layers=1, lstm_hidden=64, conv_layers=6, dilations=(1, 2, 4, 8)),
    dict(lstm_layers=0, conv_layers=8, dilations=(1, 2, 4, 8)),
    dict(lstm_layers=0, conv_layers=12, kernel_size=5, dilations=(1, 2, 4, 8, 16, 1)),
    dict(lstm_layers=0, conv_layers=10, conv_channels=160, kernel_size=5,
         dilations=(1, 2, 4, 8, 16)),
    # convolutional front end + Transformer (relative positions)
    dict(lstm_layers=0, conv_layers=3, transformer_layers=2, attention_heads=4, position="rope"),
    dict(lstm_layers=0, conv_layers=3, transformer_layers=2, attention_heads=4, position="alibi"),
    dict(lstm_layers=0, conv_layers=6, kernel_size=5, dilations=(1, 2, 4, 8), transformer_layers=2,
         attention_heads=4, transformer_ff_dim=256),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=None, help="comma-separated candidate indices (0-based)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    chains = read_chains(args.train)[:400]
    chosen = range(len(CANDIDATES)) if args.only is None else \
        [int(i) for i in args.only.split(",")]
    for kw in (CANDIDATES[i] for i in chosen):
        torch.manual_seed(0)
        model = build_structure_model(StructureModelConfig(**kw))
        n_par = sum(p.numel() for p in model.parameters())
        batches = TokenBatches(chains, batch_tokens=8192, shuffle=True, max_len=512)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        t0, n_tok = time.perf_counter(), 0
        for i, b in enumerate(batches):
            out = model(b["inputs"], **b["forward_kwargs"])
            loss = sum(compute_loss(TASKS[k], out[k], b["targets"][k]) for k in out)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n_tok += int(b["forward_kwargs"]["mask"].sum())
            if i == 5:
                break
        train_rate = n_tok / (time.perf_counter() - t0)
        model.eval()
        t0, n_tok = time.perf_counter(), 0
        with torch.inference_mode():
            for i, b in enumerate(batches):
                model(b["inputs"], **b["forward_kwargs"])
                n_tok += int(b["forward_kwargs"]["mask"].sum())
                if i == 5:
                    break
        infer_rate = n_tok / (time.perf_counter() - t0)
        print(f"{kw}\tparams={n_par}\ttrain_res_per_s={train_rate:.0f}\t"
              f"infer_res_per_s={infer_rate:.0f}", flush=True)


if __name__ == "__main__":
    main()
