"""Every registered weighting strategy trains a tiny two-task model and checkpoints its state."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from bio_mtl._progress import NullProgress
from bio_mtl.mtl.model import MultiTaskModel
from bio_mtl.mtl.tasks import TaskSpec, compute_loss, valid_mask
from bio_mtl.mtl.weighting import WEIGHTINGS, get_weighting

TASKS = [TaskSpec("reg", "regression"), TaskSpec("cls", "classification", n_outputs=2)]
PARAMS = {"static": {"weights": {"reg": 2.0}}}


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y_reg = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    y_cls = (x @ torch.tensor([0.0, 1.0, 1.0, -1.0]) > 0).long()
    y_cls[::4] = -100  # a quarter unlabelled: counts differ between the tasks
    return x, {"reg": y_reg, "cls": y_cls}


def _model(seed=0):
    torch.manual_seed(seed)
    return MultiTaskModel(nn.Sequential(nn.Linear(4, 8), nn.Tanh()),
                          {"reg": nn.Sequential(nn.Linear(8, 1), nn.Flatten(0)),
                           "cls": nn.Linear(8, 2)})


def _losses(model, x, targets):
    out = model(x)
    losses = {t.name: compute_loss(t, out[t.name], targets[t.name]) for t in TASKS}
    counts = {t.name: int(valid_mask(t, targets[t.name]).sum()) for t in TASKS}
    return losses, counts


@functools.cache
def _train_cached(name):
    return _train(name)


def _train(name, steps=30, epochs_every=5):
    """The trainer's loop: zero_grad, backward, clip, step; epoch_end every few steps."""
    x, targets = _data()
    model = _model()
    strategy = get_weighting(name, [t.name for t in TASKS], **PARAMS.get(name, {}))
    opt = torch.optim.AdamW([{"params": model.parameters()},
                             {"params": strategy.parameters(), "weight_decay": 0.0}], lr=0.05)
    history = []
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        losses, counts = _losses(model, x, targets)
        history.append({k: float(v.detach()) for k, v in losses.items()})
        weights = strategy.backward(losses, shared_params=model.shared_parameters(), step=step,
                                    epoch=step // epochs_every, counts=counts)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % epochs_every == 0:
            strategy.epoch_end(history[-1], step // epochs_every)
    return model, strategy, history, weights


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_strategy_reduces_both_losses(name):
    _, _, history, weights = _train_cached(name)
    first, last = history[0], history[-1]
    # both tasks learn: each loss at most 60 % of its start after 30 AdamW steps
    assert last["reg"] < 0.6 * first["reg"], (first, last)
    assert last["cls"] < 0.6 * first["cls"], (first, last)
    assert set(weights) == {"reg", "cls"}


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_state_dict_round_trip_reproduces_the_next_step(name):
    model, strategy, _, _ = _train(name, steps=9, epochs_every=3)
    state = strategy.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    clone = get_weighting(name, [t.name for t in TASKS], **PARAMS.get(name, {}))
    clone.load_state_dict({k: v.clone() for k, v in state.items()})
    for key, value in clone.state_dict().items():
        assert torch.equal(value, state[key]), key
    # the restored strategy produces the same gradients on the next step
    x, targets = _data()
    grads = []
    for s in (strategy, clone):
        model.zero_grad(set_to_none=True)
        losses, counts = _losses(model, x, targets)
        w = s.backward(losses, shared_params=model.shared_parameters(), step=9, epoch=3,
                       counts=counts)
        grads.append((w, [p.grad.clone() for p in model.parameters()]))
    (w_a, g_a), (w_b, g_b) = grads
    assert w_a == pytest.approx(w_b, nan_ok=True)
    assert all(torch.allclose(a, b) for a, b in zip(g_a, g_b, strict=True))


def test_uncertainty_learns_larger_variance_for_larger_loss():
    _, strategy, history, _ = _train_cached("uncertainty")
    s = dict(zip(["reg", "cls"], strategy.log_vars.tolist(), strict=True))
    # at the start MSE (~5) >> cross-entropy (~0.7): the regression task is down-weighted
    assert history[0]["reg"] > history[0]["cls"]
    assert s["reg"] > s["cls"]


class _InterruptError(Exception):
    pass


class _StopAfter(NullProgress):
    """Raises when the trainer logs epoch ``n + 1`` (its state after epoch ``n`` is saved)."""

    def __init__(self, n):
        self.n = n

    def log(self, record):
        if record["epoch"] == self.n + 1:
            raise _InterruptError


@pytest.mark.parametrize("name", ["dwa", "famo", "gradnorm", "pcgrad", "random", "uncertainty"])
def test_trainer_resume_restores_strategy_state(name, tmp_path):
    from bio_mtl.mtl.trainer import TrainConfig, Trainer

    x, targets = _data()
    batches = [{"inputs": x[i:i + 16], "targets": {k: v[i:i + 16] for k, v in targets.items()}}
               for i in range(0, 64, 16)]
    cfg = TrainConfig(epochs=4, lr=1e-2, seed=0, weighting=name)
    full = Trainer(_model(), TASKS, cfg).fit(batches)
    with pytest.raises(_InterruptError):
        Trainer(_model(), TASKS, cfg, progress=_StopAfter(2), checkpoint_dir=tmp_path).fit(batches)
    resumed = Trainer(_model(), TASKS, cfg, checkpoint_dir=tmp_path).fit(batches)
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for key, value in full.weighting.state_dict().items():
        assert torch.equal(value, resumed.weighting.state_dict()[key]), key
