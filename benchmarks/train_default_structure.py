"""Train the shipped default structure model (CPU-sized) from the NetSurfP-2.0 + RSA data.

Usage::

    python benchmarks/train_default_structure.py DATA_DIR OUT_DIR [--budget-min 55] [--threads 2]

``DATA_DIR`` holds ``train.jsonl.gz`` and ``rsa_train.jsonl.gz``. Resumable: trainer state is kept
in ``OUT_DIR/state`` and a re-run continues; the final checkpoint is written to ``OUT_DIR/model``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.structure.model import StructureModelConfig
from bio_mtl.structure.train import train_structure

#: Architectures of the shipped models, by name.
ARCHITECTURES = {
    # ss_rsa_resdcnn_nsp2_v1: residual dilated CNN only
    "resdcnn": StructureModelConfig(embed_dim=64, conv_channels=128, conv_layers=12,
                                    kernel_size=5, dilations=(1, 2, 4, 8, 16, 1),
                                    lstm_layers=0, dropout=0.2),
    # dilated CNN front end + 2-layer BiLSTM (NetSurfP-2.0 family); trains as fast as the CNN
    # on CPU with PaddedBiLSTM (9,912 vs 9,671 residues/s on 2 idle threads)
    "cnnbilstm": StructureModelConfig(embed_dim=64, conv_channels=128, conv_layers=5,
                                      kernel_size=5, dilations=(1, 2, 4, 8, 1), lstm_hidden=128,
                                      lstm_layers=2, dropout=0.25),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--budget-min", type=float, default=55.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=22)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", choices=sorted(ARCHITECTURES), default="cnnbilstm")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--ss-fraction", type=float, default=1.0)
    ap.add_argument("--init-from", default=None,
                    help="warm start from this checkpoint or shipped model (its architecture)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data, out = Path(args.data_dir), Path(args.out_dir)
    tcfg = TrainConfig(epochs=args.epochs, lr=args.lr, weight_decay=0.01, warmup_steps=200,
                       grad_clip=1.0, monitor="ss8/accuracy", seed=args.seed,
                       time_budget_s=args.budget_min * 60)
    t0 = time.time()
    result = train_structure(data / "train.jsonl.gz", rsa_paths=data / "rsa_train.jsonl.gz",
                             model_config=None if args.init_from else ARCHITECTURES[args.arch],
                             init_from=args.init_from, train_config=tcfg, batch_tokens=8192,
                             max_len=512, ss_fraction=args.ss_fraction, rsa_repeat=2, out_dir=out / "model",
                             checkpoint_dir=out / "state", log_path=out / "train_log.jsonl")
    print(json.dumps({"wall_s": round(time.time() - t0, 1), "metrics": result.metrics},
                     indent=2, default=float), flush=True)


if __name__ == "__main__":
    main()
