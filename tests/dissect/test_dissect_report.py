"""The report folder and the CLI's guard rails: --out safety, usage errors, panels, gene sets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A simulated h5ad with a 3-dimensional latent whose first axis is the batch."""
    from bio_mtl.dissect import simulate_expression

    adata = simulate_expression(80, seed=4)
    rng = np.random.default_rng(0)
    batch = (adata.obs["batch"] == "b1").to_numpy(float)
    adata.obsm["X_lat"] = np.column_stack([5 * batch + 0.1 * rng.normal(size=80),
                                           adata.obs["age"] / 10, rng.normal(size=80)])
    path = tmp_path_factory.mktemp("small") / "small.h5ad"
    adata.write_h5ad(path)
    return path, adata


def _cli(runner, args):
    from bio_mtl.cli.main import cli

    res = runner.invoke(cli, args)
    return res, res.output + (getattr(res, "stderr", "") or "")


def _args(path, out, *extra):
    return ["-q", "dissect", "--data", str(path), "--latent-key", "X_lat", "--covariate", "age",
            "--batch-key", "batch", "--gsea-permutations", "50", *extra, "--out", str(out)]


def test_out_folder_with_other_files_is_never_replaced(small, runner, tmp_path):
    path = small[0]
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("keep me")
    res, text = _cli(runner, _args(path, precious))
    assert res.exit_code == 2, text
    assert "chapter1.tex" in text
    assert "Traceback" not in text
    assert (precious / "chapter1.tex").read_text() == "keep me"
    assert sorted(p.name for p in precious.iterdir()) == ["chapter1.tex"]


def test_earlier_report_and_empty_folder_are_replaced(small, runner, tmp_path):
    path = small[0]
    out = tmp_path / "rep"
    out.mkdir()  # empty: fine
    res, text = _cli(runner, _args(path, out))
    assert res.exit_code == 0, text
    first = sorted(p.name for p in out.iterdir())
    assert first == ["dimension_01.png", "dimension_02.png", "dimension_03.png",
                     "dimensions.tsv", "heatmap.png", "report.html", "report.json",
                     "variance_explained.png"]
    res, text = _cli(runner, _args(path, out, "--max-dims", "1"))  # rerun over it
    assert res.exit_code == 0, text
    assert not (out / "dimension_02.png").exists()  # replaced, not merged
    assert len(pd.read_csv(out / "dimensions.tsv", sep="\t")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporary folder left


def test_write_report_refuses_foreign_folder(small, tmp_path):
    from bio_mtl.dissect import dissect, write_report
    from bio_mtl.dissect.report import out_dir_problem

    res = dissect(small[1], latent_key="X_lat", covariates=["age"], gene_sets=False)
    (tmp_path / "notes.txt").write_text("x")
    assert "notes.txt" in out_dir_problem(tmp_path)
    with pytest.raises(FileExistsError, match="notes.txt"):
        write_report(res, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(("drop", "extra", "needle"), [
    ("--latent-key", [], "exactly one of --model DIR or --latent-key KEY"),
    ("--covariate", [], "give at least one --covariate"),
    (None, ["--data", "other.h5ad"], "give one --data .h5ad file (got 2)"),
    (None, ["--gene-sets", "x.gmt", "--no-enrichment"], "--gene-sets or --no-enrichment"),
])
def test_conflicting_options_are_usage_errors(small, runner, tmp_path, drop, extra, needle):
    args = _args(small[0], tmp_path / "r", *extra)
    if drop is not None:
        del args[args.index(drop):args.index(drop) + 2]
    res, text = _cli(runner, args)
    assert res.exit_code == 2, text
    assert needle in text
    assert not (tmp_path / "r").exists()


def test_gene_sets_too_small_for_min_set_size(small, runner, tmp_path):
    gmt = tmp_path / "tiny.gmt"
    gmt.write_text("PAIR\tdesc\tISG15\tMX1\tNotAGene\nONE\tdesc\tMKI67\n")
    res, text = _cli(runner, _args(small[0], tmp_path / "r", "--gene-sets", str(gmt)))
    assert res.exit_code == 3, text
    assert "tiny.gmt" in text
    assert "largest overlap: PAIR, 2 genes" in text
    assert "--min-set-size" in text
    assert not (tmp_path / "r").exists()
    res, text = _cli(runner, _args(small[0], tmp_path / "r", "--gene-sets", str(gmt),
                                   "--min-set-size", "2"))
    assert res.exit_code == 0, text
    enrichment = json.loads((tmp_path / "r" / "report.json").read_text())["enrichment"]
    assert {e["name"] for e in enrichment} == {"PAIR"}  # ONE has 1 gene < 2: not tested
    assert {e["size"] for e in enrichment} == {2}


def test_nuisance_panel_is_drawn_against_the_batch(small):
    from bio_mtl.dissect import dissect
    from bio_mtl.dissect.plots import dimension_panel

    res = dissect(small[1], latent_key="X_lat", covariates=["age"], batch_key="batch",
                  gene_sets=False)
    dims = res.dimensions
    assert list(dims["label"][:2]) == ["nuisance:batch", "tracks:age"]
    assert dims.loc[0, "best_covariate"] == "age"  # the best *covariate* is still reported
    panel = dimension_panel(res, 0).axes[1]
    assert panel.get_xlabel() == "batch"
    assert sorted(t.get_text() for t in panel.get_xticklabels()) == ["b0", "b1"]
    assert dimension_panel(res, 1).axes[1].get_xlabel() == "age"
