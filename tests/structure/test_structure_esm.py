"""ESM-2 features with a tiny ESM2 built from fair-esm's own classes (no download)."""

import argparse
import gzip
import json

import numpy as np
import pytest
import torch

esm = pytest.importorskip("esm")

from bio_mtl.errors import CheckpointError, InputError  # noqa: E402
from bio_mtl.mtl.trainer import TrainConfig  # noqa: E402
from bio_mtl.structure.embeddings import ESMEmbedder, load_esm  # noqa: E402
from bio_mtl.structure.model import StructureModelConfig  # noqa: E402
from bio_mtl.structure.predict import predict_structure  # noqa: E402
from bio_mtl.structure.train import train_structure  # noqa: E402


@pytest.fixture(scope="module")
def tiny_esm():
    torch.manual_seed(0)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=alphabet)
    return model.eval(), alphabet


def test_local_checkpoint_in_fair_esm_layout_loads(tiny_esm, tmp_path):
    model, _ = tiny_esm
    # the layout of fair-esm's hub files: {"cfg": {"model": Namespace}, "model": state_dict}
    # (a third-party format, written here only to exercise the local loader)
    cfg = argparse.Namespace(encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4,
                             token_dropout=True)
    state = {f"encoder.sentence_encoder.{k}": v for k, v in model.state_dict().items()}
    torch.save({"cfg": {"model": cfg}, "model": state}, tmp_path / "esm2_tiny.pt")
    loaded, alphabet = load_esm(tmp_path / "esm2_tiny.pt")
    assert loaded.num_layers == 2
    assert loaded.embed_dim == 32
    a = ESMEmbedder(model, alphabet)(["MKTAYIAK"])[0]
    b = ESMEmbedder(loaded, alphabet)(["MKTAYIAK"])[0]
    np.testing.assert_allclose(a, b, atol=1e-6)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt: not a loadable"):
        load_esm(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="not a fair-esm model name"):
        load_esm("no_such_model")


def test_embedding_shapes_layers_and_cache(tiny_esm, tmp_path):
    model, alphabet = tiny_esm
    emb = ESMEmbedder(model, alphabet, cache_dir=tmp_path / "cache", name="tiny")
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ", "GIGAVLKVL", "ACDEFGHIKLMNPQRSTVWYX"]
    out = emb(seqs)
    assert [o.shape for o in out] == [(22, 32), (9, 32), (21, 32)]
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 3
    again = emb(seqs)
    for x, y in zip(out, again, strict=False):
        np.testing.assert_array_equal(x, y)
    # batching does not change a sequence's representation (padding is masked)
    alone = ESMEmbedder(model, alphabet)([seqs[1]])[0]
    np.testing.assert_allclose(alone, out[1], atol=1e-5)
    # another layer gives other features
    assert not np.allclose(ESMEmbedder(model, alphabet, layer=1)([seqs[1]])[0], alone)


def test_structure_model_on_esm_features_trains_and_predicts(tiny_esm, tmp_path):
    model, alphabet = tiny_esm
    emb = ESMEmbedder(model, alphabet, cache_dir=tmp_path / "cache")
    rng = np.random.default_rng(0)
    path = tmp_path / "train.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        for i in range(24):
            seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(15, 40))))
            handle.write(json.dumps({"id": f"c{i}", "seq": seq,
                                     "ss8": "".join("H" if a in "AELMQKR" else "C" for a in seq),
                                     "rsa": [0.8 if a in "KDE" else 0.2 for a in seq],
                                     "mask": "1" * len(seq)}) + "\n")
    config = StructureModelConfig(embed_dim=16, conv_channels=16, conv_layers=1, kernel_size=3,
                                  dilations=(1,), lstm_layers=1, lstm_hidden=8, dropout=0.0)
    result = train_structure(path, model_config=config, embedder=emb, val_fraction=0.25,
                             train_config=TrainConfig(epochs=3, lr=5e-3), batch_tokens=400)
    head = result.model
    assert head.structure_config.input_dim == 32
    preds = predict_structure([("p", "MKTAYIAKQRQISFVKSHFSRQ")], head, embedder=emb,
                              chunk_size=10, overlap=4)
    assert preds[0].ss8_probs.shape == (22, 8)
    np.testing.assert_allclose(preds[0].ss8_probs.sum(1), 1.0, atol=1e-5)
    assert np.all((preds[0].rsa >= 0) & (preds[0].rsa <= 1))
    with pytest.raises(InputError, match="pass an embedder"):
        predict_structure([("p", "MKT")], head)
