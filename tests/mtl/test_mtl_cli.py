"""``biomtl mtl``: train / evaluate / negative-transfer / pareto through CliRunner."""

from __future__ import annotations

import json
import sys

import pytest
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
                                                     "model.safetensors", "report.md", "state",
                                                     "train_log.jsonl"]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    assert {"train/c/loss", "val/c/accuracy", "val/r/pearson", "lr"} <= set(log[0])
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


def test_interrupted_train_resumes_to_the_same_weights(runner, config_file, tmp_path,
                                                       monkeypatch):
    from safetensors.torch import load_file

    from bio_mtl.cli.console import RichProgress

    doc = dict(CONFIG, training=dict(CONFIG["training"], epochs=4))
    config_file.write_text(yaml.safe_dump(doc))
    full, cut = tmp_path / "full", tmp_path / "cut"
    args = ["-q", "mtl", "train", "--config", str(config_file), "--out"]
    assert runner.invoke(cli, [*args, str(full)]).exit_code == 0

    def interrupt(self, record):  # the process dies while logging epoch 3
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(RichProgress, "log", interrupt)
    res = runner.invoke(cli, [*args, str(cut)])
    assert res.exit_code == 1  # click: "Aborted!"
    assert sorted(p.name for p in cut.iterdir()) == ["state"]  # no partial outputs
    monkeypatch.undo()
    res = runner.invoke(cli, [*args, str(cut)])  # the same command again resumes at epoch 3
    assert res.exit_code == 0, res.output + res.stderr
    a, b = load_file(full / "model.safetensors"), load_file(cut / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(a[k].equal(b[k]) for k in a)
    def drop_time(path):
        return [{k: v for k, v in json.loads(line).items() if k != "time_s"}
                for line in path.read_text().splitlines()]

    assert drop_time(cut / "train_log.jsonl") == drop_time(full / "train_log.jsonl")
    # other training settings on top of that state are refused, by name
    res = runner.invoke(cli, [*args, str(cut), "--seed", "5"])
    assert res.exit_code == 4
    assert "written with other training settings (seed 0 -> 5); delete it" in res.stderr


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


@pytest.mark.parametrize(("change", "code", "message"), [
    ({"training": {"epochs": "two"}}, 4, "training.epochs: expected an integer, got 'two'"),
    ({"training": {"weighting": "pcgrad", "weighting_params": {"seed": -1}}}, 4,
     r"weighting 'pcgrad': seed=-1 must lie in \[0.0, inf\]"),
    ({"tasks": [{"name": "c", "kind": "classification", "n_outputs": 2.5}]}, 4,
     "task 'c': n_outputs: expected an integer, got 2.5"),
    ({"data": {"source": "csv", "path": "d.csv"}}, 3,
     r"d.csv: cannot read CSV: not UTF-8 text \(byte 0xff at offset 2\)"),
])
def test_bad_inputs_give_one_line_and_no_output(runner, tmp_path, change, code, message):
    import re

    (tmp_path / "d.csv").write_bytes(b"\x00\x01\xff\xfe")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **change}))
    out = tmp_path / "run"
    res = runner.invoke(cli, ["mtl", "train", "--config", str(path), "--out", str(out)])
    assert res.exit_code == code, res.stderr
    assert re.search(message, res.stderr), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_evaluate_a_corrupt_checkpoint_exits_4(runner, config_file, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(cli, ["-q", "mtl", "train", "--config", str(config_file), "--out",
                               str(out)]).exit_code == 0
    (out / "model.safetensors").write_bytes(b"\x80\x04not safetensors")
    res = runner.invoke(cli, ["mtl", "evaluate", "--model", str(out), "-o",
                              str(tmp_path / "eval.json")])
    assert res.exit_code == 4
    assert res.stderr.startswith(f"Error: {out / 'model.safetensors'}: corrupt or foreign "
                                 "weights file")
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "eval.json").exists()


def test_group_help_lists_every_subcommand_on_one_untruncated_line(runner):
    from bio_mtl.cli.mtl import mtl

    res = runner.invoke(cli, ["mtl", "--help"])
    assert res.exit_code == 0
    lines = res.output.split("Commands:")[1].strip().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(mtl.commands)
    for line in lines:
        name, text = line.split(maxsplit=1)
        assert text == mtl.commands[name].short_help
        assert not text.endswith("...")
