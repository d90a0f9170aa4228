import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bio_mtl.cli.main import cli
from bio_mtl.errors import CheckpointError, ConfigError
from bio_mtl.structure import StructureModelConfig, build_structure_model, load_model
from bio_mtl.structure.alphabet import PAD_INDEX, SS8_TO_SS3_INDEX, encode_sequence
from bio_mtl.structure.ensemble import StructureEnsemble, save_structure_ensemble
from bio_mtl.structure.estimator import StructureEnsembleModel, StructureModel
from bio_mtl.structure.predict import predict_structure

SEQS = [("a", "MKTAYIAKQRQISFVKSHFSRQ"), ("b", "GSHMLEDPVDAFQ"), ("c", "ACDEFGHIKLMNPQRSTVWY" * 3)]


def _model(seed, **kw):
    torch.manual_seed(seed)
    cfg = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                               dilations=(1,), lstm_layers=0, dropout=0.0, **kw)
    return StructureModel.from_network(build_structure_model(cfg), cfg)


@pytest.fixture
def members(tmp_path):
    """Two saved members: one with its own SS3 head, one deriving SS3 from SS8."""
    a, b = _model(0), _model(1, ss3_source="ss8")
    return [a.save(tmp_path / "a"), b.save(tmp_path / "b")]


def _probs(model):
    preds = predict_structure(SEQS, model)
    return ([p.ss8_probs for p in preds], [p.ss3_probs for p in preds], [p.rsa for p in preds])


def test_ensemble_is_the_mean_of_member_probabilities(members):
    a, b = load_model(members[0]), load_model(members[1])
    (a8, a3, ar), (b8, b3, br) = _probs(a), _probs(b)
    e8, e3, er = _probs(StructureEnsembleModel.from_members([a, b]))
    for i in range(len(SEQS)):
        np.testing.assert_allclose(e8[i], (a8[i] + b8[i]) / 2, atol=1e-6)
        np.testing.assert_allclose(e3[i], (a3[i] + b3[i]) / 2, atol=1e-6)
        np.testing.assert_allclose(er[i], (ar[i] + br[i]) / 2, atol=1e-6)
    # member b has no SS3 of its own: its share is its summed SS8 probabilities
    summed = np.zeros((len(SEQS[0][1]), 3), dtype=np.float32)
    np.add.at(summed.T, SS8_TO_SS3_INDEX, b8[0].T)
    np.testing.assert_allclose(b3[0], summed, atol=1e-6)
    assert not np.allclose(a3[0], summed, atol=1e-3)  # a uses its SS3 head


def test_saved_ensemble_loads_and_predicts_the_same(members, tmp_path):
    out = save_structure_ensemble(members, tmp_path / "ens", metadata={"note": "test"})
    doc = json.loads((out / "config.json").read_text())
    assert doc["kind"] == "structure-ensemble"
    assert doc["members"] == ["member_0", "member_1"]
    assert doc["note"] == "test"
    loaded = load_model(out)
    assert isinstance(loaded, StructureEnsembleModel)
    assert isinstance(loaded.module_, StructureEnsemble)
    assert [m.config_.ss3_source for m in loaded.members_] == ["head", "ss8"]
    in_memory = StructureEnsembleModel.from_members([load_model(m) for m in members])
    for x, y in zip(_probs(loaded)[0], _probs(in_memory)[0], strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(CheckpointError, match="already exists"):
        save_structure_ensemble(members, out)
    # the estimator saves the same folder layout, plus its parameters; it loads back equal
    again = loaded.save(tmp_path / "again")
    assert sorted(p.name for p in again.iterdir()) == ["config.json", "member_0", "member_1"]
    reloaded = load_model(again)
    assert reloaded.get_params() == loaded.get_params()
    for x, y in zip(_probs(reloaded)[0], _probs(loaded)[0], strict=True):
        np.testing.assert_array_equal(x, y)


def test_ensemble_encoding_concatenates_member_features(members):
    a, b = load_model(members[0]), load_model(members[1])
    ens = StructureEnsembleModel.from_members([a, b]).module_
    tokens = torch.full((2, 9), PAD_INDEX)
    tokens[0, :5] = torch.from_numpy(encode_sequence("MKTAY"))
    tokens[1] = torch.from_numpy(encode_sequence("GSHMLEDPV"))
    with torch.inference_mode():
        z = ens.encode(tokens, mask=tokens != PAD_INDEX)
        assert torch.equal(z[..., :8], a.module_.encode(tokens, mask=tokens != PAD_INDEX))
        assert torch.equal(z[..., 8:], b.module_.encode(tokens, mask=tokens != PAD_INDEX))


def test_members_must_fit_together():
    with pytest.raises(ConfigError, match="at least one"):
        StructureEnsembleModel.from_members([])
    ens = StructureEnsembleModel.from_members([_model(0), _model(1, tasks=("ss8",))])
    assert ens.module_.task_names == ["ss8", "ss3", "rsa"]  # tasks may differ
    assert ens.config_.tasks == ("ss8", "ss3", "rsa")
    features = StructureModelConfig(input_dim=4, conv_channels=8, lstm_layers=0)
    with pytest.raises(ConfigError, match="input_dim"):
        StructureEnsembleModel.from_members(
            [_model(0), StructureModel.from_network(build_structure_model(features), features)])


@pytest.mark.parametrize("members_field", [["../a"], [], "member_0", ["member_9"]])
def test_bad_ensemble_folders_are_checkpoint_errors(members, tmp_path, members_field):
    out = save_structure_ensemble(members, tmp_path / "ens")
    doc = json.loads((out / "config.json").read_text())
    doc["members"] = members_field
    (out / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError):
        load_model(out)


def test_cli_evaluates_an_ensemble_and_refuses_to_fine_tune_it(members, tmp_path, trained):
    ens = save_structure_ensemble(members, tmp_path / "ens")
    runner = CliRunner()
    r = runner.invoke(cli, ["evaluate-structure", "--model", str(ens),
                            str(trained / "test.jsonl.gz"), "-o", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    scores = json.loads((tmp_path / "m.json").read_text())["test"]
    assert 0.0 <= scores["q3"] <= 1.0
    r = runner.invoke(cli, ["train-structure", "--train", str(trained / "train.jsonl.gz"),
                            "--init-from", str(ens), "--out", str(tmp_path / "ft")])
    assert r.exit_code == 4
    assert "ensemble cannot be fine-tuned" in r.output
    assert not (tmp_path / "ft").exists()
