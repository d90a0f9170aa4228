"""Δm by hand, the per-task table, and the single-vs-joint comparison end to end."""

from __future__ import annotations

import pytest
import torch

from bio_mtl.errors import ConfigError
from bio_mtl.mtl.config import parse_config
from bio_mtl.mtl.negative_transfer import delta_m, negative_transfer, transfer_table


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is fastest on the shared 2-core CI machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_delta_m_by_hand():
    # accuracy 0.80 -> 0.84: +0.05; MAE 0.50 -> 0.60 (lower is better): -(0.10 / 0.50) = -0.20;
    # Pearson 0.60 -> 0.66: +0.10.  Δm = (0.05 - 0.20 + 0.10) / 3 = -0.016667
    single = {"acc": 0.80, "mae": 0.50, "r": 0.60}
    joint = {"acc": 0.84, "mae": 0.60, "r": 0.66}
    higher = {"acc": True, "mae": False, "r": True}
    assert delta_m(single, joint, higher) == pytest.approx(-0.05 / 3)
    assert delta_m(single, single, higher) == 0.0


def test_transfer_table_rows():
    rows = transfer_table({"a": 0.5, "b": 2.0}, {"a": 0.6, "b": 1.5},
                          {"a": True, "b": False})
    assert rows[0] == pytest.approx({"task": "a", "single": 0.5, "joint": 0.6,
                                     "difference": 0.1, "relative": 0.2,
                                     "higher_is_better": True})
    assert rows[1]["difference"] == -0.5
    assert rows[1]["relative"] == pytest.approx(0.25)


def test_delta_m_errors():
    with pytest.raises(ConfigError, match="task sets differ"):
        delta_m({"a": 1.0}, {"b": 1.0}, {"a": True, "b": True})
    with pytest.raises(ConfigError, match="single-task metric of 'a' is 0"):
        delta_m({"a": 0.0}, {"a": 1.0}, {"a": True})


def test_negative_transfer_end_to_end():
    config = parse_config({
        "data": {"n_samples": 200, "n_features": 6, "seed": 1},
        "model": {"encoder": "mlp", "encoder_params": {"hidden_dims": [16]}},
        "tasks": [{"name": "c", "kind": "classification", "n_outputs": 2},
                  {"name": "r", "kind": "regression", "metrics": ["mae"]}],
        "training": {"epochs": 3, "batch_size": 32, "lr": 0.01},
    })
    report = negative_transfer(config)
    assert report.split == "test"
    assert [r["task"] for r in report.rows] == ["c", "r"]
    assert [r["metric"] for r in report.rows] == ["accuracy", "mae"]
    single = {r["task"]: r["single"] for r in report.rows}
    joint = {r["task"]: r["joint"] for r in report.rows}
    assert report.delta_m == pytest.approx(delta_m(single, joint, {"c": True, "r": False}))
    assert all(r["single"] >= 0.0 for r in report.rows)
    with pytest.raises(ConfigError, match="at least two tasks"):
        negative_transfer(config.replace(tasks=config.tasks[:1]))
