"""``biomtl train-structure`` and ``biomtl evaluate-structure``."""

from __future__ import annotations

import dataclasses
import json
import os

import click


@click.command("train-structure")
@click.option("--train", "train_paths", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="SS8-labelled chains (JSON lines, .gz ok); repeatable.")
@click.option("--rsa-train", "rsa_paths", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="RSA-labelled chains; RSA is joined onto --train chains of the same sequence.")
@click.option("--val", "val_paths", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Validation chains (default: a deterministic hash split of the training data).")
@click.option("--val-fraction", type=click.FloatRange(0, 0.9), default=None,
              help="Fraction of --train chains held out for validation [default: 0.05].")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the model (model.safetensors + config.json).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML with model:, training: and data: sections.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None)
@click.option("--weighting", default=None, help="Loss-weighting strategy (e.g. equal).")
@click.option("--tasks", default=None, help="Comma-separated subset of ss8,ss3,rsa,disorder.")
@click.option("--backbone", default=None, metavar="NAME|PATH",
              help="Train on ESM-2 features: a fair-esm name (e.g. esm2_t6_8M_UR50D; torch.hub "
                   "cache in $TORCH_HOME) or a local .pt checkpoint.")
@click.option("--embedding-cache", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help="Folder caching the ESM-2 embeddings on disk (with --backbone).")
@click.option("--init-from", default=None, metavar="DIR|NAME",
              help="Fine-tune: start from this checkpoint or shipped model (its architecture).")
@click.pass_context
def train_structure(ctx, train_paths, rsa_paths, val_paths, val_fraction, out_dir, config_path,
                    seed, epochs, weighting, tasks, backbone, embedding_cache, init_from) -> None:
    """Train a structure model (SS8, SS3, RSA) on labelled chains.

    Input files hold one JSON object per line: {"id", "seq", "ss8", "rsa", "mask"}; NetSurfP-2.0
    .npz files are read too. Each residue trains every task whose label it has (mask 1, SS8
    letter, RSA not null): chains without RSA still train SS, and RSA-only chains train RSA.
    Under torchrun (several processes) training runs with DistributedDataParallel and only
    rank 0 writes the outputs.

    \b
    Example:
      biomtl train-structure --train data/train.jsonl.gz \\
          --rsa-train data/rsa_train.jsonl.gz --out runs/ss --epochs 20 --seed 1
      biomtl train-structure --train mine.jsonl.gz --init-from ss_rsa_cnnbilstm_nsp2_v1 \\
          --out runs/finetuned --epochs 3
      torchrun --nproc_per_node=2 -m bio_mtl.cli train-structure --train t.jsonl.gz --out runs/d
    """
    from ..mtl.distributed import cleanup, init_from_env, is_main_process
    from ..structure.embeddings import ESMEmbedder
    from .console import RichProgress
    from .outputs import check_outputs

    check_outputs(folders={"'--out'": out_dir, "'--embedding-cache'": embedding_cache},
                  inputs=[*train_paths, *rsa_paths, *val_paths, config_path],
                  model_dirs=[init_from])
    if not train_paths and not rsa_paths:
        raise click.UsageError("no training data: pass --train and/or --rsa-train")
    if val_paths and val_fraction is not None:
        raise click.UsageError("give either --val or --val-fraction, not both")
    if embedding_cache is not None and backbone is None:
        raise click.UsageError("--embedding-cache caches ESM-2 features; it needs --backbone")
    estimator = _estimator(config_path, init_from=init_from, tasks=tasks, epochs=epochs,
                           weighting=weighting, seed=seed, val_fraction=val_fraction)
    embedder = None if backbone is None else \
        ESMEmbedder.from_pretrained(backbone, cache_dir=embedding_cache)
    init_from_env()  # under torchrun: one process per rank, DDP inside the trainer
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet")) or \
        not is_main_process()
    try:
        estimator.fit(list(train_paths), rsa_paths=list(rsa_paths), val_paths=list(val_paths),
                      embedder=embedder, checkpoint_dir=f"{out_dir}/state",
                      log_path=f"{out_dir}/train_log.jsonl",
                      progress=RichProgress(enabled=not quiet))
    finally:
        main = is_main_process()
        cleanup()
    if not main:
        return
    estimator.save(out_dir)
    if not quiet:
        m = estimator.metrics_
        parts = [f"{t} {k}={m[t][k]:.4f}" for t in ("ss8", "ss3", "rsa") if t in m
                 for k in ("accuracy", "pearson", "mae") if k in m[t]]
        click.echo(f"saved model to {out_dir} (best epoch {m.get('best_epoch')}); validation: "
                   + ", ".join(parts), err=True)


@dataclasses.dataclass(frozen=True)
class _Sections:
    """The sections of a ``train-structure --config`` file (each checked by its dataclass)."""

    model: dict | None = None
    training: dict | None = None
    data: dict | None = None


def _estimator(config_path, *, init_from, tasks, epochs, weighting, seed, val_fraction):
    """The :class:`~bio_mtl.structure.StructureModel` of the YAML file and the options.

    Raises ``ConfigError`` for a model section or ``--tasks`` beside ``--init-from``, unknown
    keys and an unknown weighting strategy, before any data is read.
    """
    from ..errors import ConfigError
    from ..mtl._dataclasses import dataclass_from_dict
    from ..mtl.config import read_mapping
    from ..mtl.trainer import TrainConfig
    from ..mtl.weighting import get_weighting
    from ..structure.estimator import StructureModel
    from ..structure.model import StructureModelConfig
    from ..structure.pretrained import load_model
    from ..structure.train import StructureDataConfig, default_monitor

    where = str(config_path or "train-structure")
    doc = dataclass_from_dict(_Sections, read_mapping(config_path) if config_path else {},
                              where=where)
    if init_from is not None and (doc.model or tasks):
        raise ConfigError("--init-from takes the architecture and tasks of that model; leave "
                          "out the config's model: section and --tasks")
    mcfg = None if init_from is not None else \
        dataclass_from_dict(StructureModelConfig, doc.model or {}, where=f"{where}: model")
    if tasks:
        mcfg = dataclasses.replace(mcfg, tasks=tuple(t.strip() for t in tasks.split(",")))
    net_tasks = mcfg.tasks if mcfg is not None else load_model(init_from).config_.tasks
    training = {"monitor": default_monitor(net_tasks), **(doc.training or {}), "seed": seed}
    training.update({k: v for k, v in (("epochs", epochs), ("weighting", weighting))
                     if v is not None})
    tcfg = TrainConfig.from_dict(training)
    get_weighting(tcfg.weighting, list(net_tasks), **tcfg.weighting_params)
    data = {**(doc.data or {}), **({} if val_fraction is None else
                                   {"val_fraction": val_fraction})}
    return StructureModel(model=mcfg, training=tcfg, init_from=init_from,
                          data=dataclass_from_dict(StructureDataConfig, data,
                                                   where=f"{where}: data"))


@click.command("evaluate-structure")
@click.option("--model", "model_name", default=None, metavar="DIR|NAME",
              help="Checkpoint or ensemble directory, or a shipped model: "
                   "ss_rsa_cnnbilstm_ens2_nsp2_v1 (default), ss_rsa_cnnbilstm_nsp2_v1 (2x "
                   "faster), ss_rsa_resdcnn_nsp2_v1.")
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write all metrics as JSON.")
@click.option("--markdown", type=click.Path(dir_okay=False), default=None,
              help="Write a Markdown table.")
@click.option("--batch-tokens", type=click.IntRange(min=64), default=16384, show_default=True)
@click.option("--backbone", default=None, metavar="NAME|PATH",
              help="ESM-2 model for models trained on ESM features.")
@click.option("--embedding-cache", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help="Folder caching ESM-2 embeddings on disk.")
def evaluate_structure(model_name, data, output, markdown, batch_tokens, backbone,
                       embedding_cache) -> None:
    """Score a structure model on labelled chains: Q3, Q8, per-class P/R/F1, SOV, RSA r/MAE.

    Each DATA file (JSON lines like the training data, or a NetSurfP-2.0 .npz) is scored on
    its own, every record with its own mask. Undefined metrics (e.g. the precision of a class
    never predicted) are null in the JSON and "-" in the table.

    \b
    Example:
      biomtl evaluate-structure --model runs/ss data/cb513.jsonl.gz \\
          data/casp_fm_rsa.jsonl.gz -o metrics.json --markdown metrics.md
    """
    from .._io import atomic_write
    from ..structure.data import read_chains
    from ..structure.embeddings import embedder_for
    from ..structure.metrics import metrics_markdown, score_predictions
    from ..structure.pretrained import load_model
    from .outputs import check_outputs, finite_json, stdout_closed_quietly

    check_outputs({"'-o' / '--output'": output, "'--markdown'": markdown},
                  {"'--embedding-cache'": embedding_cache}, inputs=data, model_dirs=[model_name])
    if output and markdown and os.path.realpath(output) == os.path.realpath(markdown):
        raise click.BadParameter("-o and --markdown name the same file; give two paths",
                                 param_hint="'--markdown'")
    sets = {name: read_chains(path) for name, path in _set_names(data).items()}
    model = load_model(model_name)
    embedder = embedder_for(model, backbone, cache_dir=embedding_cache)
    results = {}
    for name, chains in sets.items():
        preds = model.predict([(c.id, c.seq) for c in chains], batch_tokens=batch_tokens,
                              embedder=embedder)
        results[name] = finite_json(score_predictions(preds, chains))
    table = metrics_markdown(results)
    if output:
        with atomic_write(output) as handle:
            json.dump(results, handle, indent=2, allow_nan=False)
            handle.write("\n")
    if markdown:
        with atomic_write(markdown) as handle:
            handle.write(table)
    with stdout_closed_quietly():
        click.echo(table)


def _set_names(paths) -> dict[str, str]:
    """Data set name -> path: the file name without .gz/.jsonl/.json/.npz, made unique.

    A name seen twice (``a/cb513.jsonl.gz`` and ``b/cb513.jsonl.gz``) gets its parent folder,
    and a repeat of that its position, so no data set silently replaces another.
    """
    from pathlib import Path

    def stem(p: Path) -> str:
        name = p.name
        for suffix in (".gz", ".jsonl", ".json", ".npz"):
            name = name.removesuffix(suffix)
        return name

    stems = [stem(Path(p)) for p in paths]
    out: dict[str, str] = {}
    for k, (path, name) in enumerate(zip(paths, stems, strict=True)):
        if stems.count(name) > 1:
            name = f"{Path(path).parent.name or '.'}/{name}"
        if name in out:
            name = f"{name}#{k + 1}"
        out[name] = path
    return out
