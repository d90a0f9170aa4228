"""A task without a label in a batch is absent: the strategy never sees it, its state holds.

The fixed toy problem: a 3-task model (``a`` regression, ``b`` 3 classes, ``c`` 2 classes) on
16-sample batches; ``c`` has no label (all ``-100``, all-NaN soft targets, or masked out) in
some batches. Before the fix the trainer passed such a task to the strategy with loss -0.0 and
count 0: ``mgda`` put all its weight on it (zero encoder gradient), ``famo`` and
``inverse_loss`` divided by its zero loss, ``sample_count`` and ``random`` gave it a share,
``uncertainty``'s ``+ s_c`` term moved ``s_c``, GradNorm stored ``L_c(0) = 0`` for ever, and
AdamW decayed the head of the empty task.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bio_mtl.mtl.model import MultiTaskModel
from bio_mtl.mtl.tasks import TaskSpec, compute_loss
from bio_mtl.mtl.trainer import TrainConfig, Trainer
from bio_mtl.mtl.weighting import WEIGHTINGS, get_weighting

TASKS = [TaskSpec("a", "regression"), TaskSpec("b", "classification", 3),
         TaskSpec("c", "classification", 2)]
NAMES = [t.name for t in TASKS]
C = NAMES.index("c")


def _model(tasks=TASKS):
    torch.manual_seed(0)
    heads = {"a": nn.Sequential(nn.Linear(8, 1), nn.Flatten(0)), "b": nn.Linear(8, 3),
             "c": nn.Linear(8, 2)}
    return MultiTaskModel(nn.Sequential(nn.Linear(4, 8), nn.Tanh()),
                          {t.name: heads[t.name] for t in tasks})


def _batch(seed: int, c: str = "labelled") -> dict:
    """One batch; ``c`` is ``labelled``, ``missing`` (-100), ``soft`` (NaN rows), ``masked``
    or ``dropped`` (no ``c`` key at all)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 4, generator=g)
    targets = {"a": x[:, 0] - x[:, 1] + 0.1 * torch.randn(16, generator=g),
               "b": (x[:, 1] > 0).long() + (x[:, 2] > 0).long(),
               "c": (x[:, 3] > 0).long()}
    batch = {"inputs": x, "targets": targets}
    if c == "missing":
        targets["c"] = torch.full((16,), -100)
    elif c == "soft":
        targets["c"] = torch.full((16, 2), math.nan)
    elif c == "masked":
        batch["masks"] = {"c": torch.zeros(16, dtype=torch.bool)}
    elif c == "dropped":
        del targets["c"]
    return batch


def _config(name: str) -> TrainConfig:
    # constant learning rate, so the first steps of two runs of different lengths agree
    return TrainConfig(epochs=1, lr=0.05, min_lr_ratio=1.0, weighting=name,
                       weighting_params={"weights": {"a": 2.0}} if name == "static" else {})


def _fit(name: str, batches: list[dict], tasks=TASKS) -> Trainer:
    return Trainer(_model(tasks), tasks, _config(name)).fit(batches)


def _c_state(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The absent task's entries of the strategy state, and its head."""
    state = {k: v[..., C].clone() for k, v in trainer.weighting.state_dict().items()
             if v.dim() >= 1 and v.shape[-1] == len(NAMES)}
    state.update({f"head.{k}": v.clone() for k, v in
                  trainer.model.heads["c"].state_dict().items()})
    return state


def _assert_same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-6, atol=1e-7, equal_nan=True), (what, key)


@pytest.mark.parametrize("how", ["missing", "soft", "masked"])
@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_a_task_never_labelled_is_as_if_it_did_not_exist(name, how):
    """3 tasks with ``c`` never labelled train exactly like the 2-task model without ``c``."""
    three = _fit(name, [_batch(s, how) for s in range(4)])
    two = _fit(name, [_batch(s, "dropped") for s in range(4)], tasks=TASKS[:2])
    shared = {k: v for k, v in three.model.state_dict().items() if not k.startswith("heads.c")}
    _assert_same(shared, two.model.state_dict(), name)
    untouched = _model().heads["c"].state_dict()
    _assert_same({k: three.model.heads["c"].state_dict()[k] for k in untouched}, untouched,
                 f"{name}: head of the absent task")
    # the strategy saw only a and b: its state of c is still the initial one
    fresh = Trainer(_model(), TASKS, _config(name))
    _assert_same({k: v for k, v in _c_state(three).items() if not k.startswith("head.")},
                 {k: v for k, v in _c_state(fresh).items() if not k.startswith("head.")},
                 f"{name}: strategy state of the absent task")
    assert not any(k.startswith("train/c/") for k in three.history_[0]), name


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_absent_steps_leave_the_task_state_alone_and_the_encoder_learns(name):
    """``c`` labelled in the first two batches only: the last two leave its state alone."""
    full = [_batch(0), _batch(1)]
    before = _fit(name, full)
    after = _fit(name, full + [_batch(2, "missing"), _batch(3, "missing")])
    _assert_same(_c_state(after), _c_state(before), f"{name}: state of c while absent")
    moved = [float((p - q).abs().max()) for p, q in
             zip(after.model.encoder.parameters(), before.model.encoder.parameters(),
                 strict=True)]
    assert max(moved) > 1e-3, f"{name}: the encoder did not learn while c was absent"
    # the epoch's mean loss of c is over the batches that carry c (not diluted by zeros)
    expected = (_c_loss(_model(), _batch(0)) + _c_loss(_fit(name, full[:1]).model, _batch(1))) / 2
    assert after.history_[0]["train/c/loss"] == pytest.approx(expected, rel=1e-6)


def _c_loss(model: nn.Module, batch: dict) -> float:
    with torch.no_grad():
        return float(compute_loss(TASKS[C], model(batch["inputs"])["c"], batch["targets"]["c"]))


def test_mgda_gives_the_encoder_the_present_tasks_min_norm_direction():
    """Before the fix MGDA put all weight on the empty task and the encoder got 0."""
    strategy = Trainer(_model(), TASKS, _config("mgda"))
    strategy.fit([_batch(0, "missing")])
    assert strategy.weighting.present_ == ["a", "b"]
    assert strategy.weighting.last_weights_.sum().item() == pytest.approx(2.0)


def _losses(values: dict[str, float]) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}


def _shared():
    return [nn.Parameter(torch.tensor([[1.0, 0.5], [0.25, 2.0]]))]


def test_gradnorm_keeps_no_initial_loss_for_a_task_it_has_not_seen():
    """``L_c(0)`` is the loss at the first step ``c`` appears; absent weights hold; the
    present ones sum to the number present."""
    w = _shared()[0]
    gn = get_weighting("gradnorm", NAMES)

    def step(present):
        losses = {n: (float(i + 1) * w).square().sum() * v for i, (n, v) in
                  enumerate(present.items())}
        return gn.backward(losses, shared_params=[w])

    used = step({"a": 1.0, "b": 1.0})                    # c absent at the first step
    assert used == {"a": 1.0, "b": 1.0}
    assert math.isnan(gn.initial_losses[C]) and gn.task_weights[C] == 1.0
    assert float(gn.task_weights[:2].sum()) == pytest.approx(2.0)
    first_c = float((3.0 * w).square().sum() * 0.5)
    step({"a": 0.9, "b": 0.8, "c": 0.5})
    assert float(gn.initial_losses[C]) == pytest.approx(first_c)
    assert float(gn.task_weights.sum()) == pytest.approx(3.0)
    before = gn.task_weights[C].clone()
    used = step({"a": 0.8, "b": 0.7})                    # absent again: its weight holds
    assert gn.task_weights[C] == before
    assert sum(used.values()) == pytest.approx(2.0)
    assert float(gn.task_weights[:2].sum()) == pytest.approx(3.0 - float(before))


def test_gradnorm_with_a_late_task_does_not_collapse():
    """The old code stored L_c(0) = 0 (c unlabelled in the first batch): after 60 steps its
    weights were (0.001, 0.001, 2.998)."""
    trainer = _fit("gradnorm", [_batch(0, "missing")] + [_batch(s) for s in range(1, 60)])
    gn = trainer.weighting
    assert float(gn.initial_losses[C]) == pytest.approx(_c_loss(_fit("gradnorm", [
        _batch(0, "missing")]).model, _batch(1)), rel=1e-6)  # the loss at c's first step
    assert float(gn.task_weights.sum()) == pytest.approx(3.0)
    assert float(gn.task_weights.min()) > 0.3


def test_famo_decay_and_moments_leave_an_absent_logit_alone():
    famo = get_weighting("famo", NAMES)
    w = _shared()[0]
    for values in ({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.5, "b": 1.9, "c": 2.0}):
        famo.backward(_losses(values), shared_params=[w])
    held = {k: getattr(famo, k)[C].clone()
            for k in ("logits", "exp_avg", "exp_avg_sq", "prev_losses")}
    assert float(held["logits"]) != 0.0
    a_b = famo.logits[:2].clone()
    famo.backward(_losses({"a": 0.4, "b": 1.5}), shared_params=[w])
    assert {k: getattr(famo, k)[C] for k in held} == held
    assert not torch.equal(famo.logits[:2], a_b)  # the present ones did move


def test_famo_updates_the_seen_tasks_when_a_new_one_appears():
    """A task seen for the first time has no previous loss; the others still update."""
    famo = get_weighting("famo", NAMES)
    w = _shared()[0]
    famo.backward(_losses({"a": 1.0, "b": 2.0}), shared_params=[w])
    famo.backward(_losses({"a": 0.5, "b": 1.9, "c": 3.0}), shared_params=[w])
    # the two-task FAMO step of tests/mtl/test_mtl_weighting.py: logits (-0.025, 0.025)
    assert famo.logits.tolist() == pytest.approx([-0.025, 0.025, 0.0], abs=1e-6)
    assert float(famo.prev_losses[C]) == 3.0


def test_uncertainty_leaves_an_absent_log_variance_alone():
    """``exp(-s) L + s`` must not pull ``s_c`` (its ``+ s_c`` term) when ``c`` is absent."""
    steps = [_batch(0), _batch(1), _batch(2, "missing"), _batch(3, "missing")]
    short, long = _fit("uncertainty", steps[:2]), _fit("uncertainty", steps)
    assert short.weighting.log_vars[C] == long.weighting.log_vars[C]
    assert short.weighting.log_vars[C] != 0.0
