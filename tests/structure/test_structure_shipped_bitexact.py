"""The shipped structure models predict bit-identically to the recorded outputs.

``tests/fixtures/structure_shipped_outputs.json`` holds the SS8/SS3 probabilities and RSA of
the three shipped models on four fixed sequences (a short one, one with X and U, one of 1,100
residues that is predicted in overlapping windows), recorded with the code before the
structure application became an estimator (issue 10): SHA-256 of the float32 bytes, plus the
first values in readable form. Any refactoring must reproduce them exactly. Regenerate only
for a deliberate change of the models:
``python tests/structure/test_structure_shipped_bitexact.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "structure_shipped_outputs.json"
MODELS = ("ss_rsa_cnnbilstm_ens2_nsp2_v1", "ss_rsa_cnnbilstm_nsp2_v1", "ss_rsa_resdcnn_nsp2_v1")


def _digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float32).tobytes()).hexdigest()


def outputs(name: str, sequences: dict[str, str]) -> dict[str, dict]:
    """What the fixture records for shipped model ``name``."""
    from bio_mtl.structure import load_model, predict_structure

    preds = predict_structure(list(sequences.items()), load_model(name))
    return {p.id: {"ss8_sha256": _digest(p.ss8_probs), "ss3_sha256": _digest(p.ss3_probs),
                   "rsa_sha256": _digest(p.rsa), "ss8": p.ss8, "ss3": p.ss3,
                   "ss8_probs_first": [float(x) for x in p.ss8_probs[0]],
                   "ss3_probs_first": [float(x) for x in p.ss3_probs[0]],
                   "rsa_first5": [float(x) for x in p.rsa[:5]]} for p in preds}


@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_predicts_recorded_outputs_exactly(name):
    recorded = json.loads(FIXTURE.read_text())
    assert outputs(name, recorded["sequences"]) == recorded["models"][name]


@pytest.mark.parametrize("name", MODELS)
def test_the_engine_registry_loads_the_same_estimator(name):
    from bio_mtl.mtl.estimator import load_estimator
    from bio_mtl.resources import SHIPPED
    from bio_mtl.structure import load_model

    via_engine, via_structure = load_estimator(name), load_model(name)
    assert type(via_engine) is type(via_structure)
    assert via_engine.kind == SHIPPED[name][0]
    assert via_engine.get_params() == via_structure.get_params()
    seqs = [("tiny", json.loads(FIXTURE.read_text())["sequences"]["tiny"])]
    a, b = via_engine.predict(seqs)[0], via_structure.predict(seqs)[0]
    assert np.array_equal(a.ss8_probs, b.ss8_probs) and np.array_equal(a.rsa, b.rsa)


if __name__ == "__main__":  # regenerate the fixture (a deliberate model change only)
    import torch

    doc = json.loads(FIXTURE.read_text())
    doc["torch"] = torch.__version__
    doc["models"] = {name: outputs(name, doc["sequences"]) for name in MODELS}
    FIXTURE.write_text(json.dumps(doc, indent=1) + "\n")
    sys.exit(0)
