"""YAML/JSON experiment configs: round trip and error messages naming file, key and choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bio_mtl.errors import ConfigError
from bio_mtl.mtl.config import config_to_dict, load_config, parse_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _write(tmp_path, doc, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if name.endswith(".yaml") else json.dumps(doc))
    return path


def _doc():
    return yaml.safe_load((EXAMPLES / "synthetic.yaml").read_text())


def test_example_config_loads_with_its_values():
    cfg = load_config(EXAMPLES / "synthetic.yaml")
    assert [t.name for t in cfg.tasks] == ["group", "level"]
    assert cfg.tasks[0].n_outputs == 3
    assert cfg.tasks[1].metrics == ("pearson", "mae")
    assert cfg.model.encoder_params == {"hidden_dims": [64, 32], "dropout": 0.0}
    assert cfg.training.epochs == 15
    assert cfg.training.lr == 0.003
    assert cfg.data.missing == 0.1


def test_round_trip_through_json(tmp_path):
    cfg = load_config(EXAMPLES / "csv_tasks.yaml")
    again = load_config(_write(tmp_path, config_to_dict(cfg), "exp.json"))
    assert again == cfg
    assert Path(cfg.data.path).is_absolute()
    assert Path(cfg.data.path).is_file()


@pytest.mark.parametrize(("section", "key", "valid"), [
    ("data", "n_sample", "n_samples"),
    ("model", "encoders", "encoder_params"),
    ("training", "epoch", "epochs"),
])
def test_unknown_keys_name_file_key_and_valid_keys(tmp_path, section, key, valid):
    doc = _doc()
    doc[section][key] = 1
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {section}: unknown key(s) {key}; valid keys: ")
    assert valid in msg


def test_unknown_section_and_task_key(tmp_path):
    doc = _doc()
    doc["optimiser"] = {}
    with pytest.raises(ConfigError, match=r"unknown section\(s\) optimiser; valid sections: "
                                          "data, model, tasks, training"):
        parse_config(doc, source="x.yaml")
    doc = _doc()
    doc["tasks"][0]["classes"] = 3
    with pytest.raises(ConfigError, match=r"x.yaml: task 'group': unknown key\(s\) classes"):
        parse_config(doc, source="x.yaml")


@pytest.mark.parametrize(("path", "value", "message"), [
    (("model", "encoder"), "gru", "model.encoder: unknown 'gru'; choose one of mlp, cnn, "
                                  "bilstm, transformer"),
    (("model", "head"), "deep", "model.head: unknown 'deep'; choose one of linear, mlp, bounded"),
    (("data", "source"), "parquet",
     "data.source: unknown 'parquet'; choose one of synthetic, csv"),
    (("training", "weighting"), "magic", "training.weighting: unknown 'magic'; choose one of"),
    (("training", "lr"), -1.0, "training: lr must be a positive number"),
    (("data", "val_fraction"), 0.9, "each in \\[0, 1\\) and together below 1"),
    (("model", "encoder_params"), {"hidden_dims": [0]}, "hidden_dims must list"),
])
def test_bad_values_name_key_and_choices(path, value, message):
    doc = _doc()
    doc[path[0]][path[1]] = value
    with pytest.raises(ConfigError, match=f"^cfg.yaml: .*{message}"):
        parse_config(doc, source="cfg.yaml")


def test_task_level_errors():
    doc = _doc()
    doc["tasks"].append(dict(doc["tasks"][0]))
    with pytest.raises(ConfigError, match="duplicated task name"):
        parse_config(doc)
    doc = _doc()
    doc["model"]["task_heads"] = {"nope": {"name": "linear"}}
    with pytest.raises(ConfigError, match=r"model.task_heads: unknown task\(s\) nope; tasks are "
                                          "group, level"):
        parse_config(doc)
    doc = _doc()
    doc["tasks"][0]["kind"] = "token_classification"
    with pytest.raises(ConfigError, match="token-level"):
        parse_config(doc)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=f"{bad}: not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize(("path", "value", "message"), [
    (("training", "epochs"), "fifteen", "training.epochs: expected an integer, got 'fifteen'"),
    (("training", "patience"), 5.0, r"training.patience: expected an integer or null, got 5.0"),
    (("training", "lr"), "3e-3", "training.lr: expected a number, got '3e-3' "
                                 r"\(YAML reads a number like 1e-3 without a decimal point"),
    (("data", "standardize"), "no", "data.standardize: expected a boolean"),
    (("model", "encoder_params"), {"hidden_dims": [64, 32.5]},
     r"model.encoder_params.hidden_dims: expected a list of integers, got \[64, 32.5\]"),
])
def test_mistyped_values_name_key_type_and_cause(path, value, message):
    doc = _doc()
    doc[path[0]][path[1]] = value
    with pytest.raises(ConfigError, match=f"^cfg.yaml: {message}"):
        parse_config(doc, source="cfg.yaml")


@pytest.mark.parametrize(("change", "message"), [
    ({"n_outputs": 3.5}, "task 'group': n_outputs: expected an integer, got 3.5"),
    ({"labels": [True, False, "maybe"]}, r"task 'group': labels: expected a list of strings or "
                                         r"null, got \[True, False, 'maybe'\] \(YAML reads "
                                         "unquoted yes/no"),
    ({"kind": None}, "task 'group': kind: expected a string"),
    ({"weight": "1"}, "task 'group': weight: expected a number"),
])
def test_mistyped_task_values(change, message):
    doc = _doc()
    doc["tasks"][0].update(change)
    with pytest.raises(ConfigError, match=f"^cfg.yaml: {message}"):
        parse_config(doc, source="cfg.yaml")
    doc = _doc()
    del doc["tasks"][0]["kind"]
    with pytest.raises(ConfigError, match="^cfg.yaml: task 'group': missing required key.*kind"):
        parse_config(doc, source="cfg.yaml")


def test_weighting_and_monitor_are_checked_when_the_file_is_read():
    doc = _doc()
    doc["training"].update(weighting="dwa", weighting_params={"tau": 2})
    with pytest.raises(ConfigError, match=r"^cfg.yaml: weighting 'dwa': unknown parameter\(s\) "
                                          "tau; valid: temperature"):
        parse_config(doc, source="cfg.yaml")
    doc = _doc()
    doc["training"]["monitor"] = "group/auc"
    with pytest.raises(ConfigError, match="^cfg.yaml: training: unknown monitor 'group/auc'; "
                                          "choose one of loss, group/accuracy"):
        parse_config(doc, source="cfg.yaml")
    doc["training"]["monitor"] = "level/mae"
    assert parse_config(doc).training.monitor == "level/mae"


def test_programmatic_task_spec_rejects_a_fractional_class_count():
    from bio_mtl.mtl import TaskSpec

    with pytest.raises(ConfigError, match="n_outputs must be an integer, got 2.5"):
        TaskSpec("x", "classification", n_outputs=2.5)
    import numpy as np

    assert TaskSpec("x", "classification", n_outputs=np.int64(3)).n_outputs == 3
