"""``biomtl train-expression``: train a multi-task expression model on an AnnData file."""

from __future__ import annotations

import click


def _parse_tasks(values) -> dict[str, str]:
    """``--task NAME:KIND`` options as ``{obs column: kind}``; each column at most once."""
    tasks: dict[str, str] = {}
    for value in values:
        name, sep, kind = value.rpartition(":")
        if not sep or kind not in ("classification", "regression") or not name:
            raise click.BadParameter(f"{value!r}: expected NAME:classification or "
                                     "NAME:regression (NAME = an obs column)",
                                     param_hint="--task")
        if name in tasks:
            raise click.BadParameter(f"{value!r}: column {name!r} is already a task "
                                     f"({name}:{tasks[name]}); give each column once",
                                     param_hint="--task")
        tasks[name] = kind
    return tasks


@click.command("train-expression")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--task", "tasks", multiple=True, required=True,
              help="obs column and kind, e.g. disease:classification; repeatable.")
@click.option("--batch-key", default=None, help="obs column of the technical batch.")
@click.option("--adversarial-batch", is_flag=True,
              help="Add a gradient-reversal batch adversary (needs --batch-key).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (model.safetensors + config.json).")
@click.option("--latent-dim", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--hidden-dim", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--n-top-genes", type=click.IntRange(min=2), default=2000, show_default=True,
              help="Highly variable genes kept.")
@click.option("--rotation", type=click.Choice(["varimax", "none"]), default="varimax",
              show_default=True, help="Post-hoc rotation of the latent.")
@click.option("--epochs", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.pass_context
def train_expression(ctx, data, tasks, batch_key, adversarial_batch, out_dir, latent_dim,
                     hidden_dim, n_top_genes, rotation, epochs, batch_size, lr, seed) -> None:
    """Train encoder -> latent -> task heads + reconstruction on DATA (.h5ad).

    Counts or log-normalised values are detected; normalize_total, log1p and highly variable
    gene selection (scanpy) are recorded in the model so `biomtl dissect` can re-embed new data.
    Missing labels (NaN) are masked, not dropped. Under torchrun (several processes) training
    runs with DistributedDataParallel and only rank 0 writes the model.

    \b
    Example:
      biomtl train-expression cohort.h5ad --task disease:classification \\
          --task age:regression --task response:classification \\
          --batch-key batch --adversarial-batch --out runs/expr --seed 0
      torchrun --nproc_per_node=2 -m bio_mtl.cli train-expression cohort.h5ad \\
          --task disease:classification --out runs/expr_ddp
    """
    import json

    from ..expression import ExpressionModel, read_h5ad
    from ..mtl.distributed import cleanup, init_from_env, is_main_process
    from .console import RichProgress
    from .outputs import check_outputs

    spec = _parse_tasks(tasks)
    if adversarial_batch and batch_key is None:
        raise click.UsageError("--adversarial-batch needs --batch-key (the obs column of the "
                               "batch the adversary removes)")
    check_outputs(folders={"'--out'": out_dir}, inputs=[data])
    model = ExpressionModel(latent_dim=latent_dim, hidden_dim=hidden_dim,
                            n_top_genes=n_top_genes, adversarial_batch=adversarial_batch,
                            rotation=rotation, epochs=epochs, batch_size=batch_size, lr=lr,
                            seed=seed)
    adata = read_h5ad(data)
    init_from_env()  # under torchrun: one process per rank, DDP inside the trainer
    quiet = bool(ctx.obj and ctx.obj.get("quiet")) or not is_main_process()
    try:
        model.fit(adata, spec, batch_key=batch_key, progress=RichProgress(enabled=not quiet),
                  path=data)
    finally:
        main = is_main_process()
        cleanup()
    if not main:
        return
    model.save(out_dir)
    if not quiet:
        metrics = {k: v for k, v in model.metrics_.items() if k != "loss"}
        click.echo(json.dumps({"out": out_dir, "held_out": metrics}, indent=1, default=float))
