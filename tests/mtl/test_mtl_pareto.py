"""The non-dominated set by hand, the weight grid, static weights and the plot."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bio_mtl.errors import ConfigError
from bio_mtl.mtl.config import parse_config
from bio_mtl.mtl.pareto import pareto_front, plot_front, sweep_weights, weight_grid


def _config():
    return parse_config({
        "data": {"n_samples": 150, "n_features": 6},
        "model": {"encoder": "mlp", "encoder_params": {"hidden_dims": [8]}},
        "tasks": [{"name": "c", "kind": "classification", "n_outputs": 2},
                  {"name": "r", "kind": "regression"}],
        "training": {"epochs": 2, "lr": 0.01},
    })


def test_pareto_front_by_hand_both_higher():
    pts = [[0.9, 0.1],   # best on x: front
           [0.5, 0.5],   # front
           [0.4, 0.4],   # dominated by (0.5, 0.5)
           [0.1, 0.9],   # best on y: front
           [0.5, 0.3],   # dominated by (0.5, 0.5) (equal x, lower y)
           [0.5, 0.5]]   # duplicate of a front point: not dominated
    assert pareto_front(pts, [True, True]).tolist() == [True, True, False, True, False, True]


def test_pareto_front_mixed_directions_and_nan():
    # accuracy (higher better) vs MAE (lower better)
    pts = [[0.8, 0.3], [0.7, 0.2], [0.7, 0.4], [0.9, 0.5], [np.nan, 0.1]]
    assert pareto_front(pts, [True, False]).tolist() == [True, True, False, True, False]
    with pytest.raises(ConfigError, match="do not match 3 objectives"):
        pareto_front(pts, [True, False, True])


def test_weight_grid():
    assert weight_grid(3) == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]
    with pytest.raises(ConfigError, match="n_points must be >= 2"):
        weight_grid(1)


def test_loss_weights_train_with_the_static_strategy():
    from bio_mtl.mtl.experiment import run_experiment

    run = run_experiment(_config(), loss_weights={"c": 0.25, "r": 0.75})
    assert run.config_.training.weighting == "static"
    assert run.config_.training.weighting_params == {"weights": {"c": 0.25, "r": 0.75}}
    # w_c = 0: the classification head gets no gradient, so its training loss does not fall
    # (measured 0.767 -> 0.774 in 6 epochs), while with w_c = 1 it does (0.764 -> 0.701)
    six = _config().replace(training=dataclasses.replace(_config().training, epochs=6))
    drops = {}
    for w in (0.0, 1.0):
        history = run_experiment(six, loss_weights={"c": w, "r": 1.0}).history_
        drops[w] = history[0]["train/c/loss"] - history[-1]["train/c/loss"]
    assert drops[0.0] < 0.01
    assert drops[1.0] > 0.04


def test_plot_front_returns_a_figure_with_the_front_line():
    from matplotlib.figure import Figure

    pts = [[0.9, 0.1], [0.4, 0.4], [0.5, 0.5]]
    fig = plot_front(pts, pareto_front(pts, [True, True]), labels=("a acc", "b r"),
                     annotations=["1.0", "0.5", "0.0"])
    assert isinstance(fig, Figure)
    line = fig.axes[0].lines[0]
    assert line.get_xdata().tolist() == [0.5, 0.9]
    assert line.get_ydata().tolist() == [0.5, 0.1]
    assert fig.axes[0].get_xlabel() == "a acc"


def test_sweep_marks_the_front():
    rows = sweep_weights(_config(), weight_grid(3))
    assert [r["weights"] for r in rows] == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    front = pareto_front([[r["c"], r["r"]] for r in rows], [True, True])
    assert [r["pareto"] for r in rows] == front.tolist()
    assert front.any()
