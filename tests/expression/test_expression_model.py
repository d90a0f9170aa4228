"""ExpressionModel: the estimator contract, label masking, the engine's blocks, checkpoints old
and new."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dissect"


@pytest.fixture(scope="module")
def counts():
    from bio_mtl.dissect import simulate_expression

    return simulate_expression(300, seed=7)


def test_missing_labels_are_masked_not_dropped(counts):
    from bio_mtl.expression import ExpressionModel
    from bio_mtl.expression.data import encode_task

    adata = counts[:96].copy()
    adata.obs.loc[adata.obs_names[::3], "age"] = np.nan  # a third of the ages unknown
    n_no_response = int(adata.obs["response"].isna().sum())  # healthy: no response label
    assert 0 < n_no_response < 96
    spec, codes, info = encode_task(adata, "response", "classification")
    assert int((codes == -100).sum()) == n_no_response
    assert info["labels"] == ["non-responder", "responder"]
    spec, ages, info = encode_task(adata, "age", "regression")
    assert int(np.isnan(ages).sum()) == 32
    assert info["mean"] == pytest.approx(np.nanmean(adata.obs["age"]))
    model = ExpressionModel(latent_dim=3, hidden_dim=8, val_fraction=0.0, epochs=2,
                            batch_size=16, lr=1e-3, seed=0)
    assert model.fit(adata, {"age": "regression", "response": "classification"}) is model
    # every sample is in every epoch: 96 / 16 = 6 steps, not fewer for unlabelled samples
    assert [rec["step"] for rec in model.history_] == [6, 12]
    assert all(math.isfinite(rec["train_loss"]) for rec in model.history_)
    assert model.transform(adata)[0].shape == (96, 3)


def test_training_is_seeded_and_checkpoint_round_trips(tmp_path):
    from bio_mtl.dissect import simulate_expression
    from bio_mtl.expression import ExpressionModel
    from bio_mtl.mtl import read_config

    adata = simulate_expression(200, seed=0)
    tasks = {"age": "regression", "response": "classification"}  # response: NaN for healthy
    fits = [ExpressionModel(latent_dim=4, hidden_dim=16, epochs=3, batch_size=64, lr=1e-3,
                            seed=3).fit(adata, tasks) for _ in range(2)]
    z0, z1 = (m.transform(adata)[0] for m in fits)
    np.testing.assert_array_equal(z0, z1)
    other = ExpressionModel(latent_dim=4, hidden_dim=16, epochs=3, batch_size=64, lr=1e-3,
                            seed=4).fit(adata, tasks)
    assert not np.allclose(other.transform(adata)[0], z0)  # the seed does act
    fits[0].save(tmp_path / "m")
    loaded = ExpressionModel.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.transform(adata)[0], z0)
    np.testing.assert_array_equal(loaded.gene_loadings(), fits[0].gene_loadings())
    conf = read_config(tmp_path / "m", kind="expression")
    assert conf["config"]["params"] == fits[0].get_params() == loaded.get_params()
    assert conf["config"]["model"]["latent_dim"] == 4  # the old section stays for readers
    assert conf["config"]["preprocessing"]["input"] == "counts"
    assert conf["config"]["preprocessing"]["target_sum"] == 1e4
    assert conf["seed"] == 3
    assert conf["training"]["lr"] == 1e-3
    assert len(conf["config"]["preprocessing"]["genes"]) == adata.n_vars
    assert loaded.history_ == fits[0].history_


def test_v0_checkpoint_loads_and_reproduces_its_outputs_exactly():
    """A checkpoint written by ``bio_mtl.dissect.expression`` (before the move) still loads."""
    from bio_mtl.dissect import simulate_expression
    from bio_mtl.expression import ExpressionModel

    recorded = json.loads((FIXTURE / "outputs.json").read_text())["expression"]
    model = ExpressionModel.load(FIXTURE / "expression_v0")
    assert model.get_params() == {**ExpressionModel().get_params(), "latent_dim": 3,
                                  "hidden_dim": 8, "n_top_genes": 60, "adversarial_batch": True,
                                  "val_fraction": 0.0, "epochs": 2, "batch_size": 16,
                                  "lr": 1e-3}
    held = simulate_expression(40, seed=22)
    z, x, _ = model.transform(held)
    np.testing.assert_array_equal(z, np.array(recorded["latent"]))
    np.testing.assert_array_equal(model.gene_loadings(), np.array(recorded["loadings"]))
    assert model.genes_ == recorded["genes"]
    onehot = torch.nn.functional.one_hot(torch.as_tensor(held.obs["batch"].cat.codes.to_numpy(),
                                                         dtype=torch.long), 2).float()
    with torch.inference_mode():
        out = model.network_(torch.as_tensor(x), condition=onehot,
                             tasks=["age", "disease", "reconstruction"])
    for task, values in recorded["heads"].items():
        np.testing.assert_array_equal(out[task].numpy(), np.array(values, dtype=np.float32))


def test_network_is_built_from_the_engine_registries():
    from bio_mtl.expression import ExpressionConfig, build_network
    from bio_mtl.expression.network import ExpressionEncoder
    from bio_mtl.mtl import ENCODERS, TaskSpec
    from bio_mtl.mtl._layers import resolve_entry
    from bio_mtl.mtl.heads import AdversarialHead, LinearHead

    assert resolve_entry(ENCODERS["expression"])[1] is ExpressionEncoder
    tasks = [TaskSpec("age", "regression", 1), TaskSpec("reconstruction", "regression", 5),
             TaskSpec("batch_adversary", "classification", 3)]
    torch.manual_seed(0)
    net = build_network(5, tasks, ExpressionConfig(latent_dim=2, hidden_dim=4,
                                                   adversarial_batch=True, adversary_alpha=0.5),
                        n_batches=3)
    assert isinstance(net.heads["reconstruction"], LinearHead)
    assert isinstance(net.heads["age"].head, LinearHead)
    assert isinstance(net.heads["batch_adversary"].head, AdversarialHead)
    assert net.heads["reconstruction"].net[1].in_features == 2 + 3  # z and the batch one-hot
    # the adversary reads z only and sends back -alpha times its gradient
    z = torch.randn(4, 2, requires_grad=True)
    feats = torch.cat([z, torch.eye(3)[[0, 1, 2, 0]]], dim=1)
    net.heads["batch_adversary"](feats).sum().backward()
    reversed_grad = z.grad.clone()
    z.grad = None
    plain = net.heads["batch_adversary"].head.net[1:]  # the same layers, no reversal
    plain(z).sum().backward()
    torch.testing.assert_close(reversed_grad, -0.5 * z.grad)


def test_errors_name_the_problem(counts):
    from bio_mtl.errors import ConfigError, InputError, NotFittedError
    from bio_mtl.expression import ExpressionModel

    small = counts[:30].copy()
    with pytest.raises(ConfigError, match="adversarial_batch needs a batch key"):
        ExpressionModel(adversarial_batch=True).fit(small, {"age": "regression"})
    with pytest.raises(ConfigError, match="unknown rotation 'promax'"):
        ExpressionModel(rotation="promax").fit(small, {"age": "regression"})
    with pytest.raises(ConfigError, match="unknown kind 'ordinal'"):
        ExpressionModel().fit(small, {"age": "ordinal"})
    small.obs["reconstruction"] = 1.0
    with pytest.raises(ConfigError, match="'reconstruction' is reserved"):
        ExpressionModel().fit(small, {"reconstruction": "regression"})
    with pytest.raises(InputError, match="batch key 'lane' is not in obs"):
        ExpressionModel(epochs=1).fit(small, {"age": "regression"}, batch_key="lane")
    with pytest.raises(NotFittedError, match="ExpressionModel is not fitted"):
        ExpressionModel().transform(small)
