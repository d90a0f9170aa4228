"""Outputs recorded before the dissect/expression reorganisation, reproduced exactly.

``tests/fixtures/dissect/outputs.json`` was written by ``make_fixture.py`` on the code before
expression moved out of ``bio_mtl.dissect`` (see its docstring): adapter latents of the shipped
dosing and structure models, an old expression checkpoint's latent, and full dissection results
on each. The statistics must not change by a single bit; only the two provenance parameters
are new (the dissected ``latent_key`` and the ``model`` are now always recorded).

Issue 12 changed the statistics on purpose and regenerated the ``dissect`` entries only
(``make_fixture.py --dissect-only``; the latents are the original recordings): effects are
rank-based (``effect`` = rho**2 or rank eta**2, ``signed_effect`` with a bootstrap interval),
conditional tests refit non-finite multinomial fits, GSEA permutations are adaptive, the label
rule puts a declared confounder first, batch metrics carry their own names, and per-level
tables are recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dissect"


@pytest.fixture(scope="module")
def recorded():
    return json.loads((FIXTURE / "outputs.json").read_text())


def _canonical(doc: dict, *, drop=()) -> str:
    """JSON text of a ``to_dict()`` (NaN-safe comparison), without the given params."""
    doc = json.loads(json.dumps(doc, default=lambda v: v.tolist() if hasattr(v, "tolist")
                                else float(v)))
    for key in drop:
        doc["params"].pop(key)
    return json.dumps(doc, sort_keys=True)


def test_expression_checkpoint_dissection_is_unchanged(recorded):
    from bio_mtl.dissect import dissect, simulate_expression
    from bio_mtl.expression import ExpressionModel

    held = simulate_expression(40, seed=22)
    res = dissect(held, model=str(FIXTURE / "expression_v0"),
                  covariates=["age", "disease", "response"], confounders=["age"],
                  batch_key="batch", n_gsea_permutations=50, scib_metrics=False, seed=0)
    old = recorded["expression"]["dissect"]
    assert res.params["latent_key"] == "X_expression"
    assert res.params["model"] == str(FIXTURE / "expression_v0")
    np.testing.assert_array_equal(held.obsm["X_expression"].to_numpy(),
                                  np.array(recorded["expression"]["latent"]))
    assert _canonical(res.to_dict(), drop=("latent_key", "model")) == \
        _canonical(old, drop=("latent_key", "model"))
    # a fitted estimator in memory goes through the same adapter
    again = dissect(simulate_expression(40, seed=22),
                    model=ExpressionModel.load(FIXTURE / "expression_v0"),
                    covariates=["age", "disease", "response"], confounders=["age"],
                    batch_key="batch", n_gsea_permutations=50, scib_metrics=False, seed=0)
    assert again.params["model"] == "ExpressionModel"
    assert _canonical(again.to_dict(), drop=("model",)) == _canonical(res.to_dict(),
                                                                     drop=("model",))


def test_shipped_dosing_model_adapter_and_dissection_are_unchanged(recorded):
    from bio_mtl.dissect import dissect, model_anndata

    old = recorded["dosing"]
    src = model_anndata("warfarin_iwpc_v1", [str(FIXTURE / "patients.csv")])
    assert list(src.adata.obsm["X_dose"].columns) == old["columns"]
    np.testing.assert_array_equal(src.adata.obsm["X_dose"].to_numpy(), np.array(old["latent"]))
    assert (src.covariates, src.batch_key) == (old["covariates"], old["batch_key"])
    res = dissect(src, covariates=src.covariates, confounders=["age_decades"],
                  batch_key=src.batch_key, gene_sets=False, scib_metrics=False)
    assert res.params["model"] == "warfarin_iwpc_v1"
    assert _canonical(res.to_dict(), drop=("model",)) == _canonical(old["dissect"],
                                                                   drop=("model",))


@pytest.mark.parametrize("name", ["ss_rsa_resdcnn_nsp2_v1", "ss_rsa_cnnbilstm_ens2_nsp2_v1"])
def test_shipped_structure_model_adapter_and_dissection_are_unchanged(recorded, name):
    from bio_mtl.dissect import dissect, model_anndata

    old = recorded[name]
    src = model_anndata(name, [str(FIXTURE / "proteins.fasta")], n_components=3)
    np.testing.assert_array_equal(src.adata.obsm["X_structure"],
                                  np.array(old["pooled"], dtype=np.float32))
    np.testing.assert_array_equal(src.adata.obsm["X_structure_pca"],
                                  np.array(old["pca"], dtype=np.float32))
    assert src.covariates == old["covariates"]
    res = dissect(src, covariates=src.covariates, confounders=["length"], gene_sets=False)
    assert res.params["model"] == name
    assert _canonical(res.to_dict(), drop=("model",)) == _canonical(old["dissect"],
                                                                   drop=("model",))
