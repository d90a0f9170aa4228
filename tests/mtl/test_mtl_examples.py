"""The shipped examples run: the YAML through the CLI and through the Python API."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bio_mtl.cli.main import cli
from bio_mtl.mtl.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["synthetic.yaml", "csv_tasks.yaml"])
def test_example_configs_train_through_the_cli(runner, tmp_path, name):
    out = tmp_path / "run"
    res = runner.invoke(cli, ["-q", "mtl", "train", "--config", str(EXAMPLES / name),
                              "--out", str(out), "--epochs", "2"])
    assert res.exit_code == 0, res.output + res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    config = load_config(EXAMPLES / name)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert set(metrics["metrics"]["test"]) == {t.name for t in config.tasks} | {"loss"}


def test_custom_mtl_from_yaml_script_matches_the_cli(runner, tmp_path):
    spec = importlib.util.spec_from_file_location("custom_mtl_example",
                                                  EXAMPLES / "custom_mtl_from_yaml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    api = module.main([str(EXAMPLES / "synthetic.yaml"), str(tmp_path / "api"),
                       "--epochs", "2"])
    res = runner.invoke(cli, ["-q", "mtl", "train", "--config", str(EXAMPLES / "synthetic.yaml"),
                              "--out", str(tmp_path / "cli"), "--epochs", "2"])
    assert res.exit_code == 0, res.stderr
    cli_test = json.loads((tmp_path / "cli" / "metrics.json").read_text())["metrics"]["test"]
    # same config and seed through both entry points: the same model and metrics
    assert api["group"]["accuracy"] == cli_test["group"]["accuracy"]
    assert api["level"]["pearson"] == pytest.approx(cli_test["level"]["pearson"], abs=1e-6)
