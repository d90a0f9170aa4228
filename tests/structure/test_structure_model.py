"""The structure network: config checks, shapes, padding invariance, checkpoint round trip."""

import dataclasses
import json

import pytest
import torch

from bio_mtl.errors import CheckpointError, ConfigError
from bio_mtl.structure.alphabet import PAD_INDEX, encode_sequence
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.model import StructureModelConfig, build_structure_model
from bio_mtl.structure.pretrained import load_model

TINY = StructureModelConfig(embed_dim=8, conv_channels=12, conv_layers=2, kernel_size=3,
                            dilations=(1, 2), lstm_hidden=6, lstm_layers=1, dropout=0.1)


def test_config_validation_and_round_trip():
    with pytest.raises(ConfigError, match="unknown task"):
        StructureModelConfig(tasks=("ss8", "phi"))
    with pytest.raises(ConfigError, match="odd"):
        StructureModelConfig(kernel_size=4)
    with pytest.raises(ConfigError, match="unknown key"):
        StructureModelConfig.from_dict({"hidden": 3})
    assert StructureModelConfig.from_dict(json.loads(json.dumps(TINY.to_dict()))) == TINY


@pytest.mark.parametrize("lstm_layers", [0, 1])
def test_shapes_range_and_padding_invariance(lstm_layers):
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, lstm_layers=lstm_layers)
    model = build_structure_model(config)
    model.eval()
    short, long_ = "MKTAYIAKQR", "GSHMLEDPVKKLAEELLKRAEELIKKG"
    tokens = torch.full((2, len(long_)), PAD_INDEX)
    tokens[0, :len(short)] = torch.from_numpy(encode_sequence(short))
    tokens[1] = torch.from_numpy(encode_sequence(long_))
    with torch.no_grad():
        out = model(tokens, mask=tokens != PAD_INDEX)
        alone = model(torch.from_numpy(encode_sequence(short))[None])
    assert out["ss8"].shape == (2, len(long_), 8)
    assert out["ss3"].shape == (2, len(long_), 3)
    assert out["rsa"].shape == (2, len(long_))
    assert float(out["rsa"].min()) >= 0
    assert float(out["rsa"].max()) <= 1
    # a padded short sequence gives the same outputs as the sequence alone
    for task in ("ss8", "ss3", "rsa"):
        torch.testing.assert_close(out[task][0, :len(short)], alone[task][0], atol=1e-5, rtol=1e-5)


def test_parameter_count_of_tiny_model():
    model = build_structure_model(StructureModelConfig(tasks=("ss8",), embed_dim=4,
                                                       conv_channels=4, conv_layers=1,
                                                       kernel_size=3, dilations=(1,),
                                                       lstm_layers=0))
    # embedding 22*4 + proj 4*4+4 + block (LN 8 + conv 4*4*3+4) + LN 8 + head 4*8+8
    assert sum(p.numel() for p in model.parameters()) == 88 + 20 + 8 + 52 + 8 + 40


def test_checkpoint_round_trip_and_corruption(tmp_path):
    torch.manual_seed(1)
    model = build_structure_model(TINY)
    StructureModel.from_network(model, TINY).save(tmp_path / "m", metrics={"note": "test"})
    loaded = load_model(tmp_path / "m")
    tokens = torch.from_numpy(encode_sequence("ACDEFGHIKLMNPQRSTVWY"))[None]
    with torch.no_grad():
        assert torch.equal(loaded.module_(tokens)["ss8"], model(tokens)["ss8"])
    assert loaded.metadata_["metrics"] == loaded.metrics_ == {"note": "test"}
    assert loaded.config_ == TINY
    assert loaded.get_params()["model"] == TINY
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "m")
    with pytest.raises(CheckpointError, match="no such model folder or shipped model"):
        load_model(tmp_path / "nope")


def test_dosing_checkpoint_is_refused(tmp_path):
    from bio_mtl.mtl.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "d", torch.nn.Linear(2, 1), kind="dosing", config={})
    with pytest.raises(CheckpointError, match="not a 'structure' model"):
        load_model(tmp_path / "d")


def test_the_network_is_built_from_the_engine_registries():
    from bio_mtl.mtl._layers import PaddedBiLSTM, _ConvStack
    from bio_mtl.mtl.encoders import ENCODERS, get_encoder
    from bio_mtl.mtl.heads import HEADS, BoundedHead, LinearHead, get_head
    from bio_mtl.structure.model import RSAHead, StructureEncoder

    assert ENCODERS["structure"] == "bio_mtl.structure.model:StructureModelConfig:StructureEncoder"
    assert HEADS["rsa"] == "bio_mtl.structure.model:BoundedHeadConfig:RSAHead"
    encoder = get_encoder("structure", **dataclasses.asdict(TINY))
    assert isinstance(encoder, StructureEncoder) and encoder.config == TINY
    assert isinstance(encoder.stack, _ConvStack) and isinstance(encoder.lstm, PaddedBiLSTM)
    head = get_head("rsa", 12, 1)
    assert isinstance(head, RSAHead) and isinstance(head, BoundedHead)
    model = build_structure_model(TINY)
    assert isinstance(model.heads["ss8"], LinearHead) and isinstance(model.heads["rsa"], RSAHead)
    assert [type(m) for m in model.encoder.children()] == [type(m) for m in encoder.children()]
    with torch.no_grad():
        x = torch.zeros(2, 5, 12)
        x[0, 0, 0] = 100.0  # saturates the sigmoid: RSA stays within [0, 1]
        out = head(x)
    assert out.shape == (2, 5)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
