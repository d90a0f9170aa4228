"""Planted truth: train-expression then dissect must find age, interferon and batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TASKS = ["--task", "disease:classification", "--task", "age:regression",
         "--task", "response:classification"]
SMALL = ["--latent-dim", "8", "--hidden-dim", "64", "--epochs", "40", "--batch-size", "128",
         "--lr", "5e-3", "--seed", "0"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    import torch

    from bio_mtl.dissect.simulate import simulate_expression

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: threads only add contention on CI
    root = tmp_path_factory.mktemp("cohort")
    train, held_out = simulate_expression(600, seed=0), simulate_expression(600, seed=1)
    train.write_h5ad(root / "train.h5ad")
    held_out.write_h5ad(root / "held_out.h5ad")
    yield root, train, held_out
    torch.set_num_threads(threads)


def _train(root, name, *extra):
    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    res = CliRunner().invoke(cli, ["-q", "train-expression", str(root / "train.h5ad"), *TASKS,
                                   "--batch-key", "batch", *extra, "--out", str(root / name),
                                   *SMALL])
    assert res.exit_code == 0, res.output
    return root / name


def _dissect(root, model, name):
    """``biomtl dissect`` of the held-out cohort: (dimensions.tsv, report.json, folder)."""
    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    out = root / name
    res = CliRunner().invoke(cli, ["-q", "dissect", "--model", str(model), "--data",
                                   str(root / "held_out.h5ad"), "--covariate", "age",
                                   "--covariate", "disease", "--covariate", "response",
                                   "--confounder", "age", "--batch-key", "batch",
                                   "--gsea-permutations", "300", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return (pd.read_csv(out / "dimensions.tsv", sep="\t"),
            json.loads((out / "report.json").read_text()), out)


@pytest.fixture(scope="module")
def trained(cohort):
    return _train(cohort[0], "model")


@pytest.fixture(scope="module")
def plain_report(cohort, trained):
    return _dissect(cohort[0], trained, "report")


@pytest.fixture(scope="module")
def adversarial_report(cohort):
    from bio_mtl.mtl import read_config

    model = _train(cohort[0], "model_adv", "--adversarial-batch")
    assert read_config(model, kind="expression")["config"]["model"]["adversarial_batch"]
    return _dissect(cohort[0], model, "report_adv")


def test_dissect_finds_planted_factors(plain_report):
    dims, doc, out = plain_report
    called = sorted(lab for lab in dims["label"]
                    if lab.split(":")[0] in ("confounder", "mechanism", "nuisance"))
    # exactly one dimension per planted factor, and no other call
    assert called == ["confounder:age", "mechanism:HALLMARK_INTERFERON_ALPHA_RESPONSE",
                      "nuisance:batch"]
    age_row = dims[dims["label"] == "confounder:age"].iloc[0]
    assert age_row["best_covariate"] == "age"
    assert age_row["best_effect"] > 0.8  # r^2 with age (measured 0.927)
    # no outcome still needs this dimension once age is in the model (smallest LRT, BH q)
    assert age_row["conditional_q"] > 0.05
    assert age_row["top_genes_up"].startswith("AGEPROG")
    ifn_row = dims[dims["label"].str.startswith("mechanism:")].iloc[0]
    assert ifn_row["best_covariate"] in ("disease", "response")
    assert ifn_row["conditional_q"] < 1e-10  # predicts the outcome given age (measured 2e-32)
    assert ifn_row["top_pathway_q"] < 0.05
    assert ifn_row["top_pathway_nes"] > 0
    batch_row = dims[dims["label"] == "nuisance:batch"].iloc[0]
    assert batch_row["batch_eta2"] > 0.3
    assert batch_row["best_q"] > 0.05  # it tracks the batch and nothing else
    page = (out / "report.html").read_text()
    n_gsea = dims["pathway"].notna().sum()
    assert page.count("data:image/png;base64,") == 3 + len(dims) + n_gsea
    assert "src=\"http" not in page
    assert "<script" not in page
    assert doc["params"]["confounders"] == ["age"]
    assert len(doc["dimensions"]) == len(dims)
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_adversarial_batch_removes_batch_from_latent(plain_report, adversarial_report):
    before = plain_report[1]["batch_mixing"]
    after_dims, after_doc, _ = adversarial_report
    after = after_doc["batch_mixing"]
    # measured 0.705 -> 0.044 (largest per-dimension batch eta^2)
    assert before["batch_eta2_max"] - after["batch_eta2_max"] > 0.3
    assert after["batch_eta2_max"] < 0.15
    assert after_dims["batch_eta2"].max() == pytest.approx(after["batch_eta2_max"], abs=1e-3)
    assert after["batch_lisi_mean"] > before["batch_lisi_mean"]  # measured 1.39 -> 1.83 (of 2)
    assert after["scib_ilisi"] > before["scib_ilisi"]  # scib-metrics' scaled median
    # kBET rejection rate (measured 0.818 -> 0.307; random neighbourhoods give 0.05)
    assert before["kbet_rejection"] > 0.5
    assert after["kbet_rejection"] < before["kbet_rejection"] - 0.3
    assert abs(after["batch_silhouette_mean"]) < abs(before["batch_silhouette_mean"])
    assert after["scib_batch_asw"] > before["scib_batch_asw"]
    labels = list(after_dims["label"])
    assert not any(lab.startswith("nuisance") for lab in labels)
    assert "confounder:age" in labels  # biology is kept
    assert "mechanism:HALLMARK_INTERFERON_ALPHA_RESPONSE" in labels


def test_model_refuses_file_without_counts(cohort, trained, runner, tmp_path):
    from bio_mtl.cli.main import cli

    _, _, held_out = cohort
    scaled = held_out.copy()
    scaled.X = (np.log1p(scaled.X) - np.log1p(scaled.X).mean(0)).astype(np.float32)
    scaled.write_h5ad(tmp_path / "scaled.h5ad")
    out = tmp_path / "rep"
    res = runner.invoke(cli, ["dissect", "--model", str(trained), "--data",
                              str(tmp_path / "scaled.h5ad"), "--covariate", "age",
                              "--out", str(out)])
    assert res.exit_code == 3
    assert "no raw counts" in res.output + (res.stderr or "")
    assert "layers" in res.stderr
    assert not out.exists()

