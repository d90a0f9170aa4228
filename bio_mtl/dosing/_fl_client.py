"""The site side of federated dosing: a Flower ``ClientApp`` over one site's patients.

Everything a site sends is a record of numbers: the model's parameters after local training
(``ArrayRecord``), counts and sums for the shared standardisation, and counts of residuals per
bin for the conformal interval (``MetricRecord``). Patient rows never leave the site.

The client does not know which strategy runs: it applies the proximal term when the round's
config carries ``proximal-mu`` > 0 (FedProx; Li et al., MLSys 2020) and keeps the parameters
whose names start with ``local-prefix`` from its own previous round (personalisation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from ..mtl.trainer import TrainConfig, Trainer
from ._inputs import CONTINUOUS, calibration_mask, dose_targets, one_thread, table_batches
from .conformal import conformal_quantile
from .features import GENE_FEATURES, feature_table

__all__ = ["MIN_HOLDOUT_PATIENTS", "estimator", "local_state", "make_client_app", "site_model"]

#: Sites with fewer patients keep them all for training (no conformal hold-out there).
MIN_HOLDOUT_PATIENTS = 20
#: Bin width of the residual histogram on the target scale, and its number of bins.
BIN_WIDTH, N_BINS = 0.005, 2000

Loader = Callable[[Context], tuple[str, pd.DataFrame]]


def local_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters (what is exchanged; buffers are constants)."""
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _settings(msg: Message) -> dict:
    return json.loads(str(msg.content["config"]["settings"]))


def _holdout(rows: pd.DataFrame, s: dict) -> np.ndarray:
    if len(rows) < MIN_HOLDOUT_PATIENTS:
        return np.zeros(len(rows), dtype=bool)
    return calibration_mask(rows, s["model"]["calibration_fraction"], s["seed"])


def estimator(s: dict, intercepts: dict | None = None):
    """A :class:`~bio_mtl.dosing.model.DosingModel` holding the federation's shared settings
    (standardisation, untrained genes, drugs) and a freshly built network."""
    from .model import DosingModel

    model = DosingModel(**s["model"])
    model.standardisation_ = s["standardisation"]
    model.untrained_genes_ = list(s["untrained_genes"])
    model.drugs_ = list(s["drugs"])
    model.module_ = model._build(model.drugs_, intercepts)
    model.pathway_names_ = model.module_.encoder.names
    return model


def _model(s: dict, arrays: ArrayRecord, context: Context):
    """The global model, with this site's own parameters where the strategy keeps them."""
    model = estimator(s)
    state = arrays.to_torch_state_dict()
    prefix = s.get("local-prefix") or ""
    if prefix and "local" in context.state:
        state.update(context.state["local"].to_torch_state_dict())
    model.module_.load_state_dict(state, strict=False)
    return model


def _stats(rows: pd.DataFrame, s: dict) -> MetricRecord:
    """Counts and sums only: the shared standardisation and initial intercepts."""
    feats, _ = feature_table(rows)
    out: dict = {"num-examples": len(rows)}
    for col in CONTINUOUS:
        v = feats[col].dropna().to_numpy(float)
        out.update({f"{col}.n": int(v.size), f"{col}.s1": float(v.sum()),
                    f"{col}.s2": float((v ** 2).sum())})
    for gene, (_, flag) in GENE_FEATURES.items():
        out[f"typed.{gene}"] = int((feats[flag] == 0).sum())
    t = dose_targets(rows, s["model"]["target"])
    for drug in dict.fromkeys(rows["drug"].astype(str)):
        keep = rows["drug"].astype(str).to_numpy() == drug
        out[f"drug.{drug}.n"], out[f"drug.{drug}.t"] = int(keep.sum()), float(t[keep].sum())
    return MetricRecord(out)


def _prox_hooks(module: torch.nn.Module, mu: float) -> list:
    """Add ``mu (w - w_global)`` to each gradient: the FedProx proximal term's gradient."""
    if mu <= 0:
        return []
    hooks = []
    for p in module.parameters():
        anchor = p.detach().clone()
        hooks.append(p.register_hook(lambda g, p=p, a=anchor: g + mu * (p.detach() - a)))
    return hooks


def _train(rows: pd.DataFrame, msg: Message, context: Context, name: str) -> RecordDict:
    s = _settings(msg)
    cfg = msg.content["config"]
    model = _model(s, msg.content["arrays"], context)
    module = model.module_
    keep = ~_holdout(rows, s)
    feats, _ = feature_table(rows[keep].reset_index(drop=True))
    t = dose_targets(rows[keep], s["model"]["target"])
    drug = rows[keep]["drug"].astype(str).to_numpy()
    rnd, total = int(cfg["server-round"]), int(s["rounds"])
    lr = s["lr"] * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * (rnd - 1) / max(total, 1))))
    config = TrainConfig(epochs=s["local_epochs"], batch_size=s["batch_size"], lr=float(lr),
                         weight_decay=s["model"]["weight_decay"], grad_clip=5.0,
                         min_lr_ratio=1.0, seed=s["seed"] + 1000 * rnd)
    hooks = _prox_hooks(module, float(cfg.get("proximal-mu", 0.0)))
    batches = table_batches(model._tensors(feats), drug, t, s["drugs"],
                            batch_size=s["batch_size"], seed=s["seed"] + rnd)
    try:
        with one_thread():
            history = Trainer(module, model._tasks(s["drugs"]), config).fit(batches).history_ \
                if len(t) else []
    finally:
        for h in hooks:
            h.remove()
    state = local_state(module)
    prefix = s.get("local-prefix") or ""
    if prefix:
        context.state["local"] = ArrayRecord({k: v for k, v in state.items()
                                              if k.startswith(prefix)})
    loss = float(history[-1]["train_loss"]) if history else 0.0
    return RecordDict({"arrays": ArrayRecord(state),
                       "metrics": MetricRecord({"num-examples": len(t), "train-loss": loss}),
                       "site": ConfigRecord({"site": name})})


def _residuals(rows: pd.DataFrame, s: dict, model) -> dict[str, np.ndarray]:
    """Absolute target-scale residuals on the site's hold-out rows, per drug."""
    held = _holdout(rows, s)
    if not held.any():
        return {}
    part = rows[held].reset_index(drop=True)
    t = dose_targets(part, s["model"]["target"])
    drug = part["drug"].astype(str).to_numpy()
    pred = model._predict_t(feature_table(part)[0], drug)
    return {d: np.abs(t[drug == d] - pred[drug == d]) for d in set(drug)}


def site_model(s: dict, state: dict, q: dict[str, float]):
    """The :class:`~bio_mtl.dosing.model.DosingModel` with parameters ``state``."""
    model = estimator(s)
    model.module_.load_state_dict(state, strict=False)
    model.module_.eval()
    model.conformal_q_ = {d: q.get(d, np.inf) for d in model.drugs_}
    return model


def _query(rows: pd.DataFrame, msg: Message, context: Context, name: str,
           site_dir: Path | None) -> RecordDict:
    task = str(msg.content["config"]["task"])
    if task == "stats":
        return RecordDict({"metrics": _stats(rows, json.loads(
            str(msg.content["config"]["settings"]))),
            "site": ConfigRecord({"site": name, "drugs": ",".join(
                dict.fromkeys(rows["drug"].astype(str)))})})
    s = _settings(msg)
    residuals = _residuals(rows, s, _model({**s, "local-prefix": ""}, msg.content["arrays"],
                                           context))
    counts = {f"hist.{d}": np.bincount(np.minimum((r / BIN_WIDTH).astype(int), N_BINS - 1),
                                       minlength=N_BINS).tolist() for d, r in residuals.items()}
    if s.get("local-prefix") and site_dir is not None:
        own = _model(s, msg.content["arrays"], context)
        own.conformal_q_ = {d: conformal_quantile(r, s["model"]["alpha"])
                            for d, r in _residuals(rows, s, own).items()}
        own.save(site_dir / name, federated_site=name, n_patients=len(rows))
    return RecordDict({"metrics": MetricRecord({"num-examples": len(rows), **counts})})


def make_client_app(load: Loader, *, site_dir: str | Path | None = None) -> ClientApp:
    """A Flower ``ClientApp`` training on the patients ``load(context)`` returns.

    Parameters
    ----------
    load
        ``load(context) -> (site name, tidy rows with dose_mg_per_week)``.
    site_dir
        Where a personalised run saves each site's own model (``site_dir/<site>``); in a
        real deployment this is the site's own disk.

    Returns
    -------
    flwr.clientapp.ClientApp
    """
    app = ClientApp()
    folder = None if site_dir is None else Path(site_dir)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        name, rows = load(context)
        return Message(content=_train(rows, msg, context, name), reply_to=msg)

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        name, rows = load(context)
        own = folder if folder is not None or "site-out" not in context.node_config \
            else Path(str(context.node_config["site-out"]))
        return Message(content=_query(rows, msg, context, name, own), reply_to=msg)

    return app
