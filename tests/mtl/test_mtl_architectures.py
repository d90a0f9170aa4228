"""Heads, MMoE, task-conditioned models and the config builder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bio_mtl.errors import ConfigError
from bio_mtl.mtl import MultiTaskModel, TaskSpec
from bio_mtl.mtl.architectures import MMoEModel, TaskConditionedModel, build_model
from bio_mtl.mtl.config import ModelConfig
from bio_mtl.mtl.encoders import get_encoder
from bio_mtl.mtl.heads import HEADS, BoundedHead, BoundedHeadConfig, get_head

TASKS = [TaskSpec("a", "classification", 3), TaskSpec("b", "regression")]


@pytest.mark.parametrize("name", sorted(HEADS))
def test_every_head_maps_last_dimension(name):
    head = get_head(name, 8, 3)
    assert head(torch.randn(2, 5, 8)).shape == (2, 5, 3)
    assert head(torch.randn(4, 8)).shape == (4, 3)


def test_bounded_head_by_hand_and_in_range():
    head = BoundedHead(4, 1, BoundedHeadConfig(lower=-2.0, upper=6.0))
    nn.init.zeros_(head.net[-1].weight)
    nn.init.constant_(head.net[-1].bias, 0.0)
    assert head(torch.randn(3, 4)).flatten().tolist() == [2.0, 2.0, 2.0]  # -2 + 8 * 0.5
    nn.init.normal_(head.net[-1].weight, std=100.0)
    out = head(torch.randn(100, 4))
    assert float(out.min()) >= -2.0
    assert float(out.max()) <= 6.0


def test_head_config_errors():
    with pytest.raises(ConfigError, match="unknown head 'softmax'; choose one of linear, mlp"):
        get_head("softmax", 4, 2)
    with pytest.raises(ConfigError, match=r"upper .* must be greater than lower"):
        get_head("bounded", 4, 1, lower=1.0, upper=0.0)


def _mmoe(n_experts, gate_input_dim=6):
    torch.manual_seed(0)
    experts = [get_encoder("mlp", input_dim=6, hidden_dims=[8]) for _ in range(n_experts)]
    heads = {"a": nn.Linear(8, 3), "b": nn.Linear(8, 1)}
    return MMoEModel(experts, heads, gate_input_dim=gate_input_dim)


@pytest.mark.parametrize("gate_input_dim", [6, None])
def test_mmoe_gates_sum_to_one_per_sample(gate_input_dim):
    model = _mmoe(4, gate_input_dim)
    gates = model.gate_weights(torch.randn(5, 6))
    assert set(gates) == {"a", "b"}
    for g in gates.values():
        assert g.shape == (5, 4)
        torch.testing.assert_close(g.sum(-1), torch.ones(5))
    assert not torch.allclose(gates["a"], gates["b"])  # one gate per task


def test_mmoe_token_level_gates_per_token():
    torch.manual_seed(0)
    experts = [get_encoder("cnn", channels=8, n_layers=1) for _ in range(3)]
    model = MMoEModel(experts, {"t": nn.Linear(8, 2)})
    x = torch.randint(1, 22, (2, 7))
    g = model.gate_weights(x)["t"]
    assert g.shape == (2, 7, 3)
    torch.testing.assert_close(g.sum(-1), torch.ones(2, 7))
    assert model(x)["t"].shape == (2, 7, 2)


def test_mmoe_with_one_expert_equals_hard_sharing():
    model = _mmoe(1)
    hard = MultiTaskModel(model.experts[0], model.heads)
    x = torch.randn(9, 6)
    out, ref = model(x), hard(x)
    for task in ("a", "b"):
        assert torch.equal(out[task], ref[task])
    assert [p.data_ptr() for p in model.shared_parameters()] == \
        [p.data_ptr() for p in hard.shared_parameters()]


def test_task_conditioning_gives_different_outputs_with_shared_weights():
    torch.manual_seed(0)
    tasks = [TaskSpec(f"t{i}", "regression") for i in range(5)]
    model = TaskConditionedModel(get_encoder("mlp", input_dim=4, hidden_dims=[8]), tasks,
                                 task_dim=3, trunk_dims=(16,))
    x = torch.randn(6, 4)
    out = model(x)
    assert len(out) == 5
    assert all(v.shape == (6, 1) for v in out.values())
    assert not torch.allclose(out["t0"], out["t1"])
    # all weights but the embedding table are shared: equal embeddings -> equal outputs
    with torch.no_grad():
        model.task_embedding.weight[1] = model.task_embedding.weight[0]
    assert torch.equal(model(x)["t0"], model(x)["t1"])
    # adding tasks only adds embedding rows (task_dim parameters each)
    bigger = TaskConditionedModel(get_encoder("mlp", input_dim=4, hidden_dims=[8]),
                                  [*tasks, TaskSpec("t5", "regression")], task_dim=3,
                                  trunk_dims=(16,))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(bigger) - count(model) == 3


def test_task_conditioned_add_mode_and_token_features():
    torch.manual_seed(0)
    enc = get_encoder("cnn", channels=8, n_layers=1)
    tasks = [TaskSpec("ss3", "token_classification", 3), TaskSpec("rsa", "token_regression")]
    model = TaskConditionedModel(enc, tasks, task_dim=8, mode="add")
    out = model(torch.randint(1, 22, (2, 5)))
    assert out["ss3"].shape == (2, 5, 3)
    assert out["rsa"].shape == (2, 5, 1)
    with pytest.raises(ConfigError, match="task_dim == encoder width"):
        TaskConditionedModel(enc, tasks, task_dim=4, mode="add")


@pytest.mark.parametrize(("architecture", "cls"), [("hps", MultiTaskModel), ("mmoe", MMoEModel),
                                                   ("conditioned", TaskConditionedModel)])
def test_build_model_from_config(architecture, cls):
    cfg = ModelConfig(encoder="mlp", encoder_params={"input_dim": 6, "hidden_dims": [8]},
                      architecture=architecture,
                      task_heads={} if architecture == "conditioned" else
                      {"b": {"name": "bounded", "lower": 0.0, "upper": 1.0}})
    model = build_model(cfg, TASKS)
    assert isinstance(model, cls)
    out = model(torch.randn(4, 6))
    assert out["a"].shape == (4, 3)
    assert out["b"].shape == (4, 1)
    assert model.task_names == ["a", "b"]
    if architecture != "conditioned":
        assert isinstance(model.heads["b"], BoundedHead)
        assert float(out["b"].min()) >= 0.0
        assert float(out["b"].max()) <= 1.0


def test_model_config_rejects_bad_values():
    with pytest.raises(ConfigError, match=r"model.architecture: unknown 'moe'; choose one of "
                                          "hps, mmoe, conditioned"):
        ModelConfig(architecture="moe")
    with pytest.raises(ConfigError, match=r"model.architecture_params: unknown key\(s\) experts"):
        ModelConfig(architecture="mmoe", architecture_params={"experts": 2})
    with pytest.raises(ConfigError, match="gate 'inputs' needs the tabular 'mlp' encoder"):
        build_model(ModelConfig(encoder="cnn", architecture="mmoe"), TASKS)


def test_shared_encoder_and_task_heads_compose_a_multi_task_model():
    from bio_mtl.mtl import SharedEncoder, TaskHead

    torch.manual_seed(0)
    encoder = SharedEncoder("mlp", input_dim=6, hidden_dims=[8])
    heads = {t.name: TaskHead(t, encoder.out_dim) for t in TASKS}
    model = MultiTaskModel(encoder, heads)
    x = torch.randn(5, 6)
    out = model(x)
    # by hand: h = GELU(W0 x + b0); out_t = W_t h + b_t
    lin = encoder.body.net[0]
    h = torch.nn.functional.gelu(x @ lin.weight.T + lin.bias)
    for t in TASKS:
        head = heads[t.name].body.net[1]
        torch.testing.assert_close(out[t.name], h @ head.weight.T + head.bias)
    assert out["a"].shape == (5, 3) and out["b"].shape == (5, 1)
    assert heads["a"].task is TASKS[0]
    assert model.shared_parameters() == list(encoder.parameters())
    with pytest.raises(ConfigError, match="unknown encoder 'gru'; choose one of mlp"):
        SharedEncoder("gru")
    with pytest.raises(ConfigError, match="unknown head 'deep'; choose one of linear"):
        TaskHead(TASKS[0], 8, "deep")


def test_mmoe_mixture_by_hand():
    # two constant experts f1 = (1, 0), f2 = (0, 4); task a's gate has bias (log 3, 0) and zero
    # weights, so g_a = (3/4, 1/4) and its mixture is 0.75 f1 + 0.25 f2 = (0.75, 1.0)
    class Const(nn.Module):
        def __init__(self, value):
            super().__init__()
            self.value = torch.tensor(value)
            self.out_dim = 2

        def forward(self, x):
            return self.value.expand(len(x), 2)

    heads = {"a": nn.Identity(), "b": nn.Identity()}
    model = MMoEModel([Const([1.0, 0.0]), Const([0.0, 4.0])], heads, gate_input_dim=3)
    with torch.no_grad():
        for name, bias in (("a", [torch.log(torch.tensor(3.0)), 0.0]), ("b", [0.0, 0.0])):
            model.gates[name].weight.zero_()
            model.gates[name].bias.copy_(torch.tensor(bias))
    out = model(torch.randn(2, 3))
    torch.testing.assert_close(out["a"], torch.tensor([[0.75, 1.0]] * 2))
    torch.testing.assert_close(out["b"], torch.tensor([[0.5, 2.0]] * 2))  # g_b = (1/2, 1/2)


def test_task_conditioning_fits_tasks_that_a_shared_output_cannot():
    from bio_mtl.mtl.trainer import TrainConfig, Trainer

    # y_up = x1 and y_down = -x1 from the same inputs: one shared trunk and output layer must
    # tell the tasks apart through the task embedding alone
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g)
    tasks = [TaskSpec("up", "regression"), TaskSpec("down", "regression")]
    batches = [{"inputs": x[i:i + 32], "targets": {"up": x[i:i + 32, 0],
                                                   "down": -x[i:i + 32, 0]}}
               for i in range(0, 256, 32)]
    torch.manual_seed(0)
    model = TaskConditionedModel(get_encoder("mlp", input_dim=2, hidden_dims=[16]), tasks,
                                 task_dim=4, trunk_dims=(32,))
    trainer = Trainer(model, tasks, TrainConfig(epochs=40, lr=1e-2, seed=0)).fit(batches)
    result = trainer.evaluate(batches)
    # a model ignoring the task could at best predict 0 for both (MSE = var(x1) ~ 1)
    assert result["up"]["pearson"] > 0.98
    assert result["down"]["pearson"] > 0.98
    assert result["up"]["loss"] < 0.05 and result["down"]["loss"] < 0.05
