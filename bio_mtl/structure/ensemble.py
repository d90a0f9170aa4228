"""Ensembles of structure networks: the mean of their per-residue probabilities and RSA.

Members trained with different architectures or seeds make partly independent errors, so the
mean of their class probabilities is more accurate than any one of them (Hansen & Salamon
1990; NetSurfP-2.0 and SPOT-1D ship ensembles for this reason). An ensemble is saved as a
folder with one ordinary checkpoint per member (``member_0/``, ``member_1/``, ...) and a
``config.json`` of kind ``"structure-ensemble"`` naming them, so each member stays a normal
safetensors checkpoint and nothing is pickled. The estimator around it is
:class:`~bio_mtl.structure.estimator.StructureEnsembleModel`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .._io import atomic_write
from .._versions import versions
from ..errors import CheckpointError, ConfigError
from ..mtl.checkpoint import FORMAT, read_config
from .alphabet import SS8_TO_SS3_INDEX
from .folders import ENSEMBLE_KIND, member_names
from .model import StructureModelConfig

__all__ = ["ENSEMBLE_KIND", "StructureEnsemble", "ensemble_config", "member_names",
           "save_structure_ensemble"]


def ensemble_config(configs: Sequence[StructureModelConfig]) -> StructureModelConfig:
    """The config an ensemble of networks with ``configs`` presents to the predictor.

    Its tasks are the union of the members' (SS3 included whenever SS8 is, since every member
    can derive it) and ``ss3_source`` is ``"head"``: the ensemble's SS3 output is already the
    mean of the members' SS3 probabilities.

    Raises
    ------
    ConfigError
        No members, or members that read different inputs (``input_dim``, ``backbone``).

    Examples
    --------
    >>> a = StructureModelConfig(tasks=("ss8",))
    >>> ensemble_config([a, StructureModelConfig(tasks=("rsa",))]).tasks
    ('ss8', 'rsa', 'ss3')
    """
    if not configs:
        raise ConfigError("an ensemble needs at least one member model")
    first = configs[0]
    for k, cfg in enumerate(configs[1:], start=1):
        for key in ("input_dim", "backbone"):
            if getattr(cfg, key) != getattr(first, key):
                raise ConfigError(f"ensemble member {k} has {key}={getattr(cfg, key)!r}, "
                                  f"member 0 has {getattr(first, key)!r}; members must "
                                  "read the same inputs and predict the same tasks")
    tasks = tuple(dict.fromkeys(t for cfg in configs for t in cfg.tasks))
    if "ss8" in tasks and "ss3" not in tasks:
        tasks = (*tasks, "ss3")
    return dataclasses.replace(first, tasks=tasks, ss3_source="head")


class StructureEnsemble(nn.Module):
    """Average several structure networks (same input type) into one predictor.

    ``forward`` returns, per task, what :func:`~bio_mtl.structure.predict_structure` expects
    from a single network: SS8, SS3 and disorder as log mean probabilities (their softmax is the
    mean of the members' probabilities) and RSA as the mean of the members' RSA. Each member's
    SS3 probabilities follow its own ``ss3_source`` (its SS3 head, or summed SS8
    probabilities). ``encode`` concatenates the members' shared features (for
    :mod:`bio_mtl.dissect`). Members may predict different tasks: each task is the mean over
    the members that predict it (e.g. a disorder head that only newer members have).

    Parameters
    ----------
    members
        Structure networks (:func:`~bio_mtl.structure.build_structure_model`).
    ss3_sources
        Each member's ``ss3_source`` (``"head"`` or ``"ss8"``; default all ``"head"``).

    Examples
    --------
    >>> from bio_mtl.structure import StructureModelConfig, build_structure_model
    >>> cfg = StructureModelConfig(conv_channels=8, conv_layers=1, lstm_layers=0)
    >>> ens = StructureEnsemble([build_structure_model(cfg), build_structure_model(cfg)])
    >>> len(ens.members), ens.task_names
    (2, ['ss8', 'ss3', 'rsa'])
    """

    def __init__(self, members: Sequence[nn.Module],
                 ss3_sources: Sequence[str] | None = None) -> None:
        super().__init__()
        if not members:
            raise ConfigError("an ensemble needs at least one member model")
        self.members = nn.ModuleList(members)
        self.ss3_sources = tuple(ss3_sources or ["head"] * len(members))
        if len(self.ss3_sources) != len(members):
            raise ConfigError("give one ss3_source per ensemble member")
        tasks = list(dict.fromkeys(t for m in members for t in m.task_names))
        self.task_names = tasks if "ss8" not in tasks or "ss3" in tasks else [*tasks, "ss3"]

    def encode(self, inputs: torch.Tensor, **kwargs) -> torch.Tensor:
        """Members' shared features side by side, ``(N, L, sum of widths)``."""
        return torch.cat([m.encode(inputs, **kwargs) for m in self.members], dim=-1)

    def forward(self, inputs: torch.Tensor, **kwargs) -> dict[str, torch.Tensor]:
        """``{task: output}`` averaged over the members (see the class docstring)."""
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        for member, source in zip(self.members, self.ss3_sources, strict=True):
            for task, value in _member_outputs(member, source, inputs, **kwargs).items():
                sums[task] = sums[task] + value if task in sums else value
                counts[task] = counts.get(task, 0) + 1
        out = {task: value / counts[task] for task, value in sums.items()}
        for task in ("ss8", "ss3", "disorder"):
            if task in out:
                out[task] = out[task].clamp_min(1e-12).log()  # (N, L, C) log mean probability
        return out


def _member_outputs(member: nn.Module, ss3_source: str, inputs: torch.Tensor,
                    **kwargs) -> dict:
    """One member's SS8/SS3 probabilities and RSA, ``(N, L, 8)``, ``(N, L, 3)``, ``(N, L)``."""
    raw = member(inputs, **kwargs)
    out = {}
    if "ss8" in raw:
        out["ss8"] = raw["ss8"].float().softmax(-1)
    if "ss3" in raw and ss3_source != "ss8":
        out["ss3"] = raw["ss3"].float().softmax(-1)
    elif "ss8" in out:
        index = torch.from_numpy(SS8_TO_SS3_INDEX).to(out["ss8"].device)
        out["ss3"] = torch.zeros(*out["ss8"].shape[:-1], 3, device=index.device).index_add_(
            -1, index, out["ss8"])
    if "rsa" in raw:
        out["rsa"] = raw["rsa"].float()
    if "disorder" in raw:
        out["disorder"] = raw["disorder"].float().softmax(-1)
    return out


def save_structure_ensemble(members: Sequence[str | os.PathLike], directory: str | os.PathLike,
                            *, metadata: dict | None = None) -> Path:
    """Copy member checkpoint folders into ``directory`` and write its ensemble ``config.json``.

    The members' files are copied unchanged (compare
    :meth:`~bio_mtl.structure.estimator.StructureEnsembleModel.save`, which writes fitted
    members).

    Parameters
    ----------
    members
        Checkpoint folders of structure models.
    directory
        The new ensemble folder (must not exist yet).
    metadata
        More JSON-ready facts to record (metrics, how the members were trained).

    Returns
    -------
    Path
        ``directory``.

    Raises
    ------
    CheckpointError
        ``directory`` exists, or a member is not a structure checkpoint.
    ConfigError
        The members do not fit together (see :func:`ensemble_config`).
    """
    directory = Path(directory)
    if directory.exists():
        raise CheckpointError(f"{directory}: already exists; give a new folder")
    configs = []
    for member in members:
        doc = read_config(member, kind="structure")
        try:
            configs.append(StructureModelConfig.from_dict(doc["config"]["model"]))
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{member}: bad structure model config ({exc})") from None
    ensemble_config(configs)  # checks that the members fit
    directory.mkdir(parents=True)
    names = []
    for k, member in enumerate(members):
        names.append(f"member_{k}")
        shutil.copytree(member, directory / names[-1],
                        ignore=shutil.ignore_patterns("state", "*.tmp"))
    doc = {"format": FORMAT, "kind": ENSEMBLE_KIND, "members": names, "versions": versions(),
           **(metadata or {})}
    with atomic_write(directory / "config.json") as handle:
        json.dump(doc, handle, indent=2)
    return directory
