"""Structure metrics against hand-computed values."""

import math

import numpy as np
import pytest

from bio_mtl.structure.data import Chain
from bio_mtl.structure.metrics import (
    accuracy,
    classification_report,
    confusion,
    metrics_markdown,
    per_protein_accuracy,
    q3,
    q8,
    rsa_mae,
    rsa_pearson,
    score_predictions,
    sov,
)
from bio_mtl.structure.results import StructurePrediction


def test_q3_q8_with_and_without_mask():
    assert q3("HHEECC", "HHECCC") == pytest.approx(5 / 6)
    assert q3("HHEECC", "HHECCC", mask="111011") == pytest.approx(1.0)
    assert q8("GHIBESTC", "GHIBESTT") == pytest.approx(7 / 8)
    keep = [False, True, True, True, True, True, True, False]
    assert q8("GHIBESTC", "HHIBESTT", mask=keep) == 1.0
    assert math.isnan(accuracy("HE", "HE", mask="00"))
    with pytest.raises(ValueError, match="length mismatch"):
        accuracy("HHH", "HH")


def test_confusion_and_per_class_report():
    cm = confusion("HHEC", "HECC", "HEC")
    assert cm.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 1]]
    rep = classification_report("HHEC", "HECC", "HEC")
    # H: tp 1, predicted 1, true 2; E: tp 0, predicted 1, true 1; C: tp 1, predicted 2, true 1
    assert rep["H"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert rep["E"]["f1"] == 0.0
    assert rep["E"]["support"] == 1
    assert rep["C"]["precision"] == 0.5
    assert rep["C"]["recall"] == 1.0
    assert math.isnan(classification_report("HH", "HH", "HEC")["E"]["precision"])


def test_sov_hand_examples():
    # one observed helix 0-9 split into predicted 0-2 and 6-9:
    # pair 1: minov 3, maxov 10, delta min(7, 3, 5, 1) = 1 -> 4/10*10 = 4
    # pair 2: minov 4, maxov 10, delta min(6, 4, 5, 2) = 2 -> 6/10*10 = 6; N = 10 + 10
    assert sov("HHHHHHHHHH", "HHHCCCHHHH") == pytest.approx(10 / 20)
    # strand 0-3 missed (adds 0, N += 4); coil 4-7 vs predicted coil 0-7:
    # minov 4, maxov 8, delta min(4, 4, 2, 4) = 2 -> 6/8*4 = 3; N = 4 + 4
    assert sov("EEEECCCC", "CCCCCCCC") == pytest.approx(3 / 8)
    # SOV forgives a shortened helix that Q3 penalises (each pair's delta covers the shift)
    assert sov("CCHHHHHHCC", "CCCHHHHCCC") == pytest.approx(1.0)
    assert q3("CCHHHHHHCC", "CCCHHHHCCC") == pytest.approx(0.8)
    assert sov("CCHHHHCC", "CCHHHHCC") == 1.0


def test_sov_mask_removes_positions_before_segmenting():
    # masking the middle coil joins the two helices into one observed and one predicted segment
    assert sov("HHCHH", "HHHHH", mask="11011") == 1.0


def test_rsa_pearson_and_mae():
    assert rsa_pearson([0.1, 0.2, float("nan"), 0.4], [0.2, 0.4, 0.5, 0.8]) == pytest.approx(1.0)
    assert rsa_pearson([0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]) == pytest.approx(-1.0)
    # r of (1,2,3) vs (1,3,2) = 0.5
    assert rsa_pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert rsa_mae([0.1, 0.2, float("nan")], [0.2, 0.0, 0.9]) == pytest.approx(0.15)
    assert rsa_mae([0.1, 0.5], [0.3, 0.5], mask=[True, False]) == pytest.approx(0.2)
    assert math.isnan(rsa_pearson([0.5], [0.1]))


def test_per_protein_accuracy():
    out = per_protein_accuracy(["HHEE", "CC"], ["HHEC", "EE"], ["1111", "11"])
    assert out.tolist() == [0.75, 0.0]


def _onehot(s, alphabet):
    out = np.zeros((len(s), len(alphabet)), dtype=np.float32)
    for i, c in enumerate(s):
        out[i, alphabet.index(c)] = 1
    return out


def test_score_predictions_pools_residues_and_respects_masks():
    ss8_true = np.array([1, 1, 1, 4, 4, 7, -100, 7])  # HHHEECxC
    chain = Chain("a", "ACDEFGHI", np.zeros(8, dtype=np.int64), ss8_true,
                  np.array([0.1, 0.2, 0.3, np.nan, 0.5, 0.6, np.nan, 0.8], dtype=np.float32))
    pred = StructurePrediction("a", "ACDEFGHI", _onehot("HHHEBCHT", "GHIBESTC"),
                               _onehot("HHHEECHC", "HEC"),
                               np.array([0.1, 0.2, 0.3, 0.9, 0.5, 0.6, 0.9, 0.7],
                                        dtype=np.float32))
    m = score_predictions([pred], [chain])
    assert m["n_residues_ss"] == 7
    assert m["q8"] == pytest.approx(5 / 7)  # B for E and T for C are wrong
    assert m["q3"] == pytest.approx(7 / 7)
    assert m["n_residues_rsa"] == 6
    assert m["rsa_mae"] == pytest.approx(0.1 / 6)
    assert m["per_protein_q3"]["median"] == 1.0
    assert m["ss8_classes"]["E"]["recall"] == 0.5
    table = metrics_markdown({"toy": m})
    assert "| toy | 1 | 100.0 | 71.4 |" in table
