"""Train a shipped structure model (teacher or student) from the NetSurfP-2.0 + RSA data.

Usage::

    python benchmarks/train_default_structure.py DATA_DIR OUT_DIR [--arch cnnbilstm]
        [--budget-min 55] [--threads 2] [--device cpu|cuda] [--tasks ss8,ss3,rsa,disorder]
        [--teacher DIR] [--distill-alpha 0.3] [--epochs N | --epochs auto]

``DATA_DIR`` holds ``train.jsonl.gz`` and ``rsa_train.jsonl.gz``. Resumable: trainer state is kept
in ``OUT_DIR/state`` and a re-run continues; the final checkpoint is written to ``OUT_DIR/model``.
``--epochs auto`` times a few training steps first and picks the number of epochs that fits
``--budget-min``, so the cosine schedule completes inside the budget (the GPU recipe,
``benchmarks/structure_distill_recipe.py``, uses it). The same command trains on CPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.model import StructureModelConfig
from bio_mtl.structure.train import StructureDataConfig

_DILATED = (1, 2, 4, 8, 16)

#: Architectures of the shipped models and of the distillation recipe, by name.
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
    # teachers (GPU-sized, about 3-4 M parameters each)
    "teacher_cnnbilstm": StructureModelConfig(embed_dim=64, conv_channels=256, conv_layers=5,
                                              kernel_size=5, dilations=(1, 2, 4, 8, 1),
                                              lstm_hidden=224, lstm_layers=2, dropout=0.3),
    "teacher_bilstm3": StructureModelConfig(embed_dim=64, conv_channels=192, conv_layers=4,
                                            kernel_size=5, dilations=(1, 2, 4, 1),
                                            lstm_hidden=192, lstm_layers=3, dropout=0.3),
    "teacher_cnntransformer": StructureModelConfig(
        embed_dim=64, conv_channels=256, conv_layers=4, kernel_size=5, dilations=(1, 2, 4, 1),
        lstm_layers=0, transformer_layers=4, transformer_dim=256, attention_heads=8,
        transformer_ff_dim=768, dropout=0.2),
    # students: convolutions only, so they run in parallel on CPU (no sequential recurrence)
    "student_cnn128x10": StructureModelConfig(embed_dim=64, conv_channels=128, conv_layers=10,
                                              kernel_size=5, dilations=_DILATED,
                                              lstm_layers=0, dropout=0.15),
    "student_cnn96x10": StructureModelConfig(embed_dim=48, conv_channels=96, conv_layers=10,
                                             kernel_size=5, dilations=_DILATED,
                                             lstm_layers=0, dropout=0.15),
    "student_cnn128x6": StructureModelConfig(embed_dim=64, conv_channels=128, conv_layers=6,
                                             kernel_size=5, dilations=(1, 2, 4, 8, 16, 1),
                                             lstm_layers=0, dropout=0.15),
}


def probe_epochs(mcfg: StructureModelConfig, *, budget_s: float, data: Path, device: str,
                 batch_tokens: int, max_ss_chains: int | None, steps: int = 12) -> int:
    """Epochs that fit ``budget_s``, from the time of ``steps`` training steps on real batches."""
    from bio_mtl.mtl.tasks import compute_loss
    from bio_mtl.structure.data import TokenBatches, read_chains
    from bio_mtl.structure.model import build_structure_model, structure_tasks

    chains = read_chains(data / "train.jsonl.gz", use_disorder=True)[:max_ss_chains]
    batches = TokenBatches(chains, batch_tokens=batch_tokens, tasks=mcfg.tasks, shuffle=True,
                           max_len=512)
    model = build_structure_model(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tasks = {t.name: t for t in structure_tasks(mcfg.tasks)}
    times = []
    for i, batch in enumerate(batches):
        if i == steps:
            break
        start = time.perf_counter()
        out = model(batch["inputs"].to(device), mask=batch["forward_kwargs"]["mask"].to(device))
        loss = sum(compute_loss(tasks[t], out[t], y.to(device))
                   for t, y in batch["targets"].items())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    timed = sorted(times[2:] or times)  # after warm-up, when there are enough batches
    per_step = timed[len(timed) // 2]
    epoch_s = per_step * len(batches) * 1.15 + 3  # + validation and data overhead
    return max(2, int(budget_s / epoch_s))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--budget-min", type=float, default=55.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", default="22", help="a number, or 'auto' (fit the budget)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", choices=sorted(ARCHITECTURES), default="cnnbilstm")
    ap.add_argument("--tasks", default="ss8,ss3,rsa", help="comma-separated heads")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--batch-tokens", type=int, default=8192)
    ap.add_argument("--ss-fraction", type=float, default=1.0)
    ap.add_argument("--max-ss-chains", type=int, default=None, help="small runs (testing)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--teacher", default=None, help="distil from this model or ensemble")
    ap.add_argument("--distill-alpha", type=float, default=0.3)
    ap.add_argument("--init-from", default=None,
                    help="warm start from this checkpoint or shipped model (its architecture)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    data, out = Path(args.data_dir), Path(args.out_dir)
    mcfg = ARCHITECTURES[args.arch]
    mcfg = StructureModelConfig(**{**mcfg.to_dict(), "tasks": tuple(args.tasks.split(",")),
                                   "dilations": mcfg.dilations})
    epochs = probe_epochs(mcfg, budget_s=args.budget_min * 60, data=data, device=args.device,
                          batch_tokens=args.batch_tokens, max_ss_chains=args.max_ss_chains) \
        if args.epochs == "auto" else int(args.epochs)
    tcfg = TrainConfig(epochs=epochs, lr=args.lr, weight_decay=0.01, warmup_steps=200,
                       grad_clip=1.0, monitor="ss8/accuracy", seed=args.seed,
                       time_budget_s=args.budget_min * 60 * 1.1, device=args.device)
    dcfg = StructureDataConfig(batch_tokens=args.batch_tokens, max_len=512,
                               ss_fraction=args.ss_fraction, rsa_repeat=2,
                               max_ss_chains=args.max_ss_chains)
    model = StructureModel(model=None if args.init_from else mcfg, training=tcfg, data=dcfg,
                           init_from=args.init_from, teacher=args.teacher,
                           distill_alpha=args.distill_alpha)
    t0 = time.time()
    model.fit(data / "train.jsonl.gz", rsa_paths=data / "rsa_train.jsonl.gz",
              checkpoint_dir=out / "state", log_path=out / "train_log.jsonl")
    model.save(out / "model")
    print(json.dumps({"arch": args.arch, "epochs": epochs, "wall_s": round(time.time() - t0, 1),
                      "metrics": model.metrics_}, indent=2, default=float), flush=True)


if __name__ == "__main__":
    main()
