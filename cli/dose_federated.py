"""The ``--federated`` options of ``biomtl train-dose`` (Flower; one client per site)."""

from __future__ import annotations

import click

_STRATEGIES = ("fedavg", "fedprox", "personalised")


def federated_options(command):
    """Add the federated options to ``train-dose`` (they reach it as ``**federated``)."""
    options = [
        click.option("--federated", is_flag=True,
                     help="Train with Flower, one client per site: only weights and counts "
                          "leave a site (needs: pip install 'bio-mtl[federated]')."),
        click.option("--site-column", default="Project Site", show_default=True,
                     help="With --federated: the column naming each patient's site."),
        click.option("--rounds", type=click.IntRange(min=1), default=20, show_default=True,
                     help="With --federated: federated rounds."),
        click.option("--strategy", type=click.Choice(_STRATEGIES), default="fedavg",
                     show_default=True,
                     help="With --federated: FedAvg, FedProx, or a federated pathway layer "
                          "with one head per site (personalised; site models in OUT/sites)."),
        click.option("--local-epochs", type=click.IntRange(min=1), default=2,
                     show_default=True, help="With --federated: epochs per site per round."),
        click.option("--proximal-mu", type=click.FloatRange(min=0), default=0.1,
                     show_default=True, help="With --strategy fedprox: proximal weight."),
        click.option("--runtime", type=click.Choice(["simulation", "deployment"]),
                     default="simulation", show_default=True,
                     help="With --federated: Flower's Simulation Runtime, or its Deployment "
                          "Runtime on localhost (a SuperLink and one SuperNode per site)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_federated(federated: dict, *, base, finetune: bool) -> None:
    """Usage errors: federated options without ``--federated``, or with ``--add-to``."""
    if not federated["federated"]:
        given = [f"--{k.replace('_', '-')}" for k in ("site_column", "rounds", "strategy",
                                                      "local_epochs", "proximal_mu", "runtime")
                 if click.get_current_context().get_parameter_source(k).name != "DEFAULT"]
        if given:
            raise click.UsageError(f"{', '.join(given)} need --federated")
    elif base is not None or finetune:
        raise click.UsageError("--federated cannot be combined with --add-to")


def train_federated_command(data, out_dir, params: dict, federated: dict) -> None:
    """Run the federation and save the global model (and the site models) to ``out_dir``."""
    import shutil
    import tempfile
    from pathlib import Path

    from .._io import atomic_folder
    from ..dosing.features import read_training_table
    from ..dosing.federated import FederatedConfig, split_sites, train_federated
    from ..errors import InputError

    rows, info = read_training_table(data)
    try:
        sites = split_sites(rows, federated["site_column"])
    except InputError as err:  # name the file, as every other table error does
        raise InputError(err.problem, path=data) from None
    config = FederatedConfig(strategy=federated["strategy"], rounds=federated["rounds"],
                             local_epochs=federated["local_epochs"],
                             proximal_mu=federated["proximal_mu"], seed=params.pop("seed"))
    for key in ("epochs", "lr", "batch_size"):
        params.pop(key, None)  # the federation's own optimisation settings apply
    verbose = bool((click.get_current_context().find_root().obj or {}).get("verbose"))
    with tempfile.TemporaryDirectory(prefix="biomtl-sites-") as scratch:  # removed on failure
        result = train_federated(sites, config=config, model_params=params,
                                 runtime=federated["runtime"], site_dir=Path(scratch),
                                 verbose=verbose)
        result.model.save(out_dir, data=info, **result.metadata())
        if any(Path(scratch).iterdir()):
            with atomic_folder(Path(out_dir) / "sites", replace=True) as tmp:
                shutil.copytree(scratch, tmp, dirs_exist_ok=True)
    cost = result.cost
    click.echo(f"federated {config.strategy} over {len(sites)} sites "
               f"({', '.join(f'{k}: {v}' for k, v in result.sites.items())}), "
               f"{cost['rounds']} rounds, {cost['failed_replies']} failed replies, "
               f"{cost['bytes_down'] + cost['bytes_up']:,} bytes exchanged; saved to {out_dir}"
               + (f" (site models in {out_dir}/sites)" if config.strategy == "personalised"
                  else ""), err=True)
