"""The shipped default model, scored on a structure it never saw: PDB 1CBS (CRABP2).

1CBS is labelled here by mkdssp from the fixture file, so the test checks the whole chain of
the product: structure file -> DSSP labels -> prediction from sequence -> Q3/Q8/RSA. Measured
on the 137 residues of chain A (2026-12-02): the default ``ss_rsa_cnnbilstm_ens2_nsp2_v1`` Q3
78.1 %, Q8 72.3 %, RSA Pearson r 0.590; its member ``ss_rsa_cnnbilstm_nsp2_v1`` Q3 78.8 %, Q8
73.7 %, r 0.585; ``ss_rsa_resdcnn_nsp2_v1`` Q3 78.1 %, Q8 71.5 %, r 0.552 (one chain: noise of a
point either way). The thresholds leave a few points of margin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bio_mtl.structure import metrics
from bio_mtl.structure.alphabet import ss3_from_ss8
from bio_mtl.structure.dataset_builder import find_mkdssp, structure_records
from bio_mtl.structure.predict import predict_structure
from bio_mtl.structure.pretrained import DEFAULT_MODEL, available_models, load_model

CIF = Path(__file__).resolve().parents[1] / "fixtures" / "structures" / "1cbs.cif.gz"


@pytest.mark.skipif(find_mkdssp() is None, reason="mkdssp not installed (Debian package dssp)")
def test_default_model_on_1cbs():
    if DEFAULT_MODEL not in available_models():
        pytest.skip("shipped weights not installed")
    [record] = structure_records(CIF, chains=["A"], backend="mkdssp")
    mask = np.array([m == "1" for m in record["mask"]])
    assert mask.sum() == 137
    [pred] = predict_structure([("1cbs_A", record["seq"])], load_model())
    assert metrics.accuracy(ss3_from_ss8(record["ss8"]), pred.ss3, mask) >= 0.74
    assert metrics.accuracy(record["ss8"], pred.ss8, mask) >= 0.66
    rsa = np.array([np.nan if v is None else v for v in record["rsa"]])
    assert metrics.rsa_pearson(rsa, pred.rsa, mask) >= 0.5
