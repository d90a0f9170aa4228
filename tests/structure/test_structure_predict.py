"""Batch prediction: order, chunking of long sequences, determinism, derived SS3."""

import numpy as np
import pytest
import torch

from bio_mtl.errors import InputError
from bio_mtl.structure.alphabet import SS8_TO_SS3_INDEX
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.model import StructureModelConfig, build_structure_model
from bio_mtl.structure.predict import chunk_spans, predict_structure

# receptive field: one k=3 conv = +-1 residue, far below overlap / 2
LOCAL = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                             dilations=(1,), lstm_layers=0, dropout=0.0)


def _model(config=LOCAL, seed=0):
    torch.manual_seed(seed)
    return StructureModel.from_network(build_structure_model(config), config)


def test_chunk_spans_cover_every_residue_once():
    assert chunk_spans(10, 4, 2) == [(0, 4, 0, 3), (2, 6, 3, 5), (4, 8, 5, 7), (6, 10, 7, 10)]
    assert chunk_spans(5, 10, 2) == [(0, 5, 0, 5)]
    for length in (1001, 2500, 35000):
        spans = chunk_spans(length, 1000, 100)
        covered = np.concatenate([np.arange(kf, kt) for _, _, kf, kt in spans])
        assert covered.tolist() == list(range(length))
        # every kept residue has >= 50 residues of context inside its window (except the ends)
        for s, e, kf, kt in spans:
            assert kf - s >= (0 if s == 0 else 50)
            assert e - kt >= (0 if e == length else 50)


def test_order_is_restored_and_batches_do_not_matter():
    rng = np.random.default_rng(0)
    seqs = [(f"s{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), n)))
            for i, n in enumerate([50, 7, 300, 12, 80])]
    model = _model()
    a = predict_structure(seqs, model, batch_tokens=64)
    b = predict_structure(seqs, model, batch_tokens=100000)
    assert [p.id for p in a] == [s[0] for s in seqs]
    assert [len(p.seq) for p in a] == [50, 7, 300, 12, 80]
    for x, y in zip(a, b, strict=False):
        np.testing.assert_allclose(x.ss8_probs, y.ss8_probs, atol=1e-5)
        np.testing.assert_allclose(x.rsa, y.rsa, atol=1e-5)
        np.testing.assert_allclose(x.ss8_probs.sum(1), 1.0, atol=1e-5)


def test_chunked_equals_whole_for_a_local_model():
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 2345))
    model = _model()
    whole = predict_structure([("t", seq)], model, chunk_size=5000)[0]
    chunked = predict_structure([("t", seq)], model, chunk_size=500, overlap=50)[0]
    np.testing.assert_allclose(chunked.ss8_probs, whole.ss8_probs, atol=1e-5)
    np.testing.assert_allclose(chunked.rsa, whole.rsa, atol=1e-5)


def test_titin_length_sequence_is_predicted_deterministically():
    rng = np.random.default_rng(2)
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 35000))
    model = _model()
    a = predict_structure([("titin_like", seq)], model)[0]
    b = predict_structure([("titin_like", seq)], model)[0]
    assert a.ss8_probs.shape == (35000, 8)
    assert np.isfinite(a.rsa).all()
    np.testing.assert_array_equal(a.ss8_probs, b.ss8_probs)


def test_ss3_from_ss8_sums_probabilities():
    config = StructureModelConfig(**{**LOCAL.to_dict(), "dilations": (1,), "tasks": ("ss8", "ss3"),
                                     "ss3_source": "ss8"})
    pred = predict_structure([("p", "MKTAYIAKQRQISFVKSHFSRQ")], _model(config))[0]
    expected = np.zeros((len(pred.seq), 3))
    for k in range(8):
        expected[:, SS8_TO_SS3_INDEX[k]] += pred.ss8_probs[:, k]
    np.testing.assert_allclose(pred.ss3_probs, expected, atol=1e-6)
    assert np.isnan(pred.rsa).all()  # no RSA head


def test_inputs_accepted_and_empty_sequence_rejected():
    model = _model()
    out = predict_structure(["ACDE", ("x", "acde")], model)
    assert out[0].id == "seq1"
    assert out[1].seq == "ACDE"
    np.testing.assert_allclose(out[0].ss8_probs, out[1].ss8_probs, atol=1e-6)
    with pytest.raises(InputError, match="empty sequence"):
        predict_structure([("e", "")], model)


def test_shipped_model_finds_ubiquitin_helix_and_strand():
    from bio_mtl.structure.pretrained import DEFAULT_MODEL, available_models, load_model

    if DEFAULT_MODEL not in available_models():
        pytest.skip("shipped weights not installed")
    model = load_model()
    ubq = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
    melittin = "GIGAVLKVLTTGLPALISWIKRKRQQ"
    ubq_pred, mel_pred = predict_structure([("ubq", ubq), ("mel", melittin)], model)
    ss3 = ubq_pred.ss3
    # PDB 1UBQ (DSSP): alpha-helix I23-E34, first beta-strand M1-T7
    assert ss3[22:34].count("H") / 12 >= 0.75
    assert ss3[1:7].count("E") / 6 >= 0.6
    assert mel_pred.summary()["helix"] >= 0.6  # melittin is a helical peptide (PDB 2MLT)
    assert np.all((ubq_pred.rsa >= 0) & (ubq_pred.rsa <= 1))
