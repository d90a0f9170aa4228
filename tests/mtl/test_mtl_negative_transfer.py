"""Δm by hand, the per-task table, and the single-vs-joint comparison end to end."""

from __future__ import annotations

import dataclasses

import pytest

from bio_mtl.errors import ConfigError
from bio_mtl.mtl.config import parse_config
from bio_mtl.mtl.negative_transfer import delta_m, negative_transfer, transfer_table


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
    # the single-task numbers are those of a model trained on that task alone, and the joint
    # numbers those of the full model (deterministic given the seed)
    from bio_mtl.mtl.experiment import run_experiment

    alone = run_experiment(config, tasks=["r"])
    assert [t.name for t in alone.config_.tasks] == ["r"]
    assert list(alone.model_.heads) == ["r"]
    assert single["r"] == alone.metrics_["test"]["r"]["mae"]
    assert joint["c"] == run_experiment(config).metrics_["test"]["c"]["accuracy"]
    with pytest.raises(ConfigError, match="at least two tasks"):
        negative_transfer(config.replace(tasks=config.tasks[:1]))


def test_single_task_baselines_drop_joint_only_settings():
    from bio_mtl.mtl.experiment import only_tasks

    config = parse_config({
        "tasks": [{"name": "c", "kind": "classification", "n_outputs": 2},
                  {"name": "r", "kind": "regression"}],
        "model": {"task_heads": {"r": {"name": "bounded", "lower": -3.0, "upper": 3.0}}},
        "training": {"weighting": "static", "weighting_params": {"weights": {"c": 2.0}},
                     "monitor": "r/pearson"},
    })
    c = only_tasks(config, ["c"])
    assert [t.name for t in c.tasks] == ["c"]
    assert c.model.task_heads == {}
    # one task: plain loss; a monitor on the removed task falls back to the validation loss
    assert (c.training.weighting, c.training.weighting_params) == ("equal", {})
    assert c.training.monitor == "loss"
    r = only_tasks(config, ["r"])
    assert r.training.monitor == "r/pearson"
    assert r.model.task_heads == {"r": {"name": "bounded", "lower": -3.0, "upper": 3.0}}
    with pytest.raises(ConfigError, match="unknown task.*x; tasks are c, r"):
        only_tasks(config, ["x"])
    # end to end: a task monitor and static weights used to break the single-task runs
    small = config.replace(data=dataclasses.replace(config.data, n_samples=120),
                           training=dataclasses.replace(config.training, epochs=1))
    assert [row["task"] for row in negative_transfer(small).rows] == ["c", "r"]
