"""Federated training of the dosing model across sites with Flower (``train-dose --federated``).

Hospitals often cannot pool patient data. Here each site is a Flower client
(:mod:`bio_mtl.dosing._fl_client`) that trains the :class:`~bio_mtl.dosing.model.DosingModel`
network on its own patients for a few local epochs per round; only parameters, counts and
sums leave a site (the standardisation of age/height/weight comes from pooled sums, the
conformal interval from pooled counts of residuals per bin). The coordinator
(:mod:`bio_mtl.dosing._fl_server`) runs one of :data:`FEDERATED_STRATEGIES` through Flower's
own ``Strategy.start``: FedAvg and FedProx over the whole model, or ``personalised``, where the
pathway layer is federated and each site keeps its own head (multi-task learning across sites).

Two Flower runtimes run the same ``ServerApp`` / ``ClientApp`` code:

* ``runtime="simulation"``: Flower's Simulation Runtime (``flwr.simulation.run_simulation``,
  Ray backend), one virtual SuperNode per site, in this process.
* ``runtime="deployment"``: Flower's Deployment Runtime on this machine
  (:func:`bio_mtl.dosing._fl_deploy.run_local_deployment`): a ``flower-superlink``, one
  ``flower-supernode`` per site, and ``flwr run`` of the app, talking over localhost. Across
  real hospitals each site runs its own SuperNode with ``--node-config 'data="site.csv"'``
  (docs/dose.md).

Needs the ``federated`` extra: ``pip install "bio-mtl[federated]"``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import ConfigError, InputError, ModelError

if TYPE_CHECKING:
    from .model import DosingModel

__all__ = ["FEDERATED_STRATEGIES", "FederatedConfig", "FederatedResult", "split_sites",
           "train_federated"]

#: Strategy names (the registry itself lives in :mod:`bio_mtl.dosing._fl_strategies`).
FEDERATED_STRATEGIES = ("fedavg", "fedprox", "personalised")
RUNTIMES = ("simulation", "deployment")


@dataclass(frozen=True)
class FederatedConfig:
    """How the federation trains.

    Parameters
    ----------
    strategy
        One of :data:`FEDERATED_STRATEGIES`.
    rounds
        Federated rounds.
    local_epochs
        Epochs over a site's training patients per round.
    batch_size
        Local mini-batch size.
    lr
        Peak learning rate (cosine decay over the rounds to 5 %).
    proximal_mu
        FedProx's proximal weight.
    round_timeout
        Seconds a round waits for the sites' replies (a site that has not answered by then
        is left out of that round).
    seed
        Initial weights and local batch orders.
    """

    strategy: str = "fedavg"
    rounds: int = 20
    local_epochs: int = 2
    batch_size: int = 64
    lr: float = 0.03
    proximal_mu: float = 0.1
    round_timeout: float = 600.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in FEDERATED_STRATEGIES:
            raise ConfigError(f"unknown federated strategy {self.strategy!r}; valid: "
                              f"{', '.join(FEDERATED_STRATEGIES)}")
        for name in ("rounds", "local_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"federated: {name} must be >= 1, got {getattr(self, name)}")


@dataclass
class FederatedResult:
    """What a federated run produced.

    Attributes
    ----------
    model
        The global :class:`~bio_mtl.dosing.model.DosingModel`.
    sites
        ``{site: number of patients}``.
    history
        One record per round: messages sent, replies, failures, bytes, train loss.
    cost
        Totals: rounds, messages, failed replies, bytes down/up, model size in bytes.
    site_dir
        Folder of the sites' own models (personalised strategy), else ``None``.
    """

    model: DosingModel
    sites: dict
    history: list
    cost: dict
    site_dir: Path | None = None
    settings: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        """JSON-ready provenance for ``config.json``."""
        keep = ("strategy", "rounds", "local_epochs", "batch_size", "lr", "proximal_mu",
                "seed", "runtime")
        return {"federated": {**{k: self.settings.get(k) for k in keep}, "sites": self.sites,
                              "cost": self.cost, "history": self.history}}


def split_sites(rows: pd.DataFrame, site_column: str = "site") -> dict[str, pd.DataFrame]:
    """``{site: its rows}`` in order of first appearance.

    Parameters
    ----------
    rows
        Tidy training rows.
    site_column
        The column naming each row's site (``"Project Site"`` of the IWPC table is the tidy
        column ``site``).

    Raises
    ------
    InputError
        The column is absent, or fewer than two sites.
    """
    column = "site" if site_column.strip().lower() in ("project site", "site") else site_column
    if column not in rows:
        raise InputError(f"no site column {site_column!r}; columns: {', '.join(rows.columns)}")
    names = rows[column].astype(str)
    sites = {s: rows[names == s].reset_index(drop=True) for s in dict.fromkeys(names)}
    if len(sites) < 2:
        raise InputError(f"federated training needs at least two sites in {site_column!r}, "
                         f"got {len(sites)}")
    return sites


def _settings(config: FederatedConfig, params: dict, n_sites: int, runtime: str) -> dict:
    from ._inputs import check_params
    from .model import DosingModel

    params = check_params(DosingModel, {**DosingModel().get_params(), **params},
                          where="federated DosingModel")
    return {**asdict(config), "n_sites": n_sites, "runtime": runtime, "model": params}


def train_federated(sites: Mapping[str, pd.DataFrame], *, config: FederatedConfig | None = None,
                    model_params: dict | None = None, runtime: str = "simulation",
                    site_dir: str | Path | None = None, verbose: bool = False
                    ) -> FederatedResult:
    """Train a DosingModel across sites with Flower; patient rows never leave their site.

    Parameters
    ----------
    sites
        ``{site name: tidy rows with dose_mg_per_week}`` (:func:`split_sites`).
    config
        :class:`FederatedConfig` (default settings when ``None``).
    model_params
        :class:`~bio_mtl.dosing.model.DosingModel` parameters (``target``, ``loss``,
        ``hidden``, ``vkorc1_by_ancestry``, ``weight_decay``, ``alpha``,
        ``calibration_fraction``); optimisation settings come from ``config``.
    runtime
        ``"simulation"`` or ``"deployment"`` (see the module docstring).
    site_dir
        Where the personalised strategy saves each site's own model (default: a temporary
        folder, reported in the result).
    verbose
        Let Flower log at INFO level.

    Returns
    -------
    FederatedResult

    Raises
    ------
    ConfigError
        An unknown runtime, strategy or DosingModel parameter.
    """
    config = config or FederatedConfig()
    _require_flower()
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown federated runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    settings = _settings(config, dict(model_params or {}), len(sites), runtime)
    folder = Path(site_dir) if site_dir is not None else \
        Path(tempfile.mkdtemp(prefix="biomtl-sites-")) if config.strategy == "personalised" \
        else None
    quiet = _Quiet(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("flwr").addFilter(quiet)
    try:
        if runtime == "simulation":
            names, frames = list(sites), list(sites.values())

            def load(context):
                i = int(context.node_config["partition-id"])
                return names[i], frames[i]

            out = _simulate(load, settings, folder, verbose=verbose)
        else:
            from ._fl_deploy import run_local_deployment

            out = run_local_deployment(sites, settings, site_dir=folder)
    finally:
        logging.getLogger("flwr").removeFilter(quiet)
    model = _global_model(out)
    counts = out["settings"]["sites"]
    return FederatedResult(model=model, sites={n: counts[n] for n in sites if n in counts},
                           history=out["history"], cost=out["cost"], site_dir=folder,
                           settings=out["settings"])


def _require_flower() -> None:
    try:
        import flwr  # noqa: F401
    except ImportError:
        msg = "federated training needs Flower: pip install 'bio-mtl[federated]'"
        raise ConfigError(msg) from None


class _Quiet(logging.Filter):
    """Drop Flower's records below ``level`` (its console handler ignores logger levels), and
    unless verbose its warnings about choices made here (``run_simulation`` is deprecated in
    favour of ``flwr run``; client-side evaluation is off on purpose)."""

    EXPECTED = ("DEPRECATED FEATURE: The `run_simulation`", "fraction_evaluate is set to 0.0")

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        expected = self.level > logging.INFO and record.getMessage().startswith(self.EXPECTED)
        return record.levelno >= self.level and not expected


def _global_model(out: dict):
    from ._fl_client import site_model

    return site_model(out["settings"], out["state"], out["q"])


def _simulate(load, settings: dict, folder: Path | None, *, verbose: bool) -> dict:
    """Flower's Simulation Runtime: one virtual SuperNode per site, the ServerApp here.

    ``load(context) -> (site, rows)`` picks a site's rows by the node's ``partition-id``.
    """
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from ._fl_client import make_client_app
    from ._fl_server import run_server

    sink: dict = {}
    server = ServerApp()

    @server.main()
    def main(grid, context) -> None:
        sink.update(run_server(grid, settings))

    run_simulation(server, make_client_app(load, site_dir=folder),
                   num_supernodes=int(settings["n_sites"]),
                   backend_config={"client_resources": {"num_cpus": 1},
                                   "init_args": {"num_cpus": 2, "include_dashboard": False,
                                                 "logging_level": "error" if not verbose
                                                 else "info"}},
                   verbose_logging=verbose)
    if not sink:
        raise ModelError("the federated simulation ended without a model (rerun with "
                         "--verbose to see Flower's log)")
    return sink
