"""Hand-computed checks of task losses and metrics, gradient reversal and checkpoints."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from bio_mtl.errors import CheckpointError, ConfigError
from bio_mtl.mtl import (
    GradientReversal,
    MultiTaskModel,
    TaskSpec,
    compute_loss,
    compute_metrics,
    load_weights,
    read_config,
    save_checkpoint,
)


def test_token_cross_entropy_ignores_masked_and_missing_positions():
    task = TaskSpec("ss3", "token_classification", n_outputs=3)
    logits = torch.zeros(1, 4, 3)
    logits[0, 0] = torch.tensor([math.log(2.0), 0.0, 0.0])  # p(class 0) = 2/4 = 0.5
    target = torch.tensor([[0, 1, -100, 2]])
    mask = torch.tensor([[True, True, True, False]])
    # valid: positions 0 (p=0.5) and 1 (p=1/3); position 2 is missing, 3 is masked
    expected = -(math.log(0.5) + math.log(1 / 3)) / 2
    assert float(compute_loss(task, logits, target, mask)) == pytest.approx(expected)


def test_regression_loss_skips_nan_and_all_missing_gives_zero_with_graph():
    task = TaskSpec("rsa", "token_regression")
    pred = torch.tensor([[0.2, 0.5, 0.9]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan"), 1.0]])
    assert float(compute_loss(task, pred, target)) == pytest.approx((0.04 + 0.01) / 2)
    empty = compute_loss(task, pred, torch.full((1, 3), float("nan")))
    empty.backward()
    assert float(empty) == 0.0
    assert pred.grad is not None and float(pred.grad.abs().sum()) == 0.0


def test_metrics_by_hand():
    clf = TaskSpec("d", "classification", 2, metrics=("accuracy", "auroc", "macro_f1"))
    logits = np.array([[0, 1], [0, 2], [0, -1], [0, 0.5]], dtype=float)
    y = np.array([1, 0, 0, 1])
    m = compute_metrics(clf, logits, y)
    # argmax [1, 1, 0, 1] vs labels [1, 0, 0, 1]: 3 of 4 correct
    assert m["accuracy"] == 0.75
    # class-1 F1 = 2*2/(2*2+1+0) = 0.8, class-0 F1 = 2*1/(2*1+0+1) = 2/3
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    # the scores (logit1 - logit0) are 1, 2, -1, 0.5; positives at 1 and 0.5; negatives 2, -1
    # AUROC = P(score_pos > score_neg) over 4 pairs: (1>2 no)(1>-1 yes)(0.5>2 no)(0.5>-1 yes)
    assert m["auroc"] == pytest.approx(0.5)
    reg = TaskSpec("age", "regression", metrics=("mae", "mse", "pearson", "r2"))
    r = compute_metrics(reg, np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 5.0]))
    assert r["mae"] == pytest.approx(2 / 3)
    assert r["mse"] == pytest.approx(2 / 3)
    # r2 = 1 - 2 / sum((y - 3)^2) = 1 - 2/8
    assert r["r2"] == pytest.approx(0.75)
    assert r["pearson"] == pytest.approx(np.corrcoef([1, 2, 4], [1, 3, 5])[0, 1])


def test_taskspec_validation_and_round_trip():
    with pytest.raises(ConfigError, match="unknown kind 'tokens'"):
        TaskSpec("x", "tokens")
    with pytest.raises(ConfigError, match="at least 2 classes"):
        TaskSpec("x", "classification", n_outputs=1)
    with pytest.raises(ConfigError, match="unknown key"):
        TaskSpec.from_dict({"name": "x", "kind": "regression", "colour": 1})
    spec = TaskSpec("ss8", "token_classification", 8, labels=tuple("GHIBESTC"))
    assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_gradient_reversal_flips_and_scales_gradient():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = GradientReversal(alpha=0.5)(x)
    assert torch.equal(y, x)
    (3 * y).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-1.5, -1.5]))


def _model():
    torch.manual_seed(0)
    return MultiTaskModel(nn.Linear(3, 4), {"a": nn.Linear(4, 2), "b": nn.Linear(4, 1)})


def test_checkpoint_round_trip_and_errors(tmp_path):
    model = _model()
    save_checkpoint(tmp_path / "ck", model, kind="mtl", config={"d": 4}, metrics={"a": 0.9})
    doc = read_config(tmp_path / "ck", kind="mtl")
    assert doc["config"] == {"d": 4} and doc["metrics"] == {"a": 0.9}
    assert "torch" in doc["versions"]
    fresh = MultiTaskModel(nn.Linear(3, 4), {"a": nn.Linear(4, 2), "b": nn.Linear(4, 1)})
    load_weights(fresh, tmp_path / "ck")
    x = torch.randn(2, 3)
    assert torch.equal(fresh(x)["a"], model(x)["a"])
    with pytest.raises(CheckpointError, match="not a 'structure' model"):
        read_config(tmp_path / "ck", kind="structure")
    wrong = MultiTaskModel(nn.Linear(3, 5), {"a": nn.Linear(5, 2), "c": nn.Linear(5, 1)})
    with pytest.raises(CheckpointError, match=r"missing keys: heads\.c\.weight"):
        load_weights(wrong, tmp_path / "ck")
    (tmp_path / "ck" / "model.safetensors").write_bytes(b"\x00" * 50)
    with pytest.raises(CheckpointError, match="corrupt or foreign"):
        load_weights(fresh, tmp_path / "ck")
    (tmp_path / "ck" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt checkpoint config"):
        read_config(tmp_path / "ck")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(CheckpointError, match="not a bio_mtl checkpoint"):
        read_config(tmp_path / "foreign")


def test_pearson_of_a_constant_target_is_nan_without_a_warning():
    import warnings

    reg = TaskSpec("rsa", "regression", metrics=("pearson", "mae"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" used to escape here
        r = compute_metrics(reg, np.array([0.1, 0.4, 0.2]), np.array([0.3, 0.3, 0.3]))
    assert np.isnan(r["pearson"])
    assert r["mae"] == pytest.approx((0.2 + 0.1 + 0.1) / 3)


class _Payload:
    """Unpickling this object creates a folder: the proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_loading_a_pickle_never_runs_its_code(tmp_path, writer):
    import pickle

    save_checkpoint(tmp_path / "ck", _model(), kind="mtl", config={})
    armed = tmp_path / "armed"
    pickle.loads(pickle.dumps(_Payload(str(armed))))  # the payload is live ...
    assert armed.exists()
    marker = tmp_path / "pwned"
    weights = tmp_path / "ck" / "model.safetensors"
    if writer == "pickle":
        weights.write_bytes(pickle.dumps(_Payload(str(marker))))
    else:
        torch.save({"encoder.weight": _Payload(str(marker))}, weights)
    with pytest.raises(CheckpointError, match="corrupt or foreign weights file"):
        load_weights(_model(), tmp_path / "ck")
    assert not marker.exists()  # ... but loading the checkpoint never unpickles it


def test_checkpoint_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    save_checkpoint(tmp_path / "ck", _model(), kind="mtl", config={},
                    extra_tensors={"w": torch.ones(2)})
    (tmp_path / "plain").write_text("x")
    expected = stat.S_IMODE(os.stat(tmp_path / "plain").st_mode)
    for name in ("model.safetensors", "config.json", "extra.safetensors"):
        assert stat.S_IMODE(os.stat(tmp_path / "ck" / name).st_mode) == expected, name
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "config.json", "extra.safetensors", "model.safetensors"]  # no temporary files left
