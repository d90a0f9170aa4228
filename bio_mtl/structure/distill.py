"""Knowledge distillation for structure models: a teacher's predictions as soft targets.

A small, fast student learns from a larger teacher (or an ensemble of teachers) by matching the
teacher's class probabilities instead of only the one-hot labels (Hinton, Vinyals & Dean 2015,
arXiv:1503.02531); the teacher's probabilities carry how confusable the states are (a helix end
is partly a turn). Here the target of each labelled residue is the blend
``alpha * one_hot(label) + (1 - alpha) * teacher``, so the cross-entropy equals
``alpha * CE(label) + (1 - alpha) * CE(teacher)``. RSA also gets the teacher's value on the
observed residues that carry no RSA label, which are most of the NetSurfP-2.0 training set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import ConfigError
from .alphabet import PAD_INDEX
from .data import Chain
from .ensemble import StructureEnsemble

__all__ = ["add_soft_targets", "teacher_predictions"]


def _batches(chains: Sequence[Chain], batch_tokens: int) -> list[list[int]]:
    """Indices of ``chains`` grouped, by length, into batches of at most ``batch_tokens``."""
    order = np.argsort([len(c) for c in chains], kind="stable")
    out, current = [], []
    for i in order:
        if current and len(chains[i]) * (len(current) + 1) > batch_tokens:
            out.append(current)
            current = []
        current.append(int(i))
    return out + [current] if current else out


def teacher_predictions(chains: Sequence[Chain], teacher, *, batch_tokens: int = 16384,
                        device: str = "cpu") -> list[dict[str, np.ndarray]]:
    """The teacher's per-residue outputs on whole chains.

    Parameters
    ----------
    chains
        Chains to predict (whole, uncropped).
    teacher
        A fitted :class:`~bio_mtl.structure.estimator.StructureModel` or
        :class:`~bio_mtl.structure.estimator.StructureEnsembleModel` taking residue tokens.
    batch_tokens, device
        Padded residues per forward pass and the torch device.

    Returns
    -------
    list of dict
        Per chain: ``ss8`` ``(L, 8)``, ``ss3`` ``(L, 3)`` and ``disorder`` ``(L, 2)``
        probabilities and ``rsa`` ``(L,)``, for the tasks the teacher predicts.
    """
    teacher.check_is_fitted()
    model = teacher.module_ if isinstance(teacher.module_, StructureEnsemble) else \
        StructureEnsemble([teacher.module_], [teacher.config_.ss3_source])
    model = model.to(device).eval()
    out: list[dict | None] = [None] * len(chains)
    with torch.inference_mode():
        for group in _batches(chains, batch_tokens):
            width = max(len(chains[i]) for i in group)
            tokens = torch.full((len(group), width), PAD_INDEX, dtype=torch.long)
            for row, i in enumerate(group):
                tokens[row, :len(chains[i])] = torch.from_numpy(chains[i].tokens)
            tokens = tokens.to(device)
            pred = model(tokens, mask=tokens != PAD_INDEX)
            pred = {t: (v.softmax(-1) if v.dim() == 3 else v).float().cpu().numpy()
                    for t, v in pred.items()}
            for row, i in enumerate(group):
                out[i] = {t: v[row, :len(chains[i])] for t, v in pred.items()}
    return out  # type: ignore[return-value]


def _blend(labels: np.ndarray | None, probs: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha * one_hot(labels) + (1 - alpha) * probs`` where labelled, NaN elsewhere."""
    out = np.full(probs.shape, np.nan, dtype=np.float32)
    if labels is None:
        return out
    ok = labels >= 0
    one_hot = np.eye(probs.shape[1], dtype=np.float32)[labels[ok]]
    out[ok] = alpha * one_hot + (1 - alpha) * probs[ok]
    return out


def add_soft_targets(chains: Sequence[Chain], teacher, *, alpha: float = 0.5,
                     batch_tokens: int = 16384, device: str = "cpu") -> list[Chain]:
    """Copies of ``chains`` carrying the teacher's blended soft targets (:attr:`Chain.soft`).

    Parameters
    ----------
    chains
        Training chains with their hard labels.
    teacher
        See :func:`teacher_predictions`.
    alpha
        Weight of the hard label in the blend (1 = no distillation, 0 = teacher only).
    batch_tokens, device
        See :func:`teacher_predictions`.

    Returns
    -------
    list of Chain
        Same chains; ``soft`` holds ``ss8``/``ss3``/``disorder`` targets on the residues that
        have that label, and ``rsa`` targets on every observed residue (the label blended with
        the teacher where there is one, the teacher alone elsewhere).

    Examples
    --------
    >>> from bio_mtl.structure import load_model
    >>> from bio_mtl.structure.alphabet import encode_sequence
    >>> chain = Chain("c", "ACD", encode_sequence("ACD"), np.array([1, 4, -100]),
    ...               np.array([0.5, np.nan, np.nan], dtype=np.float32))
    >>> (soft,) = add_soft_targets([chain], load_model("ss_rsa_resdcnn_nsp2_v1"), alpha=0.5)
    >>> bool(soft.soft["ss8"][0, 1] >= 0.5), bool(np.isnan(soft.soft["ss8"][2]).all())
    (True, True)
    >>> round(float(soft.soft["ss8"][0].sum()), 5)
    1.0
    """
    if not 0 <= alpha <= 1:
        raise ConfigError(f"distillation alpha must be in [0, 1], got {alpha}")
    preds = teacher_predictions(chains, teacher, batch_tokens=batch_tokens, device=device)
    out = []
    for chain, pred in zip(chains, preds, strict=True):
        soft = {}
        labels = {"ss8": chain.ss8, "ss3": chain.ss3, "disorder": chain.disorder}
        for task in ("ss8", "ss3", "disorder"):
            if task in pred:
                soft[task] = _blend(labels[task], pred[task], alpha)
        if "rsa" in pred:
            observed = (chain.ss8 >= 0) | np.isfinite(chain.rsa)
            if chain.disorder is not None:
                observed |= chain.disorder == 0
            rsa = np.where(observed, pred["rsa"], np.nan).astype(np.float32)
            known = np.isfinite(chain.rsa)
            rsa[known] = alpha * chain.rsa[known] + (1 - alpha) * pred["rsa"][known]
            soft["rsa"] = rsa
        out.append(dataclasses.replace(chain, soft=soft))
    return out
