"""The adversarial head (gradient reversal) scrubs a nuisance from the shared features."""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from bio_mtl.errors import ConfigError
from bio_mtl.mtl import GradientReversal, MultiTaskModel, TaskSpec, get_encoder, get_head
from bio_mtl.mtl.config import parse_config
from bio_mtl.mtl.heads import AdversarialHead
from bio_mtl.mtl.trainer import TrainConfig, Trainer

TASKS = [TaskSpec("y", "regression"), TaskSpec("batch", "classification", 2)]


def _data(n=600):
    """y reads features 0-2; a binary batch effect shifts features 3-5 by 1.5 (y ignores it)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    batch = (torch.rand(n, generator=g) < 0.5).long()
    x[:, 3:] += 1.5 * batch[:, None].float()
    y = x[:, :3] @ torch.tensor([1.0, -1.0, 2.0]) + 0.1 * torch.randn(n, generator=g)
    return x, y, batch


def _train(batch_head: str):
    """Train y + a batch head; return (linear-probe accuracy of the batch, test metrics)."""
    x, y, batch = _data()
    torch.manual_seed(0)
    model = MultiTaskModel(get_encoder("mlp", input_dim=6, hidden_dims=[8]),
                           {"y": get_head("linear", 8, 1), "batch": get_head(batch_head, 8, 2)})
    train = [{"inputs": x[i:i + 50], "targets": {"y": y[i:i + 50], "batch": batch[i:i + 50]}}
             for i in range(0, 400, 50)]
    trainer = Trainer(model, TASKS, TrainConfig(epochs=40, lr=2e-2, seed=0)).fit(train)
    test = trainer.evaluate([{"inputs": x[400:], "targets": {"y": y[400:],
                                                             "batch": batch[400:]}}])
    with torch.no_grad():
        z = model.encoder(x).numpy()
    # a fresh probe trained on the frozen shared features: how much batch is still in them
    probe = LogisticRegression(max_iter=2000).fit(z[:400], batch[:400].numpy())
    return probe.score(z[400:], batch[400:].numpy()), test


def test_adversarial_head_scrubs_the_batch_from_the_shared_features():
    plain_probe, plain = _train("mlp")
    adv_probe, adv = _train("adversarial")
    # measured: a plain batch head leaves the batch readable (probe 0.910 on 200 test
    # samples; Bayes limit Phi(1.5 sqrt(3) / 2) = 0.903); the adversary brings the probe down
    # to 0.760 and its own accuracy to 0.560 (chance 0.5), while y keeps Pearson r 0.995
    assert plain_probe >= 0.88
    assert adv_probe <= 0.80
    assert plain_probe - adv_probe >= 0.10
    assert adv["batch"]["accuracy"] <= 0.65
    assert adv["y"]["pearson"] >= 0.99
    assert plain["y"]["pearson"] >= 0.99


def test_adversarial_head_reverses_the_gradient_only():
    torch.manual_seed(0)
    head = get_head("adversarial", 4, 3, alpha=0.5, hidden_dims=[])
    assert isinstance(head, AdversarialHead)
    assert isinstance(head.net[0], GradientReversal)
    h = torch.randn(2, 4, requires_grad=True)
    out = head(h)
    linear = head.net[-1]
    torch.testing.assert_close(out, h @ linear.weight.T + linear.bias)  # forward: plain map
    out.sum().backward()
    # backward into the features: -alpha * W^T 1 for every sample
    expected = -0.5 * linear.weight.sum(0).expand(2, 4)
    torch.testing.assert_close(h.grad, expected)
    assert linear.weight.grad is not None  # the adversary itself learns normally


def test_adversarial_head_from_config():
    config = parse_config({
        "model": {"task_heads": {"site": {"name": "adversarial", "alpha": 0.3}}},
        "tasks": [{"name": "y", "kind": "regression"},
                  {"name": "site", "kind": "classification", "n_outputs": 4}],
    })
    from bio_mtl.mtl.architectures import build_model
    from bio_mtl.mtl.experiment import resolve_config
    from bio_mtl.mtl.synthetic import make_synthetic

    data = make_synthetic(config.tasks, n_samples=8, n_features=5, seed=0)
    model = build_model(resolve_config(config, data).model, config.tasks)
    assert isinstance(model.heads["site"], AdversarialHead)
    assert model.heads["site"].net[0].alpha == 0.3
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        parse_config({"model": {"task_heads": {"y": {"name": "adversarial", "alpha": 0}}},
                      "tasks": [{"name": "y", "kind": "regression"}]})
