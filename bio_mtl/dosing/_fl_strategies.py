"""Federated strategies for dosing: Flower's own FedAvg and FedProx, and a personalised variant.

One registry (:data:`FEDERATED_STRATEGIES`), one lookup (:func:`get_strategy`); the server
never branches on a strategy's name. A strategy declares ``local_prefix``: parameters whose
names start with it stay at each site (the per-site head of the personalised variant); the
others are averaged (weighted by each site's number of training patients).
"""

from __future__ import annotations

from flwr.serverapp.strategy import FedAvg, FedProx

from ..errors import ConfigError

__all__ = ["FEDERATED_STRATEGIES", "FedAvgStrategy", "FedProxStrategy",
           "PersonalisedStrategy", "get_strategy"]


def _all_sites(n_sites: int) -> dict:
    """Every site trains every round; a round waits until all ``n_sites`` have connected."""
    return {"fraction_train": 1.0, "fraction_evaluate": 0.0, "min_train_nodes": n_sites,
            "min_available_nodes": n_sites, "min_evaluate_nodes": 0}


class FedAvgStrategy(FedAvg):
    """Federated averaging of the whole model (McMahan et al., AISTATS 2017).

    Parameters
    ----------
    n_sites
        Number of sites (clients) taking part.
    proximal_mu
        Ignored (FedProx's parameter).
    """

    local_prefix = ""

    def __init__(self, *, n_sites: int, proximal_mu: float = 0.0) -> None:
        super().__init__(**_all_sites(n_sites))


class FedProxStrategy(FedProx):
    """FedAvg with a proximal term ``mu/2 ||w - w_global||^2`` in each site's local loss.

    Limits client drift when sites differ (Li et al., Federated optimization in
    heterogeneous networks, MLSys 2020).

    Parameters
    ----------
    n_sites
        Number of sites.
    proximal_mu
        Weight ``mu`` of the proximal term.
    """

    local_prefix = ""

    def __init__(self, *, n_sites: int, proximal_mu: float = 0.1) -> None:
        super().__init__(proximal_mu=proximal_mu, **_all_sites(n_sites))


class PersonalisedStrategy(FedAvg):
    """Federated pathway layer, one head per site (multi-task learning across sites).

    The pathway layer is averaged as in FedAvg; each site trains and keeps its own drug head
    (FedPer; Arivazhagan et al., arXiv:1912.00818). The average of the sites' heads is the
    global head, used for sites outside the federation.

    Parameters
    ----------
    n_sites
        Number of sites.
    proximal_mu
        Ignored.
    """

    local_prefix = "heads."

    def __init__(self, *, n_sites: int, proximal_mu: float = 0.0) -> None:
        super().__init__(**_all_sites(n_sites))


#: strategy name -> class (lower-case names, as every bio_mtl registry).
FEDERATED_STRATEGIES = {"fedavg": FedAvgStrategy, "fedprox": FedProxStrategy,
                        "personalised": PersonalisedStrategy}


def get_strategy(name: str, *, n_sites: int, proximal_mu: float = 0.1):
    """Build a registered strategy.

    Parameters
    ----------
    name
        A key of :data:`FEDERATED_STRATEGIES`.
    n_sites
        Number of sites taking part.
    proximal_mu
        FedProx's ``mu`` (ignored by the others).

    Raises
    ------
    ConfigError
        An unknown name (listing the valid ones).
    """
    if name not in FEDERATED_STRATEGIES:
        raise ConfigError(f"unknown federated strategy {name!r}; valid: "
                          f"{', '.join(FEDERATED_STRATEGIES)}")
    return FEDERATED_STRATEGIES[name](n_sites=n_sites, proximal_mu=proximal_mu)
