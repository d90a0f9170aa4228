"""Tiny structure estimators for the common estimator checks (tests/test_estimators.py)."""

from __future__ import annotations

import atexit
import functools
import gzip
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bio_mtl.mtl.estimator import Estimator
from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.structure.estimator import StructureEnsembleModel, StructureModel
from bio_mtl.structure.model import StructureModelConfig
from bio_mtl.structure.train import StructureDataConfig

KINDS = ("structure", "structure-ensemble")

PROBE = [("a", "MKTAYIAKQRQISFVKSHFSRQ"), ("b", "GSHMLEDPV")]


@functools.cache
def _data() -> tuple[str, str]:
    """Two small JSON-lines files (SS-labelled and RSA-labelled chains), written once."""
    folder = Path(tempfile.mkdtemp(prefix="bio_mtl_structure_factory_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    rng = np.random.default_rng(0)
    paths = []
    for name, with_rsa in (("train", False), ("rsa", True)):
        with gzip.open(folder / f"{name}.jsonl.gz", "wt") as handle:
            for i in range(12):
                seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(15, 35))))
                rsa = [0.8 if a in "KDE" else 0.1 for a in seq] if with_rsa else None
                handle.write(json.dumps({"id": f"{name}{i}", "seq": seq, "rsa": rsa,
                                         "ss8": "".join("H" if a in "AELMQKR" else "E"
                                                        for a in seq),
                                         "mask": "1" * len(seq)}) + "\n")
        paths.append(str(folder / f"{name}.jsonl.gz"))
    return paths[0], paths[1]


def make(kind: str, seed: int) -> tuple[Estimator, dict, Callable]:
    """An unfitted tiny structure model (or two-member ensemble), its fit data and a predictor."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; this factory makes {KINDS}")
    params = {"model": StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1,
                                            kernel_size=3, dilations=(1,), lstm_layers=0),
              "training": TrainConfig(epochs=2, lr=1e-2, seed=seed, monitor="ss8/accuracy"),
              "data": StructureDataConfig(batch_tokens=256, val_fraction=0.2,
                                          rsa_val_fraction=0.2)}
    est = StructureModel(**params) if kind == "structure" else \
        StructureEnsembleModel(**params, seeds=(seed, seed + 1))
    train, rsa = _data()

    def predict(fitted: StructureModel | StructureEnsembleModel) -> dict:
        preds = fitted.predict(PROBE)
        return {"ss8": np.concatenate([p.ss8_probs for p in preds]),
                "ss3": np.concatenate([p.ss3_probs for p in preds]),
                "rsa": np.concatenate([p.rsa for p in preds])}

    return est, {"train_paths": train, "rsa_paths": rsa}, predict
