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
from bio_mtl.structure.estimator import StructureModel  # noqa: E402
from bio_mtl.structure.model import StructureModelConfig  # noqa: E402
from bio_mtl.structure.predict import predict_structure  # noqa: E402
from bio_mtl.structure.train import StructureDataConfig  # noqa: E402


@pytest.fixture(scope="module")
def tiny_esm():
    torch.manual_seed(0)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=alphabet)
    return model.eval(), alphabet


def _save_fair_esm_layout(model, path, *, with_regression: bool = True) -> None:
    """Write ``model`` as fair-esm's hub files: ``<name>.pt`` (+ ``-contact-regression.pt``).

    A third-party format, written here only to exercise the loaders.
    """
    cfg = argparse.Namespace(encoder_layers=model.num_layers, encoder_embed_dim=model.embed_dim,
                             encoder_attention_heads=model.attention_heads, token_dropout=True)
    state = model.state_dict()
    body = {f"encoder.sentence_encoder.{k}": v for k, v in state.items()
            if not k.startswith("contact_head.regression")}
    torch.save({"cfg": {"model": cfg}, "model": body}, path)
    if with_regression:
        regression = {k: v for k, v in state.items() if k.startswith("contact_head.regression")}
        torch.save({"model": regression},
                   path.with_name(f"{path.stem}-contact-regression.pt"))


@pytest.fixture
def offline(monkeypatch):
    """Any torch.hub download attempt fails, as on a machine without network."""
    def refuse(url, *args, **kwargs):
        raise OSError(f"network disabled in tests: {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)


def test_hub_name_is_read_from_the_torch_home_cache_offline(tiny_esm, tmp_path, monkeypatch,
                                                             offline, capsys):
    model, alphabet = tiny_esm
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    # nothing cached and no network: the error says where the files are expected
    with pytest.raises(CheckpointError, match=r"esm2_t6_8M_UR50D: could not load ESM weights") \
            as info:
        load_esm("esm2_t6_8M_UR50D")
    assert str(cache) in str(info.value)
    assert "\n" not in str(info.value)
    assert capsys.readouterr().out == ""  # torch.hub's "Downloading ..." line kept off stdout
    # the same name works offline once the hub files sit in $TORCH_HOME/hub/checkpoints
    cache.mkdir(parents=True, exist_ok=True)
    _save_fair_esm_layout(model, cache / "esm2_t6_8M_UR50D.pt")
    loaded, _ = load_esm("esm2_t6_8M_UR50D")
    assert (loaded.num_layers, loaded.embed_dim) == (2, 32)
    embedder = ESMEmbedder.from_pretrained("esm2_t6_8M_UR50D")
    assert embedder.source == "esm2_t6_8M_UR50D"
    np.testing.assert_allclose(embedder(["MKTAYIAK"])[0],
                               ESMEmbedder(model, alphabet)(["MKTAYIAK"])[0], atol=1e-6)
    assert capsys.readouterr().out == ""


def test_local_checkpoint_in_fair_esm_layout_loads(tiny_esm, tmp_path, offline):
    model, _ = tiny_esm
    # a local file needs neither the network nor the contact-regression file
    _save_fair_esm_layout(model, tmp_path / "esm2_tiny.pt", with_regression=False)
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
    with pytest.raises(CheckpointError, match="no such file and not a fair-esm model name"):
        load_esm(tmp_path / "missing.pt")
    embedder = ESMEmbedder.from_pretrained(tmp_path / "esm2_tiny.pt")
    assert embedder.source == str((tmp_path / "esm2_tiny.pt").resolve())
    assert embedder.name == "esm2_tiny"


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


def test_cache_is_read_back_keyed_by_architecture_and_repaired(tiny_esm, tmp_path):
    model, alphabet = tiny_esm
    cache = tmp_path / "cache"
    emb = ESMEmbedder(model, alphabet, cache_dir=cache, name="esm")
    first = emb(["GIGAVLKVL"])[0]
    (entry,) = cache.glob("*.safetensors")
    # a hit is served from disk: doctor the stored array and it comes back as stored
    from safetensors.numpy import save_file

    save_file({"repr": np.full_like(first, 7.0)}, str(entry))
    assert (emb(["GIGAVLKVL"])[0] == 7.0).all()
    # a different architecture under the same name gets its own entry, not the cached one
    torch.manual_seed(1)
    other = esm.model.esm2.ESM2(num_layers=1, embed_dim=16, attention_heads=2, alphabet=alphabet)
    out = ESMEmbedder(other.eval(), alphabet, cache_dir=cache, name="esm")(["GIGAVLKVL"])[0]
    assert out.shape == (9, 16)
    assert len(list(cache.glob("*.safetensors"))) == 2
    # an unreadable entry is recomputed and rewritten; no temporary files are left behind
    entry.write_bytes(b"truncated")
    np.testing.assert_allclose(emb(["GIGAVLKVL"])[0], first, atol=1e-6)
    np.testing.assert_allclose(emb(["GIGAVLKVL"])[0], first, atol=1e-6)
    assert sorted(p.suffix for p in cache.iterdir()) == [".safetensors", ".safetensors"]


def test_training_crops_cut_whole_chain_embeddings(tiny_esm, tmp_path):
    from bio_mtl.structure.alphabet import encode_sequence
    from bio_mtl.structure.data import Chain, TokenBatches

    model, alphabet = tiny_esm
    calls = []
    inner = ESMEmbedder(model, alphabet, cache_dir=tmp_path / "cache")

    def embedder(seqs):
        calls.append(list(seqs))
        return inner(seqs)

    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSG"  # 50 residues
    chain = Chain("c", seq, encode_sequence(seq), np.zeros(50, dtype=np.int64),
                  np.full(50, np.nan, dtype=np.float32))
    batches = TokenBatches([chain], batch_tokens=100, tasks=("ss8",), shuffle=True, seed=0,
                           max_len=20, embedder=embedder)
    whole = inner([seq])[0]
    for epoch in range(3):
        batches.set_epoch(epoch)
        for batch in batches:
            feats = batch["inputs"][0].numpy()
            assert feats.shape == (20, 32)
            # the crop's features are a slice of the whole chain's features
            starts = [a for a in range(31) if np.allclose(whole[a:a + 20], feats, atol=1e-6)]
            assert len(starts) == 1
    assert all(c == [seq] for c in calls)  # always the whole chain, never a crop
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 1


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
    head = StructureModel(model=config, training=TrainConfig(epochs=3, lr=5e-3),
                          data=StructureDataConfig(val_fraction=0.25, batch_tokens=400))
    head.fit(path, embedder=emb)
    assert head.config_.input_dim == 32
    assert head.get_params()["model"].input_dim is None  # parameters are stored unchanged
    preds = predict_structure([("p", "MKTAYIAKQRQISFVKSHFSRQ")], head, embedder=emb,
                              chunk_size=10, overlap=4)
    assert preds[0].ss8_probs.shape == (22, 8)
    np.testing.assert_allclose(preds[0].ss8_probs.sum(1), 1.0, atol=1e-5)
    assert np.all((preds[0].rsa >= 0) & (preds[0].rsa <= 1))
    with pytest.raises(InputError, match="pass an embedder"):
        predict_structure([("p", "MKT")], head)


def test_cli_trains_and_predicts_on_a_local_esm_backbone_with_cache(tiny_esm, tmp_path,
                                                                      offline):
    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    model, alphabet = tiny_esm
    _save_fair_esm_layout(model, tmp_path / "esm2_tiny.pt", with_regression=False)
    rng = np.random.default_rng(3)
    path = tmp_path / "train.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        for i in range(16):
            seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(15, 30))))
            handle.write(json.dumps({"id": f"c{i}", "seq": seq,
                                     "ss8": "".join("H" if a in "AELMQKR" else "C" for a in seq),
                                     "rsa": [0.8 if a in "KDE" else 0.2 for a in seq],
                                     "mask": "1" * len(seq)}) + "\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model: {embed_dim: 8, conv_channels: 8, conv_layers: 1, kernel_size: 3, "
                   "dilations: [1], lstm_layers: 0}\ntraining: {epochs: 1}\n")
    runner = CliRunner()
    r = runner.invoke(cli, ["train-structure", "--train", str(path), "--out",
                            str(tmp_path / "m"), "--config", str(cfg), "--backbone",
                            str(tmp_path / "esm2_tiny.pt"), "--embedding-cache",
                            str(tmp_path / "cache"), "--val-fraction", "0.25"])
    assert r.exit_code == 0, r.output
    n_cached = len(list((tmp_path / "cache").glob("*.safetensors")))
    assert n_cached == 16  # every chain embedded once (training and validation)
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">p\nMKTAYIAKQRQISFVKSHFSRQ\n")
    # the backbone recorded in the model is found again without --backbone
    r = runner.invoke(cli, ["predict-structure", str(fasta), "--model", str(tmp_path / "m"),
                            "--embedding-cache", str(tmp_path / "cache"), "-o",
                            str(tmp_path / "p.tsv")])
    assert r.exit_code == 0, r.output
    rows = (tmp_path / "p.tsv").read_text().splitlines()
    assert len(rows) == 1 + 22
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == n_cached + 1
    r = runner.invoke(cli, ["train-structure", "--train", str(path), "--out",
                            str(tmp_path / "m2"), "--embedding-cache", str(tmp_path / "cache")])
    assert r.exit_code == 2
    assert "needs --backbone" in r.output
