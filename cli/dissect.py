"""``biomtl dissect``: report what each latent dimension tracks."""

from __future__ import annotations

import click


@click.command("dissect")
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="AnnData file (.h5ad) with the samples and their obs covariates.")
@click.option("--model", "model_dir", type=click.Path(file_okay=False), default=None,
              help="A train-expression model folder (re-embeds DATA).")
@click.option("--latent-key", default=None,
              help="Dissect an embedding already in DATA's obsm instead (X_pca, X_scVI...).")
@click.option("--covariate", "covariates", multiple=True, required=True,
              help="obs column to test each dimension against; repeatable.")
@click.option("--confounder", "confounders", multiple=True,
              help="A covariate that plays the confounder role (e.g. age); repeatable.")
@click.option("--batch-key", default=None, help="obs column of the technical batch.")
@click.option("--gene-sets", type=click.Path(dir_okay=False), default=None,
              help="GMT file [default: the shipped curated collection].")
@click.option("--no-enrichment", is_flag=True,
              help="Skip gene-set enrichment (a latent without genes, e.g. a dose model's).")
@click.option("--max-dims", type=click.IntRange(min=1), default=None,
              help="Only the first N dimensions.")
@click.option("--gene-attribution", type=click.Choice(["auto", "correlation"]), default="auto",
              show_default=True, help="auto: decoder / PCA loadings; correlation: every gene.")
@click.option("--min-set-size", type=click.IntRange(min=1), default=5, show_default=True,
              help="Skip gene sets with fewer genes in the data.")
@click.option("--rotate", type=click.Choice(["none", "varimax"]), default="none",
              show_default=True, help="Varimax-rotate the latent (e.g. a PCA) before dissecting.")
@click.option("--permutations", type=click.IntRange(min=0), default=0, show_default=True,
              help="Permutations for correlation p-values (0 = analytic).")
@click.option("--gsea-permutations", type=click.IntRange(min=10), default=1000,
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Report folder: dimensions.tsv, report.json, report.html, PNGs.")
@click.pass_context
def dissect(ctx, data, model_dir, latent_key, covariates, confounders, batch_key, gene_sets,
            no_enrichment, max_dims, gene_attribution, min_set_size, rotate, permutations,
            gsea_permutations, seed, out_dir) -> None:
    """Label each latent dimension: confounder, mechanism, nuisance or unexplained.

    \b
    Example:
      biomtl dissect --model runs/expr --data cohort.h5ad --covariate age \\
          --covariate disease --covariate response --confounder age \\
          --batch-key batch --gene-sets sets.gmt --out report/
      biomtl dissect --data pbmc.h5ad --latent-key X_pca --covariate bulk_labels \\
          --covariate phase --max-dims 10 --out pbmc_report/
    """
    from ..dissect._dissect import dissect as run
    from ..dissect._h5ad import read_h5ad
    from ..dissect.report import write_report
    from ..errors import ConfigError
    from .console import print_table

    if (model_dir is None) == (latent_key is None):
        raise ConfigError("give exactly one of --model DIR or --latent-key KEY")
    adata = read_h5ad(data)
    result = run(adata, latent_key=latent_key, model=model_dir, covariates=list(covariates),
                 confounders=list(confounders), batch_key=batch_key,
                 gene_sets=False if no_enrichment else gene_sets,
                 max_dims=max_dims, gene_attribution=gene_attribution,
                 min_set_size=min_set_size, rotate=rotate, n_permutations=permutations,
                 n_gsea_permutations=gsea_permutations, seed=seed, path=data)
    write_report(result, out_dir)
    if not (ctx.obj and ctx.obj.get("quiet")):
        dims = result.dimensions
        print_table(f"dissection -> {out_dir}",
                    ["dimension", "label", "best covariate", "q", "batch eta2"],
                    [[r.dimension, r.label, str(r.best_covariate), r.best_q, r.batch_eta2]
                     for r in dims.itertuples()])
