"""Structure-model adapter: pooled latents, protein covariates, and `dissect --model` on them."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tiny(**kw):
    import torch

    from bio_mtl.structure import StructureModelConfig, build_structure_model
    from bio_mtl.structure.estimator import StructureModel

    torch.manual_seed(0)
    cfg = dict(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3, dilations=(1,),
               lstm_hidden=4, lstm_layers=1, dropout=0.0)
    cfg.update(kw)
    config = StructureModelConfig(**cfg)
    return StructureModel.from_network(build_structure_model(config), config)


def _write_jsonl(path, records):
    with gzip.open(path, "wt") as handle:
        for rec in records:
            handle.write(json.dumps(rec) + "\n")
    return path


def _rec(rid, seq, ss8=None, rsa=None, mask=None):
    return {"id": rid, "seq": seq, "ss8": ss8 or "C" * len(seq),
            "rsa": rsa if rsa is not None else [None] * len(seq),
            "mask": mask or "1" * len(seq)}


def test_pooled_latent_equals_mean_of_each_sequence_encoded_alone():
    import torch

    from bio_mtl.dissect.adapters.structure import pooled_structure_latent
    from bio_mtl.structure.alphabet import encode_sequence

    net = _tiny()  # conv + BiLSTM: padding and packing must not leak into the mean
    seqs = ["MKVLAAGE", "GS", "WYPHHHKKDE", "ACD"]
    expected = []
    with torch.inference_mode():
        for s in seqs:
            hidden = net.module_.encode(torch.from_numpy(encode_sequence(s))[None])  # (1, L, 8)
            expected.append(hidden[0].double().mean(0).numpy())
    for tokens in (10, 16384):  # one sequence per batch vs all in one padded batch
        got = pooled_structure_latent([(f"p{i}", s) for i, s in enumerate(seqs)], net,
                                      batch_tokens=tokens)
        np.testing.assert_allclose(got, np.stack(expected), atol=1e-6)


def test_protein_covariates_from_labels_by_hand(tmp_path):
    from bio_mtl.dissect.adapters.protein import protein_covariates
    from bio_mtl.dissect.adapters.structure import read_protein_records

    # 8 residues; mask 0 at position 7 -> 7 SS-labelled: H,H,G (helix 3), E,B (strand 2),
    # T,S (coil 2); RSA known at 4 positions: 0.1, 0.3, 0.5, 0.7 -> mean 0.4
    path = _write_jsonl(tmp_path / "toy.jsonl.gz", [
        _rec("p1", "AIKEGGVW", ss8="HHGEBTSC", mask="11111110",
             rsa=[0.1, None, 0.3, None, 0.5, None, 0.7, None]),
        _rec("p2", "XXKK")])
    cov = protein_covariates(read_protein_records(path))
    p1 = cov.loc["p1"]
    assert p1["length"] == 8
    assert p1["helix_fraction"] == pytest.approx(3 / 7)
    assert p1["strand_fraction"] == pytest.approx(2 / 7)
    assert p1["coil_fraction"] == pytest.approx(2 / 7)
    assert p1["mean_rsa"] == pytest.approx(0.4)
    # Kyte-Doolittle: A 1.8, I 4.5, K -3.9, E -3.5, G -0.4 x2, V 4.2, W -0.9 -> 1.4 / 8
    assert p1["gravy"] == pytest.approx(1.4 / 8)
    p2 = cov.loc["p2"]  # X is not standard: gravy over K, K only
    assert p2["gravy"] == pytest.approx(-3.9)
    assert np.isnan(p2["mean_rsa"])  # no RSA labels
    assert p2["coil_fraction"] == 1.0


def test_planted_composition_factor_is_recovered_exactly():
    """A model without convolutions or LSTM pools to composition @ F (LayerNorm is per
    residue), so with sequences that mix only A and K, PC1 of the pooled latent is an exact
    affine function of the K fraction, and explains all the variance of the composition."""
    from bio_mtl.dissect import dissect
    from bio_mtl.dissect.adapters.structure import structure_anndata

    net = _tiny(conv_layers=0, lstm_layers=0)
    rng = np.random.default_rng(0)
    seqs = []
    for i in range(40):
        n_k = int(rng.integers(0, 31))
        seqs.append((f"p{i}", "".join(rng.permutation(list("K" * n_k + "A" * (30 - n_k))))))
    adata = structure_anndata({"toy": seqs}, net, n_components=3)
    k_frac = np.array([s.count("K") / 30 for _, s in seqs])
    adata.obs["k_fraction"] = k_frac
    adata.obs["noise"] = rng.normal(size=40)
    ratio = adata.uns["biomtl_structure_latent"]["params"]["pca"]["explained_variance_ratio"]
    assert ratio[0] == pytest.approx(1.0, abs=1e-9)  # rank one: one composition axis
    pc1 = adata.obsm["X_structure_pca"][:, 0].astype(float)
    assert abs(np.corrcoef(pc1, k_frac)[0, 1]) == pytest.approx(1.0, abs=1e-5)
    res = dissect(adata, latent_key="X_structure_pca", covariates=["k_fraction", "noise"],
                  max_dims=1, gene_sets=False)
    row = res.dimensions.iloc[0]
    assert row["label"] == "tracks:k_fraction"
    assert row["best_effect"] == pytest.approx(1.0, abs=1e-5)
    assert row["variance_explained"] == pytest.approx(1.0, abs=1e-4)
    assert {row["top_genes_up"].split(",")[0], row["top_genes_down"].split(",")[0]} == {"A", "K"}
    noise = res.associations.query("covariate == 'noise'").iloc[0]
    assert noise["q"] > 0.05


def test_structure_anndata_names_datasets_and_records_params(tmp_path):
    from bio_mtl.dissect.adapters.structure import structure_anndata

    a = _write_jsonl(tmp_path / "set_a.jsonl.gz", [_rec("p1", "MKV"), _rec("p2", "GGSA")])
    b = _write_jsonl(tmp_path / "set_b.jsonl.gz", [_rec("p1", "EEKRL")])  # id clash with a
    adata = structure_anndata([a, b], _tiny(), n_components=2)
    assert list(adata.obs["dataset"]) == ["set_a", "set_a", "set_b"]
    assert list(adata.obs_names) == ["set_a/p1", "set_a/p2", "set_b/p1"]
    assert list(adata.obs["id"]) == ["p1", "p2", "p1"]
    params = adata.uns["biomtl_structure_latent"]["params"]
    assert params["sources"]["set_b"]["n"] == 1
    assert params["encoder_dim"] == 8  # 2 x lstm_hidden
    assert adata.obsm["X_structure_pca"].shape == (3, 2)
    np.testing.assert_allclose(adata.X.sum(axis=1), 1.0, rtol=1e-6)  # composition rows


def test_adapter_refuses_foreign_models_and_names():
    from torch import nn

    from bio_mtl.dissect.adapters import checkpoint_kind
    from bio_mtl.dissect.adapters.structure import pooled_structure_latent
    from bio_mtl.errors import CheckpointError, ConfigError

    with pytest.raises(ConfigError, match="not a structure model"):
        pooled_structure_latent(["MKV"], nn.Linear(2, 2))
    assert checkpoint_kind("ss_rsa_resdcnn_nsp2_v1") == "structure"
    with pytest.raises(CheckpointError, match="ss_rsa_resdcnn_nsp2_v1"):
        checkpoint_kind("no_such_model_v9")


@pytest.fixture
def tiny_structure_dir(tmp_path):
    return _tiny().save(tmp_path / "tiny_ss")


def _cli(runner, args):
    from bio_mtl.cli.main import cli

    res = runner.invoke(cli, args)
    return res, res.output + (getattr(res, "stderr", "") or "")


def test_cli_dissects_a_structure_checkpoint(tiny_structure_dir, runner, tmp_path):
    import anndata as ad

    rng = np.random.default_rng(1)
    files = []
    for name, helixy in (("alpha", True), ("beta", False)):
        recs = []
        for i in range(12):
            n = int(rng.integers(20, 40))
            seq = "".join(rng.choice(list("AELKMQ" if helixy else "VIYTFW"), n))
            recs.append(_rec(f"{name}{i}", seq, ss8=("H" if helixy else "E") * n,
                             rsa=list(rng.uniform(0, 1, n).round(3))))
        files.append(str(_write_jsonl(tmp_path / f"{name}.jsonl.gz", recs)))
    out = tmp_path / "rep"
    res, text = _cli(runner, ["-q", "dissect", "--model", str(tiny_structure_dir),
                              "--data", files[0], "--data", files[1], "--confounder", "length",
                              "--batch-key", "dataset", "--n-components", "3",
                              "--out", str(out)])
    assert res.exit_code == 0, text
    dims = pd.read_csv(out / "dimensions.tsv", sep="\t")
    assert list(dims["dimension"]) == ["structure_pca1", "structure_pca2", "structure_pca3"]
    doc = json.loads((out / "report.json").read_text())
    assert doc["params"]["latent_key"] == "X_structure_pca"
    assert doc["params"]["gene_sets"] == "none"
    assert set(doc["params"]["covariates"]) == {"length", "gravy", "helix_fraction",
                                                "strand_fraction", "coil_fraction", "mean_rsa"}
    # the two sets differ completely in composition: PC1 separates them, so it is a
    # batch-like axis (eta^2 near 1) with perfect separation by helix_fraction too
    assert dims.loc[0, "batch_eta2"] > 0.9
    latent = ad.read_h5ad(out / "latent.h5ad")
    assert latent.obsm["X_structure"].shape == (24, 8)
    assert "biomtl_dissect" in latent.uns


@pytest.mark.parametrize(("extra", "code", "needles"), [
    (["--latent-key", "X_pca"], 2, ["X_pca", "X_structure_pca", "X_structure"]),  # usage
    (["--covariate", "plddt"], 3, ["'plddt'", "helix_fraction", "dataset"]),
])
def test_cli_structure_bad_input_names_what_is_available(tiny_structure_dir, runner, tmp_path,
                                                        extra, code, needles):
    data = _write_jsonl(tmp_path / "d.jsonl.gz",
                        [_rec(f"p{i}", "MKVLAGE"[: 3 + i]) for i in range(4)])
    out = tmp_path / "rep"
    res, text = _cli(runner, ["dissect", "--model", str(tiny_structure_dir), "--data",
                              str(data), *extra, "--out", str(out)])
    assert res.exit_code == code, text
    for needle in needles:
        assert needle in text
    assert not out.exists()
