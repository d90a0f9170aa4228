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
    first = sorted(p.name for p in out.iterdir() if not p.name.startswith("gsea_"))
    assert first == ["dimension_01.png", "dimension_02.png", "dimension_03.png",
                     "dimensions.tsv", "embedding.png", "heatmap.png", "report.html",
                     "report.json", "variance_explained.png"]
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


def test_write_report_full_disk_is_an_output_error_and_keeps_the_old_report(small, tmp_path,
                                                                           monkeypatch):
    import errno

    from bio_mtl.dissect import dissect, write_report
    from bio_mtl.errors import OutputError

    res = dissect(small[1], latent_key="X_lat", covariates=["age"], gene_sets=False)
    out = write_report(res, tmp_path / "r")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", full_disk)
    with pytest.raises(OutputError, match="no space left"):
        write_report(res, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no temporary folder left


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
    panel = dimension_panel(res, 0).axes[1]  # horizontal box plots: levels on the y axis
    assert panel.get_ylabel() == "batch"
    n = res.latent.shape[0]
    assert sorted(t.get_text().split(" ")[0] for t in panel.get_yticklabels()) == ["b0", "b1"]
    assert sum(int(t.get_text().split("n=")[1][:-1]) for t in panel.get_yticklabels()) == n
    assert dimension_panel(res, 1).axes[1].get_xlabel() == "age"
    assert panel.get_title() == "lat1 vs batch"  # the title names what is drawn


def test_box_plot_levels_are_ordered_and_counted(small):
    from bio_mtl.dissect import dissect
    from bio_mtl.dissect.plots import dimension_panel

    adata = small[1].copy()
    adata.obs["group"] = np.where(adata.obs["age"] > 60, "old", np.where(
        adata.obs["age"] > 40, "middle", "young"))
    res = dissect(adata, latent_key="X_lat", covariates=["group"], gene_sets=False,
                  n_bootstrap=0)
    ax = dimension_panel(res, 1).axes[1]  # lat2 = age / 10
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    counts = adata.obs["group"].value_counts()
    assert ticks == [f"{g} (n={counts[g]})" for g in ("young", "middle", "old")]
    levels = res.level_tables["lat2"]["group"]
    assert [r["level"] for r in levels] == ["old", "middle", "young"]  # by mean, highest first
    assert levels[0]["auroc"] > 0.9


def test_out_folder_holding_the_input_is_refused(small, runner, tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    data = out / "latent.h5ad"  # named like a report file: the old guard let it through
    small[1].write_h5ad(data)
    res, text = _cli(runner, _args(data, out))
    assert res.exit_code == 2, text
    assert "holds the input" in text
    assert data.exists()


def test_page_shows_only_meaningful_columns(small, tmp_path):
    from bio_mtl.dissect import dissect, write_report

    res = dissect(small[1], latent_key="X_lat", covariates=["age"], gene_sets=False,
                  n_bootstrap=50)
    page = (write_report(res, tmp_path / "r") / "report.html").read_text()
    assert "batch (" not in page  # no batch key: no batch column, no "nan"
    assert "conditional on" not in page  # no confounders: no conditional column
    assert ">nan<" not in page
    assert "<pre>" not in page  # parameters as a table, not a JSON dump
    assert "href='dimensions.tsv'" in page
    assert "href='report.json'" in page
    assert "correlation:X" in page  # the attribution source
    with_all = dissect(small[1], latent_key="X_lat", covariates=["age", "disease"],
                       confounders=["age"], batch_key="batch", gene_sets=False,
                       n_bootstrap=0, scib_metrics=False)
    page = (write_report(with_all, tmp_path / "r2") / "report.html").read_text()
    assert "batch (batch) eta2" in page
    assert "conditional on age: LRT q" in page
