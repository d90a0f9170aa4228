"""The coordinator side of federated dosing: the body of a Flower ``ServerApp``.

:func:`run_server` runs on a Flower ``Grid`` (simulation or deployment alike): a statistics
query (counts and sums), the strategy's rounds through Flower's ``Strategy.start``, and a
residual-histogram query for the conformal interval. A :class:`CountingGrid` wraps the grid to
count the messages and bytes exchanged.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict

from ..errors import ModelError
from ._fl_client import BIN_WIDTH, estimator, local_state
from ._fl_strategies import get_strategy
from ._inputs import CONTINUOUS
from .features import GENE_FEATURES

__all__ = ["CountingGrid", "histogram_quantile", "run_server"]


def _payload(msg: Message) -> int:
    if not msg.has_content():
        return 0
    return sum(int(rec.count_bytes()) for rec in msg.content.values())


class CountingGrid:
    """A Flower ``Grid`` that counts what it sends and receives (payload bytes of records).

    Parameters
    ----------
    grid
        The runtime's grid.
    """

    def __init__(self, grid) -> None:
        self._grid = grid
        self.bytes_down = self.bytes_up = self.sent = self.received = self.failed = 0
        self.exchanges: list[dict] = []

    def __getattr__(self, name: str):
        return getattr(self._grid, name)

    def send_and_receive(self, messages, *, timeout: float | None = None):
        """Send, wait for the replies, and count both."""
        messages = list(messages)
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        ok = [r for r in replies if not r.has_error()]
        down, up = sum(map(_payload, messages)), sum(map(_payload, ok))
        self.bytes_down += down
        self.bytes_up += up
        self.sent += len(messages)
        self.received += len(ok)
        self.failed += len(messages) - len(ok)
        self.exchanges.append({"sent": len(messages), "replies": len(ok),
                               "failed": len(messages) - len(ok), "bytes_down": down,
                               "bytes_up": up})
        return replies


def histogram_quantile(counts, alpha: float) -> float:
    """Split-conformal quantile from pooled residual counts per bin (upper bin edge).

    Examples
    --------
    >>> round(histogram_quantile([0, 5, 4, 1], 0.2), 4)   # 9th of 10 lies in bin 2
    0.015
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    k = math.ceil((n + 1) * (1 - alpha))
    if n == 0 or k > n:
        return float("inf")
    return float((np.searchsorted(np.cumsum(counts), k) + 1) * BIN_WIDTH)


def _wait_for_nodes(grid, n: int, timeout: float) -> list[int]:
    start = time.monotonic()
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= n:
            return nodes
        if time.monotonic() - start > timeout:
            raise ModelError(f"federated run: {len(nodes)} of {n} sites connected within "
                             f"{timeout:g} s")
        time.sleep(0.2)


def _query(grid, nodes, task: str, settings: dict, *, arrays=None, timeout: float):
    records = {"config": ConfigRecord({"task": task, "settings": json.dumps(settings)})}
    if arrays is not None:
        records["arrays"] = arrays
    messages = [Message(content=RecordDict(records), message_type=MessageType.QUERY,
                        dst_node_id=node) for node in nodes]
    return [r for r in grid.send_and_receive(messages, timeout=timeout) if not r.has_error()]


def _pooled(replies, settings: dict) -> dict:
    """Standardisation, untrained genes, drugs and intercepts from the sites' sums."""
    stats = [dict(r.content["metrics"]) for r in replies]
    total = sum(int(m["num-examples"]) for m in stats)
    std = {}
    for col in CONTINUOUS:
        n = sum(m[f"{col}.n"] for m in stats)
        mean = sum(m[f"{col}.s1"] for m in stats) / n if n else 0.0
        var = max(sum(m[f"{col}.s2"] for m in stats) / n - mean ** 2, 0.0) if n else 0.0
        sd = math.sqrt(var * n / total) if total else 0.0  # the mean-imputed column's sd
        std[col] = {"median": mean, "mean": mean, "std": sd or 1.0,
                    "min": mean - 3 * math.sqrt(var), "max": mean + 3 * math.sqrt(var)}
    drugs = list(dict.fromkeys(d for r in replies
                               for d in str(r.content["site"]["drugs"]).split(",") if d))
    intercepts = {d: sum(m.get(f"drug.{d}.t", 0.0) for m in stats)
                  / max(sum(m.get(f"drug.{d}.n", 0) for m in stats), 1) for d in drugs}
    sites = {str(r.content["site"]["site"]): int(r.content["metrics"]["num-examples"])
             for r in replies}
    untrained = [g for g in GENE_FEATURES if not sum(m[f"typed.{g}"] for m in stats)]
    return {**settings, "standardisation": std, "untrained_genes": untrained, "drugs": drugs,
            "intercepts": intercepts, "sites": sites}


def _history(result, grid: CountingGrid) -> list[dict]:
    rounds = []
    train = [e for e in grid.exchanges if e["sent"]][1:-1]  # between the two queries
    for i, ex in enumerate(train, start=1):
        metrics = result.train_metrics_clientapp.get(i)
        rounds.append({"round": i, **ex,
                       "train_loss": None if metrics is None else float(metrics["train-loss"])})
    return rounds


def run_server(grid, settings: dict) -> dict:
    """Train a dosing model across the grid's sites; return what the coordinator learned.

    Parameters
    ----------
    grid
        A Flower ``Grid``.
    settings
        ``{"n_sites", "strategy", "rounds", "local_epochs", "batch_size", "lr",
        "proximal_mu", "round_timeout", "seed", "model": DosingModel parameters}``.

    Returns
    -------
    dict
        ``{"settings", "state", "q", "history", "cost"}``: the pooled settings the sites used,
        the final parameters, the conformal quantile per drug, per-round records and totals.
    """
    grid = CountingGrid(grid)
    timeout = float(settings["round_timeout"])
    nodes = _wait_for_nodes(grid, int(settings["n_sites"]), timeout)
    s = _pooled(_query(grid, nodes, "stats", settings, timeout=timeout), settings)
    strategy = get_strategy(s["strategy"], n_sites=len(nodes), proximal_mu=s["proximal_mu"])
    s["local-prefix"] = strategy.local_prefix
    torch.manual_seed(s["seed"])
    module = estimator(s, s["intercepts"]).module_
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(local_state(module)),
                            num_rounds=int(s["rounds"]), timeout=timeout,
                            train_config=ConfigRecord({"settings": json.dumps(s)}))
    final = result.arrays if result.arrays is not None else ArrayRecord(local_state(module))
    replies = _query(grid, nodes, "residuals", s, arrays=final, timeout=timeout)
    q = {}
    for d in s["drugs"]:
        hists = [r.content["metrics"][f"hist.{d}"] for r in replies
                 if f"hist.{d}" in r.content["metrics"]]
        q[d] = histogram_quantile(np.sum(hists, axis=0), s["model"]["alpha"]) if hists \
            else float("inf")
    state = {k: v.clone() for k, v in final.to_torch_state_dict().items()}
    cost = {"rounds": int(s["rounds"]), "messages_sent": grid.sent,
            "replies": grid.received, "failed_replies": grid.failed,
            "bytes_down": grid.bytes_down, "bytes_up": grid.bytes_up,
            "model_bytes": int(ArrayRecord(state).count_bytes())}
    return {"settings": s, "state": state, "q": q, "history": _history(result, grid),
            "cost": cost}
