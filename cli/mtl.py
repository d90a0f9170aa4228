"""``biomtl mtl``: train, evaluate and study generic multi-task models from a YAML config."""

from __future__ import annotations

import json

import click


def _load(config_path: str, seed: int | None, epochs: int | None):
    """Read the config and apply the command-line overrides (validated by the dataclasses)."""
    import dataclasses

    from ..mtl.config import load_config

    config = load_config(config_path)
    changes = {}
    if seed is not None:
        changes["seed"] = seed
    if epochs is not None:
        changes["epochs"] = epochs
    if changes:
        config = config.replace(training=dataclasses.replace(config.training, **changes))
    return config


def _check(config_path: str, config, *, out_dir: str) -> None:
    """Refuse (exit 2) an --out that cannot be written or would overwrite an input."""
    from .outputs import check_outputs

    check_outputs(folders={"'--out'": out_dir}, inputs=[config_path, config.data.path])


def _quiet(ctx: click.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(obj and obj.get("quiet"))


def _metric_rows(metrics: dict) -> list[list]:
    rows = []
    for split, result in metrics.items():
        for task, values in result.items():
            if isinstance(values, dict):
                rows += [[split, task, name, value] for name, value in values.items()]
    return rows


def _markdown(title: str, columns, rows) -> str:
    def cell(v):
        return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _write_json(path, doc) -> None:
    from .._io import atomic_write

    with atomic_write(path) as handle:
        json.dump(doc, handle, indent=2)
        handle.write("\n")


def _write_text(path, text: str) -> None:
    from .._io import atomic_write

    with atomic_write(path) as handle:
        handle.write(text)


_CONFIG = click.option("--config", "config_path", required=True,
                       type=click.Path(exists=True, dir_okay=False),
                       help="Experiment YAML/JSON (data, model, tasks, training).")
_OUT = click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                    help="Output folder.")
_SEED = click.option("--seed", type=int, default=None,
                     help="Override training.seed (init, shuffling, dropout).")
_EPOCHS = click.option("--epochs", type=click.IntRange(min=1), default=None,
                       help="Override training.epochs.")


@click.group("mtl")
def mtl() -> None:
    """Train and evaluate a generic multi-task model described by a YAML config.

    \b
    Example:
      biomtl mtl train --config examples/synthetic.yaml --out runs/synth --seed 1
      biomtl mtl evaluate --model runs/synth -o runs/synth/eval.json
    """


@mtl.command("train", short_help="Train a model from a YAML config (resumable).")
@_CONFIG
@_OUT
@_SEED
@_EPOCHS
@click.pass_context
def train(ctx, config_path, out_dir, seed, epochs) -> None:
    """Train the model of a config; write the checkpoint, metrics.json and report.md.

    Also writes train_log.jsonl (one JSON record of losses and validation metrics per epoch)
    and the resumable trainer state in OUT/state: running the same command again after an
    interruption continues from the last finished epoch. Under torchrun (several processes)
    training runs with DistributedDataParallel and only rank 0 writes the outputs.

    \b
    Example:
      biomtl mtl train --config examples/synthetic.yaml --out runs/synth --seed 1
      torchrun --nproc_per_node=2 -m bio_mtl.cli mtl train --config exp.yaml --out runs/ddp
    """
    from ..mtl.distributed import cleanup, init_from_env, is_main_process
    from ..mtl.experiment import MultiTaskEstimator, jsonable
    from .console import RichProgress, print_table

    config = _load(config_path, seed, epochs)
    _check(config_path, config, out_dir=out_dir)
    init_from_env()  # under torchrun: one process per rank, DDP inside the trainer
    quiet = _quiet(ctx) or not is_main_process()
    try:
        est = MultiTaskEstimator.from_config(config).fit(
            progress=RichProgress(enabled=not quiet), checkpoint_dir=f"{out_dir}/state")
    finally:
        main = is_main_process()
        cleanup()
    if not main:
        return
    est.save(out_dir)
    rows = _metric_rows(est.metrics_)
    history = jsonable(est.history_)
    _write_json(f"{out_dir}/metrics.json", jsonable({"metrics": est.metrics_,
                                                     "best_epoch": est.best_epoch_,
                                                     "history": history}))
    _write_text(f"{out_dir}/train_log.jsonl", "".join(json.dumps(r) + "\n" for r in history))
    _write_text(f"{out_dir}/report.md", _markdown(
        f"Metrics of {config_path} (seed {est.config_.training.seed}, best epoch "
        f"{est.best_epoch_})", ["split", "task", "metric", "value"], jsonable(rows)))
    if not quiet:
        print_table(f"metrics ({out_dir})", ["split", "task", "metric", "value"], rows,
                    stderr=True)


@mtl.command("evaluate", short_help="Per-task metrics of a saved model on every split.")
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False),
              help="Checkpoint folder written by 'biomtl mtl train'.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Take the data section from this config instead.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the metrics as JSON.")
def evaluate(model_dir, config_path, output) -> None:
    """Per-task metrics of a trained model on every split of its data.

    \b
    Example:
      biomtl mtl evaluate --model runs/synth -o runs/synth/eval.json
    """
    from ..mtl.config import load_config
    from ..mtl.experiment import MultiTaskEstimator, jsonable
    from .console import print_table
    from .outputs import check_outputs

    check_outputs({"'-o' / '--output'": output}, inputs=[config_path], model_dirs=[model_dir])
    est = MultiTaskEstimator.load(model_dir)
    metrics = est.evaluate(config=load_config(config_path) if config_path else None)
    if output:
        _write_json(output, jsonable(metrics))
    print_table(f"metrics ({model_dir})", ["split", "task", "metric", "value"],
                _metric_rows(metrics))


@mtl.command("negative-transfer",
             short_help="Single-task vs joint training per task, and Delta_m.")
@_CONFIG
@_OUT
@_SEED
@_EPOCHS
@click.pass_context
def negative_transfer(ctx, config_path, out_dir, seed, epochs) -> None:
    """Single-task vs joint training per task, and Delta_m (Maninis et al. 2019).

    Writes negative_transfer.json and negative_transfer.md into --out.

    \b
    Example:
      biomtl mtl negative-transfer --config examples/synthetic.yaml --out runs/nt
    """
    from ..mtl.experiment import jsonable
    from ..mtl.negative_transfer import negative_transfer as compare
    from .console import RichProgress, print_table

    config = _load(config_path, seed, epochs)
    _check(config_path, config, out_dir=out_dir)
    quiet = _quiet(ctx)
    report = compare(config, progress=RichProgress(enabled=not quiet))
    cols = ["task", "metric", "single", "joint", "difference", "relative"]
    rows = [[r[c] for c in cols] for r in report.rows]
    _write_json(f"{out_dir}/negative_transfer.json", jsonable(report.to_dict()))
    _write_text(f"{out_dir}/negative_transfer.md", _markdown(
        f"Single-task vs joint on the {report.split} split: Delta_m = "
        f"{100 * report.delta_m:+.2f} %", cols, jsonable(rows)))
    if not quiet:
        print_table(f"Delta_m = {100 * report.delta_m:+.2f} % ({report.split})", cols, rows,
                    stderr=True)


@mtl.command("pareto", short_help="Sweep two tasks' loss weights; plot the Pareto front.")
@_CONFIG
@_OUT
@click.option("--points", type=click.IntRange(min=2), default=5, show_default=True,
              help="Number of weight pairs (w, 1 - w) on [0, 1].")
@_SEED
@_EPOCHS
@click.pass_context
def pareto(ctx, config_path, out_dir, points, seed, epochs) -> None:
    """Sweep static loss weights of two tasks; write pareto.json and pareto.png.

    \b
    Example:
      biomtl mtl pareto --config examples/synthetic.yaml --out runs/pareto --points 5
    """
    from .._io import atomic_write
    from ..mtl.experiment import jsonable
    from ..mtl.pareto import plot_front, sweep_weights, weight_grid
    from .console import RichProgress, print_table

    config = _load(config_path, seed, epochs)
    _check(config_path, config, out_dir=out_dir)
    grid = weight_grid(points)
    quiet = _quiet(ctx)
    rows = sweep_weights(config, grid, progress=RichProgress(enabled=not quiet))
    a, b = config.tasks
    labels = [f"{t.name} {t.resolved_metrics[0]}" for t in (a, b)]
    fig = plot_front([[r[a.name], r[b.name]] for r in rows], [r["pareto"] for r in rows],
                     labels=labels, annotations=[f"{w[0]:.2f}" for w in grid])
    _write_json(f"{out_dir}/pareto.json", jsonable({"tasks": [a.name, b.name],
                                                    "metrics": labels, "points": rows}))
    with atomic_write(f"{out_dir}/pareto.png", "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    if not quiet:
        print_table("static-weight sweep", ["w_" + a.name, labels[0], labels[1], "pareto"],
                    [[r["weights"][0], r[a.name], r[b.name], r["pareto"]] for r in rows],
                    stderr=True)
