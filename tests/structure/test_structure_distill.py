"""Disorder labels, soft targets and knowledge distillation of structure models."""

import io
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, matthews_corrcoef

from bio_mtl.mtl.tasks import TaskSpec, compute_loss, compute_metrics, valid_mask
from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.structure.alphabet import encode_sequence
from bio_mtl.structure.data import Chain, collate, read_chains
from bio_mtl.structure.distill import add_soft_targets
from bio_mtl.structure.estimator import StructureEnsembleModel, StructureModel
from bio_mtl.structure.model import StructureModelConfig, build_structure_model
from bio_mtl.structure.train import StructureDataConfig

from .test_structure_train import toy_records, write_jsonl

TINY = StructureModelConfig(tasks=("ss8", "ss3", "rsa", "disorder"), embed_dim=8,
                            conv_channels=8, conv_layers=1, lstm_layers=0, dropout=0.0)


def _line(mask):
    n = len(mask)
    return json.dumps({"id": "c", "seq": "A" * n, "ss8": "H" * n, "rsa": [0.5] * n,
                       "mask": mask})


def test_disorder_labels_come_from_the_mask_only_when_asked():
    (chain,) = read_chains(io.StringIO(_line("0110")), use_disorder=True)
    assert chain.disorder.tolist() == [1, 0, 0, 1]
    (plain,) = read_chains(io.StringIO(_line("0110")))
    assert plain.disorder is None and not plain.has_disorder


def test_soft_cross_entropy_equals_the_blend_of_hard_losses():
    task = TaskSpec("y", "classification", 3)
    logits = torch.tensor([[1.0, 0.5, -1.0], [0.0, 2.0, 1.0]])
    soft = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    got = float(compute_loss(task, logits, soft))
    probs = logits.softmax(-1).numpy()
    # cross-entropy with a soft target = sum over classes of target-weighted log-losses
    want = np.mean([-(soft[i].numpy() * np.log(probs[i])).sum() for i in range(2)])
    assert got == pytest.approx(want, rel=1e-6)
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert float(compute_loss(task, logits, one_hot)) == pytest.approx(
        log_loss([0, 2], probs, labels=[0, 1, 2]), rel=1e-6)


def test_soft_targets_with_nan_rows_are_missing():
    task = TaskSpec("y", "token_classification", 2)
    target = torch.tensor([[[0.2, 0.8], [float("nan"), float("nan")]]])
    assert valid_mask(task, target).tolist() == [[True, False]]
    logits = torch.tensor([[[0.0, 1.0], [5.0, -5.0]]])
    only_first = compute_loss(task, logits[:, :1], target[:, :1])
    assert float(compute_loss(task, logits, target)) == pytest.approx(float(only_first))


def test_mcc_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = rng.normal(size=(200, 2)) + np.eye(2)[y] * 0.8
    task = TaskSpec("d", "token_classification", 2, metrics=("mcc",))
    got = compute_metrics(task, scores, y)["mcc"]
    assert got == pytest.approx(matthews_corrcoef(y, scores.argmax(1)), abs=1e-12)


def _chain(seq, ss8, rsa, disorder=None):
    return Chain("x", seq, encode_sequence(seq), np.array(ss8), np.array(rsa, np.float32),
                 None if disorder is None else np.array(disorder))


def test_add_soft_targets_blends_labels_and_teacher():
    torch.manual_seed(0)
    teacher = StructureModel.from_network(build_structure_model(TINY), TINY)
    chain = _chain("ACDE", [1, 4, -100, 7], [0.2, np.nan, np.nan, np.nan], [0, 0, 1, 0])
    (soft,) = add_soft_targets([chain], teacher, alpha=0.25)
    with torch.inference_mode():
        out = teacher.module_(torch.from_numpy(chain.tokens)[None])
    p8 = out["ss8"].softmax(-1)[0].numpy()
    np.testing.assert_allclose(soft.soft["ss8"][0], 0.75 * p8[0] + 0.25 * np.eye(8)[1],
                               rtol=1e-5)
    assert np.isnan(soft.soft["ss8"][2]).all()  # no SS label on a disordered residue
    rsa = out["rsa"][0].numpy()
    assert soft.soft["rsa"][0] == pytest.approx(0.25 * 0.2 + 0.75 * rsa[0], rel=1e-5)
    assert soft.soft["rsa"][1] == pytest.approx(rsa[1], rel=1e-5)  # observed, no label
    assert np.isnan(soft.soft["rsa"][2])  # disordered: no RSA target
    pd_ = out["disorder"].softmax(-1)[0].numpy()
    np.testing.assert_allclose(soft.soft["disorder"][2], 0.75 * pd_[2] + 0.25 * np.eye(2)[1],
                               rtol=1e-5)
    batch = collate([soft], TINY.tasks)
    assert batch["targets"]["ss8"].shape == (1, 4, 8)
    assert batch["targets"]["disorder"].dtype == torch.float32
    assert add_soft_targets([chain], teacher, alpha=1.0)[0].soft["ss8"][0].tolist() == \
        np.eye(8, dtype=np.float32)[1].tolist()


def test_ensemble_averages_each_task_over_the_members_that_have_it():
    torch.manual_seed(1)
    plain = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, lstm_layers=0)
    a = build_structure_model(TINY)
    b = build_structure_model(plain)
    tokens = torch.from_numpy(encode_sequence("ACDEFG"))[None]
    members = [StructureModel.from_network(a, TINY), StructureModel.from_network(b, plain)]
    with torch.inference_mode():
        ens = StructureEnsembleModel.from_members(members).module_(tokens)
        oa, ob = a(tokens), b(tokens)
    assert set(ens) == {"ss8", "ss3", "rsa", "disorder"}
    torch.testing.assert_close(ens["disorder"].exp(), oa["disorder"].softmax(-1))
    torch.testing.assert_close(ens["rsa"], (oa["rsa"] + ob["rsa"]) / 2)


def test_train_structure_with_disorder_and_a_teacher(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl.gz",
                        toy_records(40, 0, with_rsa=True, prefix="tr"))
    common = dict(model=TINY, training=TrainConfig(epochs=2, lr=5e-3, seed=0),
                  data=StructureDataConfig(batch_tokens=512, val_fraction=0.2))
    StructureModel(**common).fit(train).save(tmp_path / "teacher")
    student = StructureModel(**common, teacher=str(tmp_path / "teacher"), distill_alpha=0.5)
    student.fit(train).save(tmp_path / "student")
    assert {"auroc", "mcc"} <= set(student.metrics_["disorder"])
    # the toy masks mark residue 0 of every chain disordered: learnable from position
    saved = json.loads((tmp_path / "student" / "config.json").read_text())
    assert saved["config"]["params"]["distill_alpha"] == 0.5
    assert saved["config"]["params"]["teacher"] == str(tmp_path / "teacher")
    assert saved["config"]["model"]["tasks"] == ["ss8", "ss3", "rsa", "disorder"]
    # the teacher's soft targets did change training: same seed without a teacher differs
    plain = StructureModel(**common).fit(train)
    assert not torch.equal(plain.module_.heads["ss8"].net[-1].weight,
                           student.module_.heads["ss8"].net[-1].weight)
