"""``biomtl train-structure`` and ``biomtl evaluate-structure``."""

from __future__ import annotations

import json

import click

_DATA_KEYS = ("batch_tokens", "max_len", "ss_fraction", "rsa_repeat", "val_fraction",
              "rsa_val_fraction", "max_ss_chains")


def _read_yaml(path: str) -> dict:
    import yaml

    from ..errors import ConfigError

    try:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML config ({exc})".replace("\n", " ")) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: config must be a mapping with model/training/data sections")
    unknown = sorted(set(doc) - {"model", "training", "data"})
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}; valid: model, "
                          "training, data")
    bad = sorted(set(doc.get("data") or {}) - set(_DATA_KEYS))
    if bad:
        raise ConfigError(f"{path}: unknown data key(s) {', '.join(bad)}; valid: "
                          f"{', '.join(_DATA_KEYS)}")
    return doc


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
@click.option("--tasks", default=None, help="Comma-separated subset of ss8,ss3,rsa.")
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

    \b
    Example:
      biomtl train-structure --train data/train.jsonl.gz \\
          --rsa-train data/rsa_train.jsonl.gz --out runs/ss --epochs 20 --seed 1
      biomtl train-structure --train mine.jsonl.gz --init-from ss_rsa_cnnbilstm_nsp2_v1 \
          --out runs/finetuned --epochs 3
    """
    from ..structure.train import train_structure as train
    from .console import RichProgress
    from .structure_common import check_output_dir

    check_output_dir(out_dir, "'--out'")
    if not train_paths and not rsa_paths:
        raise click.UsageError("no training data: pass --train and/or --rsa-train")
    if val_paths and val_fraction is not None:
        raise click.UsageError("give either --val or --val-fraction, not both")
    if embedding_cache is not None and backbone is None:
        raise click.UsageError("--embedding-cache caches ESM-2 features; it needs --backbone")
    doc = _read_yaml(config_path) if config_path else {}
    mcfg, tcfg = _configs(doc, init_from=init_from, tasks=tasks, epochs=epochs,
                          weighting=weighting, seed=seed)
    data = dict(doc.get("data") or {})
    if val_fraction is not None:
        data["val_fraction"] = val_fraction
    embedder = None
    if backbone is not None:
        from ..structure.embeddings import ESMEmbedder

        embedder = ESMEmbedder.from_pretrained(backbone, cache_dir=embedding_cache)
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    result = train(list(train_paths), rsa_paths=list(rsa_paths), val_paths=list(val_paths),
                   model_config=None if init_from else mcfg, init_from=init_from,
                   train_config=tcfg, out_dir=out_dir, embedder=embedder,
                   checkpoint_dir=f"{out_dir}/state", log_path=f"{out_dir}/train_log.jsonl",
                   progress=RichProgress(enabled=not quiet), **data)
    if not quiet:
        m = result.metrics
        parts = [f"{t} {k}={m[t][k]:.4f}" for t in ("ss8", "ss3", "rsa") if t in m
                 for k in ("accuracy", "pearson", "mae") if k in m[t]]
        click.echo(f"saved model to {out_dir} (best epoch {m.get('best_epoch')}); validation: "
                   + ", ".join(parts), err=True)


def _configs(doc: dict, *, init_from, tasks, epochs, weighting, seed):
    """The model and training configs from the YAML ``doc`` and the command-line options.

    Raises ``ConfigError`` for a model section or ``--tasks`` beside ``--init-from``, unknown
    keys and an unknown weighting strategy, before any data is read.
    """
    import dataclasses

    from ..errors import ConfigError
    from ..mtl.trainer import TrainConfig
    from ..mtl.weighting import get_weighting
    from ..structure.model import StructureModelConfig

    if init_from is not None and (doc.get("model") or tasks):
        raise ConfigError("--init-from takes the architecture and tasks of that model; leave "
                          "out the config's model: section and --tasks")
    if init_from is not None:
        from ..structure.pretrained import load_model

        init_model = load_model(init_from)
        if hasattr(init_model, "members"):
            raise ConfigError(f"--init-from {init_from}: an ensemble cannot be fine-tuned as one "
                              "model; give one of its member folders (member_0, ...)")
        mcfg = init_model.structure_config
    else:
        mcfg = StructureModelConfig.from_dict(doc.get("model") or {})
    if tasks:
        mcfg = dataclasses.replace(mcfg, tasks=tuple(t.strip() for t in tasks.split(",")))
    training = dict(doc.get("training") or {})
    training.setdefault("monitor", "ss8/accuracy" if "ss8" in mcfg.tasks else "loss")
    if epochs is not None:
        training["epochs"] = epochs
    if weighting is not None:
        training["weighting"] = weighting
    training["seed"] = seed
    tcfg = TrainConfig.from_dict(training)
    get_weighting(tcfg.weighting, list(mcfg.tasks), **tcfg.weighting_params)
    return mcfg, tcfg


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
    from ..structure.metrics import metrics_markdown, score_predictions
    from ..structure.predict import predict_structure
    from ..structure.pretrained import load_model
    from .predict_structure import esm_embedder
    from .structure_common import (
        check_output_file,
        finite_json,
        output_errors,
        stdout_closed_quietly,
    )

    check_output_file(output, "'-o' / '--output'")
    check_output_file(markdown, "'--markdown'")
    sets = {name: read_chains(path) for name, path in _set_names(data).items()}
    model = load_model(model_name)
    embedder = esm_embedder(model, backbone, embedding_cache)
    results = {}
    for name, chains in sets.items():
        preds = predict_structure([(c.id, c.seq) for c in chains], model,
                                  batch_tokens=batch_tokens, embedder=embedder)
        results[name] = finite_json(score_predictions(preds, chains))
    table = metrics_markdown(results)
    if output:
        with output_errors(output, "'-o' / '--output'"), atomic_write(output) as handle:
            json.dump(results, handle, indent=2, allow_nan=False)
            handle.write("\n")
    if markdown:
        with output_errors(markdown, "'--markdown'"), atomic_write(markdown) as handle:
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
