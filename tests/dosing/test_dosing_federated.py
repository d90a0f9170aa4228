"""Federated dosing with Flower: strategies, pooled statistics, and real Flower runs.

The slow tests run real Flower federations on toy cohorts from bio_mtl.dosing.simulate: the
Simulation Runtime (Ray), and the Deployment Runtime on localhost (a flower-superlink, one
flower-supernode per site and ``flwr run``). Skipped only when the ``federated`` extra (flwr)
is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("flwr")

from bio_mtl.cli.main import cli
from bio_mtl.dosing import federated
from bio_mtl.dosing._fl_client import BIN_WIDTH, _prox_hooks, _stats
from bio_mtl.dosing._fl_server import _pooled, histogram_quantile
from bio_mtl.dosing._fl_strategies import FEDERATED_STRATEGIES, get_strategy
from bio_mtl.dosing.conformal import conformal_quantile
from bio_mtl.dosing.federated import FederatedConfig, split_sites, train_federated
from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.simulate import simulate_cohort
from bio_mtl.errors import ConfigError, InputError


class _Grid:
    def get_node_ids(self):
        return [11, 12]


def test_strategy_registry_matches_the_public_names_and_declares_local_parts():
    assert tuple(FEDERATED_STRATEGIES) == federated.FEDERATED_STRATEGIES
    assert {k: v.local_prefix for k, v in FEDERATED_STRATEGIES.items()} == \
        {"fedavg": "", "fedprox": "", "personalised": "heads."}
    with pytest.raises(ConfigError, match="valid: fedavg, fedprox, personalised"):
        get_strategy("fedsgd", n_sites=2)
    with pytest.raises(ConfigError, match="unknown federated strategy"):
        FederatedConfig(strategy="fedsgd")


def _configured(strategy):
    """``(record, node ids)`` configure_train would send (Messages need a running Flower)."""
    from flwr.app import ArrayRecord, ConfigRecord

    strategy._construct_messages = lambda record, nodes, kind: [(record, nodes)]
    [(record, nodes)] = strategy.configure_train(1, ArrayRecord({"w": torch.zeros(2)}),
                                                 ConfigRecord(), _Grid())
    return record, nodes


def test_fedprox_sends_its_mu_to_every_site():
    record, nodes = _configured(get_strategy("fedprox", n_sites=2, proximal_mu=0.25))
    assert sorted(nodes) == [11, 12]
    assert record["config"]["proximal-mu"] == 0.25
    record, _ = _configured(get_strategy("fedavg", n_sites=2))
    assert "proximal-mu" not in record["config"]


def test_proximal_hook_adds_the_gradient_of_mu_half_squared_distance():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    anchor = [p.detach().clone() for p in layer.parameters()]
    hooks = _prox_hooks(layer, 0.3)  # anchored at the global weights it was given
    with torch.no_grad():  # local training moved the weights
        for p in layer.parameters():
            p.add_(0.5)
    x = torch.randn(8, 3)
    layer(x).pow(2).mean().backward()
    hooked = [p.grad.clone() for p in layer.parameters()]
    for h in hooks:
        h.remove()
    layer.zero_grad()
    loss = layer(x).pow(2).mean() + 0.15 * sum(((p - a) ** 2).sum()
                                                for p, a in zip(layer.parameters(), anchor,
                                                                strict=True))
    loss.backward()
    for a, p in zip(hooked, layer.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad)


def test_histogram_quantile_is_the_conformal_quantile_rounded_up_to_a_bin():
    r = np.abs(np.random.default_rng(0).normal(0, 1.2, 500))
    counts = np.bincount((r / BIN_WIDTH).astype(int), minlength=2000)
    exact = conformal_quantile(r, 0.1)
    assert exact <= histogram_quantile(counts, 0.1) <= exact + BIN_WIDTH
    assert histogram_quantile([3, 0, 0], 0.1) == float("inf")   # too few residuals


class _Reply:
    def __init__(self, metrics, site, drugs):
        self.content = {"metrics": metrics, "site": {"site": site, "drugs": drugs}}


def test_pooled_sums_give_the_centralised_standardisation():
    rows = simulate_cohort({"warfarin": 60}, seed=1)
    rows.loc[rows.index[:7], "height_cm"] = np.nan
    # CYP4F2 typed at site b only, CYP2C19 nowhere: only CYP2C19 stays untrained
    a = rows.iloc[:25].drop(columns=["cyp2c19", "cyp4f2"])
    b = rows.iloc[25:].drop(columns=["cyp2c19"])
    settings = {"model": {"target": "sqrt"}}
    pooled = _pooled([_Reply(dict(_stats(a, settings)), "a", "warfarin"),
                      _Reply(dict(_stats(b, settings)), "b", "warfarin")], settings)
    h = rows["height_cm"]
    filled = h.fillna(h.mean())
    std = pooled["standardisation"]["height_cm"]
    assert std["mean"] == pytest.approx(h.mean())
    assert std["std"] == pytest.approx(filled.std(ddof=0))
    assert pooled["sites"] == {"a": 25, "b": 35}
    assert pooled["untrained_genes"] == ["CYP2C19"]
    assert pooled["intercepts"]["warfarin"] == pytest.approx(
        np.sqrt(rows["dose_mg_per_week"]).mean())


def test_split_sites_reads_the_iwpc_site_column_and_needs_two_sites():
    rows = simulate_cohort({"warfarin": 6}, seed=0)
    rows["site"] = ["3", "3", "7", "3", "7", "9"]
    sites = split_sites(rows, "Project Site")
    assert list(sites) == ["3", "7", "9"]
    assert len(sites["3"]) == 3
    with pytest.raises(InputError, match="at least two sites"):
        split_sites(rows.assign(site="1"), "site")
    with pytest.raises(InputError, match="no site column 'hospital'"):
        split_sites(rows, "hospital")


def test_cli_federated_options_need_federated(tmp_path):
    result = CliRunner().invoke(cli, ["train-dose", "--data", "iwpc", "--out",
                                      str(tmp_path / "m"), "--rounds", "3"])
    assert result.exit_code == 2
    assert "--rounds need --federated" in result.output
    result = CliRunner().invoke(cli, ["train-dose", "--data", "iwpc", "--out",
                                      str(tmp_path / "m"), "--federated", "--add-to",
                                      "warfarin_iwpc_v1"])
    assert result.exit_code == 2
    assert "--federated cannot be combined with --add-to" in result.output


# -- real Flower runs ------------------------------------------------------------------------
# Flower's Simulation Runtime starts Ray in the calling process (its own signal handlers,
# psutil file handles it never closes), so simulations run in a child process here.

_EDGE_RUN = """
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
from bio_mtl.dosing import federated
from bio_mtl.dosing.simulate import simulate_cohort

tmp = Path(sys.argv[1])
rows = simulate_cohort({"warfarin": 500}, seed=3)
asian = rows[rows["ancestry"] == "asian"].iloc[:60]
other = rows[rows["ancestry"] != "asian"]
sites = {"big": other.iloc[:150], "asian": asian, "tiny": other.iloc[150:153],
         "flaky": other.iloc[153:233]}
names = list(sites)
calls = tmp / "flaky_calls"

def load(context):
    name = names[int(context.node_config["partition-id"])]
    if name == "flaky":  # answers the statistics query and round 1, then drops out
        with calls.open("a") as handle:
            handle.write("x")
        if len(calls.read_text()) > 2:
            raise ConnectionError("site flaky went offline")
    return name, sites[name]

config = federated.FederatedConfig(strategy="personalised", rounds=3, local_epochs=2)
settings = federated._settings(config, {"target": "sqrt"}, len(sites), "simulation")
out = federated._simulate(load, settings, tmp / "sites", verbose=False)
model = federated._global_model(out)
model.save(tmp / "global")
pd.concat(sites.values()).to_csv(tmp / "everyone.csv", index=False)
(tmp / "run.json").write_text(json.dumps({k: out[k] for k in ("history", "cost")}
                                         | {"sites": out["settings"]["sites"]}))
"""


def _python(*args, cwd=None):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=1500, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_simulation_personalised_with_tiny_one_ancestry_and_dropout_sites(tmp_path):
    _python("-c", _EDGE_RUN, tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    model = DosingModel.load(tmp_path / "global")
    assert run["sites"] == {"big": 150, "asian": 60, "tiny": 3, "flaky": 80}
    assert [(h["replies"], h["failed"]) for h in run["history"]] == [(4, 0), (3, 1), (3, 1)]
    assert run["cost"]["failed_replies"] == 3   # rounds 2 and 3, and the final residual query
    everyone = pd.read_csv(tmp_path / "everyone.csv", dtype={"cyp2c9": str})
    assert np.isfinite(model.predict(everyone)).all()
    # only the all-Asian site trains the Asian-specific VKORC1 input of the shared layer
    enc = model.module_.encoder
    j = list(enc.pathways).index("VKORC1 sensitivity")
    i = enc.genetic_inputs.index("vkorc1_a_asian")
    assert abs(float(enc.weights()[i, j])) > 1e-3
    # each site that answered the last query saved its own head next to the shared layer
    saved = sorted(p.name for p in (tmp_path / "sites").iterdir())
    assert saved == ["asian", "big", "tiny"]
    own = DosingModel.load(tmp_path / "sites" / "asian")
    assert own.metadata_["federated_site"] == "asian"
    torch.testing.assert_close(own.module_.encoder.raw, model.module_.encoder.raw)
    assert not torch.equal(own.module_.heads["warfarin"].linear.weight,
                           model.module_.heads["warfarin"].linear.weight)


def _train_two_sites(tmp_path, strategy, *, seed, sites, first):
    """``biomtl train-dose --federated`` for one round over 120 simulated patients, the first
    ``first`` at ``sites[0]``; returns the cohort, the output folder and the finished process."""
    rows = simulate_cohort({"warfarin": 120}, seed=seed)
    rows["site"] = np.where(np.arange(120) < first, *sites)
    data = tmp_path / "cohort.csv"
    rows.drop(columns=["stable"]).to_csv(data, index=False)
    out = tmp_path / "fed"
    done = _python("-m", "bio_mtl.cli", "train-dose", "--data", data, "--federated",
                   "--site-column", "site", "--rounds", "1", "--strategy", strategy,
                   "--out", out)
    return rows, out, done


@pytest.mark.slow
def test_cli_simulation_equals_the_deployment_runtime_on_localhost(tmp_path):
    rows, out, done = _train_two_sites(tmp_path, "fedprox", seed=5, sites=("north", "south"),
                                       first=70)
    assert "federated fedprox over 2 sites (north: 70, south: 50), 1 rounds" in done.stderr
    sim = DosingModel.load(out)
    record = json.loads((Path(out) / "config.json").read_text())["federated"]
    assert record["cost"]["failed_replies"] == 0
    assert record["history"][0]["replies"] == 2
    # the Deployment Runtime: a flower-superlink, two flower-supernodes and flwr run
    deployed = train_federated(split_sites(rows, "site"),
                               config=FederatedConfig(strategy="fedprox", rounds=1),
                               runtime="deployment")
    np.testing.assert_allclose(deployed.model.predict(rows), sim.predict(rows), rtol=1e-5)
    assert deployed.model.conformal_q_ == pytest.approx(sim.conformal_q_)
    assert deployed.cost["bytes_up"] == record["cost"]["bytes_up"]


@pytest.mark.slow
def test_cli_personalised_saves_each_site_model_under_out_sites(tmp_path):
    _, out, done = _train_two_sites(tmp_path, "personalised", seed=6, sites=("east", "west"),
                                    first=60)
    assert f"(site models in {out}/sites)" in done.stderr
    assert sorted(p.name for p in (out / "sites").iterdir()) == ["east", "west"]
    shared = DosingModel.load(out)
    for site in ("east", "west"):
        own = DosingModel.load(out / "sites" / site)
        assert own.metadata_["federated_site"] == site
        torch.testing.assert_close(own.module_.encoder.raw, shared.module_.encoder.raw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.csv", "fed"]
