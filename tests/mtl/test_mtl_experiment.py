"""MultiTaskEstimator: the YAML-configured experiment as an estimator (kind "mtl")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bio_mtl.errors import CheckpointError, ConfigError, InputError
from bio_mtl.mtl.config import parse_config
from bio_mtl.mtl.estimator import get_estimator, load_estimator
from bio_mtl.mtl.experiment import MultiTaskEstimator, load_data, load_experiment, run_experiment

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mtl"
CONFIG = {
    "data": {"n_samples": 64, "n_features": 5, "seed": 0},
    "model": {"encoder": "mlp", "encoder_params": {"hidden_dims": [8]}},
    "tasks": [{"name": "c", "kind": "classification", "n_outputs": 3},
              {"name": "r", "kind": "regression"}],
    "training": {"epochs": 2, "batch_size": 16, "lr": 0.01, "seed": 0},
}


def test_the_registry_names_this_class():
    assert get_estimator("mtl") is MultiTaskEstimator


def test_a_checkpoint_of_the_earlier_mtl_train_loads_and_predicts_the_same():
    """tests/fixtures/mtl/checkpoint_v0 was written by save_experiment before this class
    existed (config.json without "params" or feature statistics)."""
    old = FIXTURES / "checkpoint_v0"
    recorded = json.loads((FIXTURES / "checkpoint_v0_outputs.json").read_text())
    est = load_estimator(old)
    assert isinstance(est, MultiTaskEstimator)
    est.model_.eval()
    with torch.no_grad():
        out = est.model_(torch.tensor(recorded["inputs"]))
    for task, values in recorded["outputs"].items():  # bit-identical
        assert np.array_equal(out[task].numpy(), np.asarray(values, dtype=np.float32)), task
    # its hyperparameters are the saved (resolved) sections, and it evaluates as before
    assert [t.name for t in est.tasks] == ["c", "r"]
    assert est.model.encoder_params == {"hidden_dims": [8], "input_dim": 5}
    saved = json.loads((old / "config.json").read_text())["metrics"]
    assert est.metrics_ == saved
    assert est.evaluate()["test"] == saved["test"]
    config, model = load_experiment(old)
    assert config == est.config_ and isinstance(model, torch.nn.Module)


def test_predict_standardises_raw_features_like_the_training_split(tmp_path):
    config = parse_config(CONFIG)
    est = run_experiment(config)
    data, splits = load_data(config)
    raw = load_data(config.replace(data=config.data.__class__(
        **{**CONFIG["data"], "standardize": False})))[0].X
    rows = splits["test"][:5]
    est.model_.eval()
    with torch.no_grad():
        expected = est.model_(torch.from_numpy(data.X[rows]))
    got = est.predict(raw[rows])
    assert got.keys() == {"c", "r"} and got["c"].shape == (5, 3) and got["r"].shape == (5,)
    for task in got:
        assert np.array_equal(got[task], expected[task].numpy().reshape(got[task].shape)), task
    with pytest.raises(InputError, match=r"expected a \(samples, 5\) feature matrix"):
        est.predict(raw[:2, :4])
    # saved: the statistics and the hyperparameters, next to the resolved sections
    est.save(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert set(doc["config"]) == {"params", "data", "model", "tasks", "training",
                                  "feature_mean", "feature_scale"}
    assert "input_dim" not in doc["config"]["params"]["model"]["encoder_params"]
    assert doc["config"]["model"]["encoder_params"]["input_dim"] == 5
    assert doc["history"] == est.history_ and doc["best_epoch"] == est.best_epoch_
    back = MultiTaskEstimator.load(tmp_path / "m")
    assert np.array_equal(back.feature_scale_, est.feature_scale_)
    assert back.get_params() == est.get_params()


def test_evaluate_with_another_config_needs_the_same_tasks():
    est = MultiTaskEstimator.load(FIXTURES / "checkpoint_v0")
    other = dict(CONFIG, tasks=[{"name": "c", "kind": "classification", "n_outputs": 3}])
    with pytest.raises(ConfigError, match=r"tasks \['c'\] differ from the model's \['c', 'r'\]"):
        est.evaluate(config=parse_config(other))
    moved = parse_config(dict(CONFIG, data={**CONFIG["data"], "seed": 3}))
    assert est.evaluate(config=moved)["test"] != est.metrics_["test"]  # other samples


def test_a_checkpoint_with_a_broken_config_is_a_checkpoint_error(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("model.safetensors", "config.json"):
        (folder / name).write_bytes((FIXTURES / "checkpoint_v0" / name).read_bytes())
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["model"]["encoder"] = "nope"
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="checkpoint config cannot be rebuilt"):
        MultiTaskEstimator.load(folder)
