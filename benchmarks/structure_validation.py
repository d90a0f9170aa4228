"""Score structure models on the training recipe's validation split (model selection only).

Usage::

    python benchmarks/structure_validation.py DATA_DIR MODEL [MODEL ...] [--members A,B,...]

``DATA_DIR`` holds ``train.jsonl.gz`` and ``rsa_train.jsonl.gz``; the split is the one
:meth:`bio_mtl.structure.StructureModel.fit` holds out by default (a hash of the chain id: 5 %
of the NetSurfP-2.0 chains and 10 % of the RSA chains), so no model trained by the recipe has
seen these chains. Each MODEL is a checkpoint folder, an ensemble folder or a shipped name;
``--ensemble A+B+C`` also scores the mean of those models. Prints Q3, Q8, RSA Pearson r and
disorder AUC / MCC per model. CB513 and CASP are test sets and are never used here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def validation_chains(data: Path):
    """The default validation chains of the training recipe, with disorder labels."""
    from bio_mtl.structure.train import StructureDataConfig, training_chains

    _, val = training_chains(("ss8", "ss3", "rsa", "disorder"), StructureDataConfig(),
                             train_files=[data / "train.jsonl.gz"],
                             rsa_files=[data / "rsa_train.jsonl.gz"])
    return val


def score(model, chains) -> dict:
    """Q3 / Q8 / RSA r / disorder AUC and MCC of ``model`` on ``chains``."""
    from bio_mtl.mtl.metrics import auroc, mcc
    from bio_mtl.structure.distill import teacher_predictions

    preds = teacher_predictions(chains, model)
    right3 = right8 = n = 0
    rsa_t, rsa_p, dis_t, dis_p = [], [], [], []
    for chain, pred in zip(chains, preds, strict=True):
        ok = chain.ss8 >= 0
        n += int(ok.sum())
        right8 += int((pred["ss8"].argmax(-1)[ok] == chain.ss8[ok]).sum())
        right3 += int((pred["ss3"].argmax(-1)[ok] == chain.ss3[ok]).sum())
        known = np.isfinite(chain.rsa)
        rsa_t.append(chain.rsa[known])
        rsa_p.append(pred["rsa"][known])
        if "disorder" in pred and chain.disorder is not None:
            dis_t.append(chain.disorder)
            dis_p.append(pred["disorder"][:, 1])
    out = {"q3": right3 / n, "q8": right8 / n,
           "rsa_r": float(np.corrcoef(np.concatenate(rsa_t), np.concatenate(rsa_p))[0, 1])}
    if dis_t:
        y, p = np.concatenate(dis_t), np.concatenate(dis_p)
        out["disorder_auc"], out["disorder_mcc"] = auroc(y, p), mcc(y, (p > 0.5).astype(int))
    return out


def main() -> None:
    from bio_mtl.structure.estimator import StructureEnsembleModel
    from bio_mtl.structure.pretrained import load_model

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data_dir")
    ap.add_argument("models", nargs="*")
    ap.add_argument("--ensemble", action="append", default=[],
                    help="models joined by '+', scored as their mean")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    chains = validation_chains(Path(args.data_dir))
    print(f"{len(chains)} validation chains", flush=True)
    for name in args.models:
        print(name, json.dumps(score(load_model(name), chains)), flush=True)
    for spec in args.ensemble:
        members = []
        for part in spec.split("+"):
            model = load_model(part)
            members.extend(model.members_ if isinstance(model, StructureEnsembleModel)
                           else [model])
        print(spec, json.dumps(score(StructureEnsembleModel.from_members(members), chains)),
              flush=True)


if __name__ == "__main__":
    main()
