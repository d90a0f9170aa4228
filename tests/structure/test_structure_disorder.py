"""The disorder task: the head learns a toy rule, its metrics, the shipped models predict it."""

import gzip
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.structure import StructureModelConfig, load_model
from bio_mtl.structure.alphabet import encode_sequence
from bio_mtl.structure.data import read_chains
from bio_mtl.structure.distill import teacher_predictions
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.pretrained import FAST_MODEL
from bio_mtl.structure.train import StructureDataConfig

DISORDERED = set("PGS")  # the toy rule: these residues are unobserved (mask 0)


def _records(n, seed, prefix):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(25, 60))))
        out.append({"id": f"{prefix}{i:03d}", "seq": seq,
                    "ss8": "".join("H" if a in "AELMQKR" else "E" for a in seq),
                    "rsa": [None] * len(seq),
                    "mask": "".join("0" if a in DISORDERED else "1" for a in seq)})
    return out


def _write(path, records):
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("disorder")
    train = _write(tmp / "train.jsonl.gz", _records(80, 1, "t"))
    cfg = StructureModelConfig(tasks=("ss8", "ss3", "disorder"), embed_dim=8, conv_channels=16,
                               conv_layers=1, kernel_size=3, dilations=(1,), lstm_layers=0,
                               dropout=0.0)
    model = StructureModel(model=cfg, training=TrainConfig(epochs=6, lr=0.02, seed=0),
                           data=StructureDataConfig(batch_tokens=1200, val_fraction=0.25))
    model.fit(train)
    val = [c for c in read_chains(train, use_disorder=True) if c.id in _val_ids(train)]
    return model, val


def _val_ids(path):
    """Ids the recipe's hash split holds out (val_fraction 0.25)."""
    from bio_mtl.structure.data import split_chains

    _, val = split_chains(read_chains(path, use_disorder=True), 0.25)
    return {c.id for c in val}


def test_disorder_head_learns_the_toy_rule(toy):
    model, val = toy
    preds = teacher_predictions(val, model)
    for chain, pred in zip(val, preds, strict=True):
        assert pred["disorder"].shape == (len(chain), 2)
        np.testing.assert_allclose(pred["disorder"].sum(-1), 1.0, rtol=1e-5)
    y = np.concatenate([c.disorder for c in val])
    p = np.concatenate([pr["disorder"][:, 1] for pr in preds])
    assert set(np.unique(y)) == {0, 1}
    assert y.tolist() == [int(a in DISORDERED) for c in val for a in c.seq]
    assert roc_auc_score(y, p) > 0.95  # a per-residue rule a 3-wide convolution can read


def test_validation_metrics_of_disorder_equal_sklearn(toy):
    """The trainer's disorder AUC / MCC (recorded in metrics_) are sklearn's on the same
    residues: AUC of p(disordered), MCC of the argmax."""
    model, val = toy
    preds = teacher_predictions(val, model)
    y = np.concatenate([c.disorder for c in val])
    p = np.concatenate([pr["disorder"] for pr in preds])
    assert model.metrics_["disorder"]["auroc"] == pytest.approx(roc_auc_score(y, p[:, 1]),
                                                                abs=1e-9)
    assert model.metrics_["disorder"]["mcc"] == pytest.approx(
        matthews_corrcoef(y, p.argmax(1)), abs=1e-9)


def test_fast_shipped_model_predicts_disorder():
    """A His-tag and thrombin site before ubiquitin: the tag is disordered, the fold is not
    (measured 2026-12-04: p >= 0.55 on the 20 tag residues, <= 0.04 inside the fold)."""
    model = load_model(FAST_MODEL)
    assert "disorder" in model.config_.tasks
    seq = "MGSSHHHHHHSSGLVPRGSH" + \
        "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
    with torch.inference_mode():
        out = model.module_(torch.from_numpy(encode_sequence(seq))[None])
    p = out["disorder"].softmax(-1)[0, :, 1].numpy()
    assert p[:20].min() > 0.5
    assert p[25:90].max() < 0.2
