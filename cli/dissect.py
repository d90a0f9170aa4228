"""``biomtl dissect``: report what each latent dimension tracks."""

from __future__ import annotations

import os

import click


@click.command("dissect")
@click.option("--data", "data", multiple=True, required=True,
              help="AnnData file (.h5ad); for a structure model, labelled chains (.jsonl.gz) "
                   "or FASTA, repeatable (one dataset each); for a dosing model, an IWPC table "
                   "or 'iwpc'.")
@click.option("--model", "model_dir", default=None, metavar="DIR|NAME",
              help="A model folder or shipped name: expression (re-embeds DATA), structure "
                   "(pooled encoder output per protein) or dosing (pathway activities).")
@click.option("--latent-key", default=None,
              help="obsm key to dissect: an embedding already in DATA (X_pca, X_scVI...) or, "
                   "with a structure/dosing model, one the adapter writes.")
@click.option("--covariate", "covariates", multiple=True,
              help="obs column to test each dimension against; repeatable [structure/dosing "
                   "model: every covariate the adapter computes].")
@click.option("--confounder", "confounders", multiple=True,
              help="A covariate that plays the confounder role (e.g. age); repeatable.")
@click.option("--batch-key", default=None, help="obs column of the technical batch.")
@click.option("--label-key", default=None,
              help="obs column of the cell types, for the scIB metrics stratified by them.")
@click.option("--gene-sets", type=click.Path(dir_okay=False), default=None,
              help="GMT file or shipped collection (hallmark_v7.0, curated_v2) [default: "
                   "MSigDB Hallmark v7.0; none for structure/dosing models].")
@click.option("--no-enrichment", is_flag=True,
              help="Skip gene-set enrichment (a latent without genes, e.g. a dose model's).")
@click.option("--max-dims", type=click.IntRange(min=1), default=None,
              help="Only the first N dimensions.")
@click.option("--n-components", type=click.IntRange(min=1), default=10, show_default=True,
              help="Structure model: principal components of the pooled latent to dissect.")
@click.option("--gene-attribution", type=click.Choice(["auto", "correlation", "loadings"]),
              default="auto", show_default=True,
              help="auto: a model's decoder, else correlation; correlation: every gene of "
                   "raw (else X); loadings: varm['PCs'] of X_pca (the PCA's genes only).")
@click.option("--min-set-size", type=click.IntRange(min=1), default=5, show_default=True,
              help="Skip gene sets with fewer genes in the data.")
@click.option("--rotate", type=click.Choice(["none", "varimax"]), default="none",
              show_default=True, help="Varimax-rotate the latent (e.g. a PCA) before dissecting.")
@click.option("--permutations", type=click.IntRange(min=0), default=0, show_default=True,
              help="Permutations for correlation p-values (0 = analytic).")
@click.option("--gsea-permutations", type=click.IntRange(min=10), default=1000,
              show_default=True, help="Gene-set permutations drawn first per set size.")
@click.option("--gsea-max-permutations", type=click.IntRange(min=10), default=100_000,
              show_default=True,
              help="Adaptive ceiling: sets with < 10 as-extreme null scores get more.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=200,
              show_default=True, help="Resamples of the signed effects' 95% intervals.")
@click.option("--scib/--no-scib", "scib_metrics", default=None,
              help="scIB batch metrics via scib-metrics [default: when installed and a "
                   "--batch-key is given].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Report folder: dimensions.tsv, report.json, report.html, PNGs "
                   "(+ latent.h5ad for structure/dosing models). An existing folder is "
                   "replaced only if it holds nothing but an earlier report.")
@click.pass_context
def dissect(ctx, data, model_dir, latent_key, covariates, confounders, batch_key, label_key,
            gene_sets, no_enrichment, max_dims, n_components, gene_attribution, min_set_size,
            rotate, permutations, gsea_permutations, gsea_max_permutations, n_bootstrap,
            scib_metrics, seed, out_dir) -> None:
    """Label each latent dimension: confounder, mechanism, nuisance or unexplained.

    \b
    Example:
      biomtl dissect --model runs/expr --data cohort.h5ad --covariate age \\
          --covariate disease --covariate response --confounder age \\
          --batch-key batch --gene-sets sets.gmt --out report/
      biomtl dissect --data pbmc.h5ad --latent-key X_pca --covariate bulk_labels \\
          --covariate phase --max-dims 10 --out pbmc_report/
      biomtl dissect --model ss_rsa_resdcnn_nsp2_v1 --data rsa_train.jsonl.gz \\
          --data casp_fm_rsa.jsonl.gz --confounder length --batch-key dataset \\
          --out structure_report/
    """
    from ..dissect import dissect as run
    from ..dissect.report import write_report
    from .console import print_table

    _check_options(out_dir, gene_sets, no_enrichment, data=data, model_dir=model_dir)
    if model_dir is None:
        _check_latent_options(latent_key, data, covariates)
    target, source = _samples(model_dir, data, latent_key, n_components=n_components,
                              seed=seed)
    if source is not None:
        covariates = covariates or tuple(source.covariates)
        no_enrichment = no_enrichment or (gene_sets is None and not source.gene_sets)
        if not covariates:
            raise click.UsageError("give at least one --covariate (an obs column)")
    result = run(target, latent_key=latent_key, covariates=list(covariates),
                 confounders=list(confounders), batch_key=batch_key, label_key=label_key,
                 gene_sets=False if no_enrichment else gene_sets,
                 max_dims=max_dims, gene_attribution=gene_attribution,
                 min_set_size=min_set_size, rotate=rotate, n_permutations=permutations,
                 n_gsea_permutations=gsea_permutations,
                 max_gsea_permutations=gsea_max_permutations, n_bootstrap=n_bootstrap,
                 scib_metrics=scib_metrics, seed=seed,
                 path=data[0] if source is None or not source.derived else None)
    _check_out(out_dir, data)  # again: something may have appeared there while we computed
    write_report(result, out_dir, adata=source.adata if source and source.derived else None)
    if not (ctx.obj and ctx.obj.get("quiet")):
        dims = result.dimensions
        print_table(f"dissection -> {out_dir}",
                    ["dimension", "label", "best covariate", "q", "batch eta2"],
                    [[r.dimension, r.label, str(r.best_covariate), r.best_q, r.batch_eta2]
                     for r in dims.itertuples()])


def _check_options(out_dir, gene_sets, no_enrichment, *, data, model_dir) -> None:
    """Usage errors found before any work: a conflicting pair, an --out that is not ours.

    The output layer (:func:`~bio_mtl.cli.outputs.check_outputs`) refuses an --out that is an
    input, lies in the model folder or cannot be created; an input inside --out is refused
    too, since the report replaces the whole folder.
    """
    from .outputs import check_outputs

    if gene_sets is not None and no_enrichment:
        raise click.UsageError("give --gene-sets or --no-enrichment, not both")
    inputs = [d for d in data if d != "iwpc"]
    check_outputs(folders={"--out": out_dir}, inputs=[*inputs, gene_sets],
                  model_dirs=[model_dir])
    _check_out(out_dir, inputs)


def _check_latent_options(latent_key, data, covariates) -> None:
    """Usage errors of dissecting an embedding already in one .h5ad file (no --model)."""
    if latent_key is None:
        raise click.UsageError("give exactly one of --model DIR or --latent-key KEY")
    if len(data) != 1:
        raise click.UsageError(f"give one --data .h5ad file (got {len(data)}); several "
                               "--data files are for structure models")
    if not covariates:
        raise click.UsageError("give at least one --covariate (an obs column)")


def _check_out(out_dir, inputs=()) -> None:
    """Refuse an --out that holds an input, is a file, or has files of its own."""
    from .._io import is_inside
    from ..dissect.report import out_dir_problem

    for path in inputs:
        if os.path.exists(path) and is_inside(path, out_dir):
            raise click.BadParameter(f"{out_dir} holds the input {path}, and the report "
                                     "replaces the whole folder; give another output folder",
                                     param_hint="--out")
    problem = out_dir_problem(out_dir)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--out")


def _samples(model_dir, data, latent_key, *, n_components: int, seed: int):
    """``(what to dissect, the model's LatentSource or None)``: the adapter's or the file's."""
    if model_dir is None:
        from ..expression import read_h5ad

        return read_h5ad(data[0]), None
    from ..dissect import model_anndata

    source = model_anndata(model_dir, list(data), n_components=n_components, seed=seed)
    if latent_key is not None and latent_key not in source.latent_keys:
        raise click.BadParameter(f"{latent_key!r}: this model's adapter writes "
                                 f"{', '.join(source.latent_keys)}", param_hint="--latent-key")
    return source, source
