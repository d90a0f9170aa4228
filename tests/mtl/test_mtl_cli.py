"""``biomtl mtl``: train / evaluate / negative-transfer / pareto through CliRunner."""

from __future__ import annotations

import json
import sys

import pytest
import torch
import yaml

from bio_mtl.cli.main import cli

CONFIG = {
    "data": {"n_samples": 160, "n_features": 6, "seed": 2},
    "model": {"encoder": "mlp", "encoder_params": {"hidden_dims": [16]},
              "task_heads": {"r": {"name": "bounded", "lower": -5.0, "upper": 5.0}}},
    "tasks": [{"name": "c", "kind": "classification", "n_outputs": 3},
              {"name": "r", "kind": "regression", "metrics": ["pearson", "mae"]}],
    "training": {"epochs": 2, "batch_size": 32, "lr": 0.01},
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is fastest on the shared 2-core CI machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_train_then_evaluate_reproduces_the_metrics(runner, config_file, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(cli, ["mtl", "train", "--config", str(config_file), "--out", str(out),
                              "--seed", "3"])
    assert res.exit_code == 0, res.output + res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.json",
                                                     "model.safetensors", "report.md"]
    doc = json.loads((out / "config.json").read_text())
    assert doc["kind"] == "mtl"
    assert doc["seed"] == 3
    assert doc["config"]["training"]["seed"] == 3
    assert doc["config"]["model"]["encoder_params"]["input_dim"] == 6
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {"train", "val", "test"}
    assert "| test | r | pearson |" in (out / "report.md").read_text()

    res = runner.invoke(cli, ["mtl", "evaluate", "--model", str(out), "-o",
                              str(tmp_path / "eval.json")])
    assert res.exit_code == 0, res.output + res.stderr
    again = json.loads((tmp_path / "eval.json").read_text())
    assert again["test"]["c"]["accuracy"] == metrics["test"]["c"]["accuracy"]
    assert again["test"]["r"]["pearson"] == pytest.approx(metrics["test"]["r"]["pearson"],
                                                          abs=1e-6)
    assert "pearson" in res.output
    assert "cli" not in sys.modules  # cli/ is only ever imported as bio_mtl.cli


def test_bad_config_exits_4_and_writes_nothing(runner, tmp_path):
    doc = dict(CONFIG, model={"encoder": "gru"})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    res = runner.invoke(cli, ["mtl", "train", "--config", str(path), "--out", str(out)])
    assert res.exit_code == 4
    assert f"{path}: model.encoder: unknown 'gru'; choose one of mlp, cnn" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_csv_column_exits_3_and_writes_nothing(runner, tmp_path):
    (tmp_path / "d.csv").write_text("f1,f2,c\n1,2,0\n3,4,1\n5,6,0\n")
    doc = dict(CONFIG, data={"source": "csv", "path": "d.csv", "val_fraction": 0.0,
                             "test_fraction": 0.0})
    path = tmp_path / "csv.yaml"
    path.write_text(yaml.safe_dump(doc))
    res = runner.invoke(cli, ["mtl", "train", "--config", str(path), "--out",
                              str(tmp_path / "run")])
    assert res.exit_code == 3
    assert "d.csv: no column 'r'; columns are f1, f2, c" in res.stderr
    assert not (tmp_path / "run").exists()


def test_evaluate_rejects_a_foreign_folder(runner, tmp_path):
    res = runner.invoke(cli, ["mtl", "evaluate", "--model", str(tmp_path)])
    assert res.exit_code == 4
    assert "no config.json; not a bio_mtl checkpoint" in res.stderr


def test_negative_transfer_and_pareto_commands(runner, config_file, tmp_path):
    out = tmp_path / "nt"
    res = runner.invoke(cli, ["-q", "mtl", "negative-transfer", "--config", str(config_file),
                              "--out", str(out), "--epochs", "1"])
    assert res.exit_code == 0, res.output + res.stderr
    doc = json.loads((out / "negative_transfer.json").read_text())
    assert [r["task"] for r in doc["tasks"]] == ["c", "r"]
    assert "Delta_m" in (out / "negative_transfer.md").read_text()

    out = tmp_path / "pareto"
    res = runner.invoke(cli, ["-q", "mtl", "pareto", "--config", str(config_file),
                              "--out", str(out), "--points", "2", "--epochs", "1"])
    assert res.exit_code == 0, res.output + res.stderr
    doc = json.loads((out / "pareto.json").read_text())
    assert [p["weights"] for p in doc["points"]] == [[0.0, 1.0], [1.0, 0.0]]
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", ["train", "evaluate", "negative-transfer", "pareto"])
def test_help_has_an_example(runner, command):
    res = runner.invoke(cli, ["mtl", command, "--help"])
    assert res.exit_code == 0
    assert "Example:" in res.output
    assert f"biomtl mtl {command}" in res.output
