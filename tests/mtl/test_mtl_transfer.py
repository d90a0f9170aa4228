"""Freezing, adding tasks, reservoir replay and continual learning without forgetting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bio_mtl.errors import ConfigError, ModelError
from bio_mtl.mtl import MultiTaskModel, TaskSpec
from bio_mtl.mtl.architectures import MMoEModel
from bio_mtl.mtl.encoders import get_encoder
from bio_mtl.mtl.synthetic import TabularBatches, make_synthetic, split_indices
from bio_mtl.mtl.trainer import TrainConfig, Trainer
from bio_mtl.mtl.transfer import (
    ReplayBuffer,
    ReplayMix,
    add_task,
    distillation_targets,
    freeze_encoder,
    freeze_heads,
    train_new_task,
    unfreeze_all,
    unfreeze_encoder,
)


def test_reservoir_keeps_a_uniform_sample():
    # Algorithm R: after 20 offers each item is kept with probability 5 / 20 = 0.25
    counts = np.zeros(20)
    for seed in range(2000):
        buf = ReplayBuffer(5, seed=seed).extend({"i": i} for i in range(20))
        assert len(buf) == 5
        assert buf.n_seen_ == 20
        for b in buf.batches:
            counts[b["i"]] += 1
    assert np.allclose(counts / 2000, 0.25, atol=0.04)


def test_reservoir_is_seeded_and_fills_first():
    a = ReplayBuffer(3, seed=1).extend({"i": i} for i in range(10))
    b = ReplayBuffer(3, seed=1).extend({"i": i} for i in range(10))
    assert a.batches == b.batches
    assert ReplayBuffer(5, seed=0).extend({"i": i} for i in range(3)).batches == \
        [{"i": 0}, {"i": 1}, {"i": 2}]
    with pytest.raises(ConfigError, match="capacity must be >= 1"):
        ReplayBuffer(0)


def test_replay_mix_interleaves_at_the_ratio():
    buf = ReplayBuffer(2, seed=0).extend([{"old": 0}, {"old": 1}])
    mix = ReplayMix([{"new": i} for i in range(6)], buf, ratio=0.5, seed=0)
    items = list(mix)
    assert len(items) == len(mix) == 9
    assert [("new" in b) for b in items] == [True, True, False] * 3


def _model():
    torch.manual_seed(0)
    enc = get_encoder("mlp", input_dim=6, hidden_dims=[8])
    return MultiTaskModel(enc, {"a": nn.Linear(8, 2)})


def test_freeze_unfreeze_and_add_task():
    model = freeze_encoder(_model())
    assert model.shared_parameters() == []
    assert all(p.requires_grad for p in model.heads.parameters())
    unfreeze_encoder(model)
    assert len(model.shared_parameters()) == 2
    add_task(model, TaskSpec("b", "regression"), nn.Linear(8, 1))
    assert model.task_names == ["a", "b"]
    assert model.shared_parameters() == []
    with pytest.raises(ModelError, match="already has a task 'b'"):
        add_task(model, TaskSpec("b", "regression"), nn.Linear(8, 1))


def test_add_task_to_mmoe_adds_a_gate():
    experts = [get_encoder("mlp", input_dim=4, hidden_dims=[8]) for _ in range(3)]
    model = MMoEModel(experts, {"a": nn.Linear(8, 2)}, gate_input_dim=4)
    add_task(model, TaskSpec("b", "regression"), nn.Linear(8, 1))
    g = model.gate_weights(torch.randn(2, 4))["b"]
    torch.testing.assert_close(g.sum(-1), torch.ones(2))
    assert all(not p.requires_grad for p in model.experts.parameters())


def test_continual_learning_keeps_old_tasks_with_frozen_encoder_and_replay():
    tasks = [TaskSpec("a", "classification", 3), TaskSpec("b", "regression"),
             TaskSpec("c", "classification", 2)]
    data = make_synthetic(tasks, n_samples=400, n_features=8, relatedness=0.8, noise=0.1,
                          seed=0)
    split = split_indices(400, val_fraction=0.0, test_fraction=0.25, seed=0)
    old = tasks[:2]
    torch.manual_seed(0)
    model = MultiTaskModel(get_encoder("mlp", input_dim=8, hidden_dims=[32, 16]),
                           {"a": nn.Linear(16, 3), "b": nn.Linear(16, 1)})
    cfg = TrainConfig(epochs=12, batch_size=32, lr=5e-3, seed=0)
    old_train = TabularBatches(data, split["train"], batch_size=32, shuffle=True, tasks=["a", "b"])
    old_test = TabularBatches(data, split["test"], batch_size=100, tasks=["a", "b"])
    trainer = Trainer(model, old, cfg).fit(old_train)
    before = trainer.evaluate(old_test)
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}

    buffer = ReplayBuffer(6, seed=0).extend(old_train)
    new_train = TabularBatches(data, split["train"], batch_size=32, shuffle=True, tasks=["c"])
    trainer = train_new_task(model, tasks[2], nn.Linear(16, 2), old_tasks=old,
                             train_batches=new_train,
                             config=TrainConfig(epochs=8, batch_size=32, lr=5e-3, seed=0),
                             buffer=buffer, replay_ratio=0.5)
    after = trainer.evaluate(old_test)
    new = trainer.evaluate(TabularBatches(data, split["test"], batch_size=100, tasks=["c"]))

    for key, value in encoder_before.items():  # frozen: bit-identical
        assert torch.equal(model.encoder.state_dict()[key], value)
    assert before["a"]["accuracy"] > 0.7
    assert before["b"]["pearson"] > 0.8
    # stated tolerance: old-task metrics move by at most 0.03 (accuracy) / 0.02 (Pearson r)
    assert abs(after["a"]["accuracy"] - before["a"]["accuracy"]) <= 0.03
    assert abs(after["b"]["pearson"] - before["b"]["pearson"]) <= 0.02
    assert new["c"]["accuracy"] > 0.75  # the new task was learned on frozen features


def test_rehearsal_prevents_forgetting_when_the_encoder_is_fine_tuned():
    # Same set-up, encoder NOT frozen: without replay task b is forgotten (Pearson r
    # 0.944 -> 0.862 measured); rehearsing 6 stored batches keeps it (0.944 -> 0.951).
    tasks = [TaskSpec("a", "classification", 3), TaskSpec("b", "regression"),
             TaskSpec("c", "classification", 2)]
    data = make_synthetic(tasks, n_samples=400, n_features=8, relatedness=0.8, noise=0.1,
                          seed=0)
    split = split_indices(400, val_fraction=0.0, test_fraction=0.25, seed=0)
    results = {}
    for replay in (False, True):
        torch.manual_seed(0)
        model = MultiTaskModel(get_encoder("mlp", input_dim=8, hidden_dims=[32, 16]),
                               {"a": nn.Linear(16, 3), "b": nn.Linear(16, 1)})
        old_train = TabularBatches(data, split["train"], batch_size=32, shuffle=True,
                                   tasks=["a", "b"])
        old_test = TabularBatches(data, split["test"], batch_size=100, tasks=["a", "b"])
        Trainer(model, tasks[:2], TrainConfig(epochs=12, batch_size=32, lr=5e-3, seed=0)) \
            .fit(old_train)
        before = Trainer(model, tasks[:2], TrainConfig()).evaluate(old_test)["b"]["pearson"]
        buffer = ReplayBuffer(6, seed=0).extend(old_train) if replay else None
        trainer = train_new_task(
            model, tasks[2], nn.Linear(16, 2), old_tasks=tasks[:2], freeze=False,
            train_batches=TabularBatches(data, split["train"], batch_size=32, shuffle=True,
                                         tasks=["c"]),
            config=TrainConfig(epochs=8, batch_size=32, lr=5e-3, seed=0), buffer=buffer,
            replay_ratio=0.5)
        results[replay] = trainer.evaluate(old_test)["b"]["pearson"] - before
    assert results[False] < -0.05      # forgetting
    assert abs(results[True]) <= 0.02  # kept within the stated tolerance


def test_freeze_heads_keeps_one_head_learning_and_unfreeze_all_undoes_it():
    model = MultiTaskModel(nn.Linear(3, 4), {"a": nn.Linear(4, 1), "b": nn.Linear(4, 2)})
    freeze_encoder(freeze_heads(model, keep=["b"]))
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    assert flags == {"encoder.weight": False, "encoder.bias": False, "heads.a.weight": False,
                     "heads.a.bias": False, "heads.b.weight": True, "heads.b.bias": True}
    assert all(p.requires_grad for p in unfreeze_all(model).parameters())
    with pytest.raises(ModelError, match="no task 'c'; the model has a, b"):
        freeze_heads(model, keep=["c"])
    with pytest.raises(ModelError, match="has no per-task heads"):
        freeze_heads(nn.Linear(2, 2))


def test_distillation_targets_are_the_outputs_on_the_chosen_rows():
    torch.manual_seed(0)
    model = MultiTaskModel(nn.Identity(), {"a": nn.Linear(2, 1), "b": nn.Linear(2, 1)})
    with torch.no_grad():  # a(x) = x0 + 2 x1 + 1, b(x) = -x0
        model.heads["a"].weight.copy_(torch.tensor([[1.0, 2.0]]))
        model.heads["a"].bias.fill_(1.0)
        model.heads["b"].weight.copy_(torch.tensor([[-1.0, 0.0]]))
        model.heads["b"].bias.zero_()
    model.train()
    x = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
    got = distillation_targets(model, x, {"a": [True, False, True], "b": np.array([0, 1, 1],
                                                                                  dtype=bool)})
    assert got["a"].flatten().tolist()[::2] == [4.0, 7.0] and got["a"][1].isnan().all()
    assert got["b"][0].isnan().all() and got["b"].flatten().tolist()[1:] == [-2.0, -0.0]
    assert model.training and not got["a"].requires_grad  # mode restored, no graph


def test_train_new_task_with_frozen_old_heads_changes_only_encoder_and_new_head():
    tasks = [TaskSpec("a", "classification", 3), TaskSpec("b", "regression"),
             TaskSpec("c", "classification", 2)]
    data = make_synthetic(tasks, n_samples=120, n_features=8, seed=0)
    torch.manual_seed(0)
    model = MultiTaskModel(get_encoder("mlp", input_dim=8, hidden_dims=[16]),
                           {"a": nn.Linear(16, 3), "b": nn.Linear(16, 1)})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_new_task(model, tasks[2], nn.Linear(16, 2), old_tasks=tasks[:2], freeze=False,
                   freeze_old_heads=True,
                   train_batches=TabularBatches(data, np.arange(120), batch_size=32,
                                                shuffle=True, tasks=["c"]),
                   config=TrainConfig(epochs=2, batch_size=32, lr=1e-2, seed=0))
    after = model.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value) == key.startswith("heads."), key
    assert [p.requires_grad for p in model.heads.parameters()] == [False] * 4 + [True] * 2
