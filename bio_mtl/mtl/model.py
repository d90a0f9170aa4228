"""Multi-task models: a shared encoder plus one head per task (hard parameter sharing)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["MultiTaskModel"]


class MultiTaskModel(nn.Module):
    """Hard parameter sharing: ``features = encoder(inputs)``, ``out[t] = heads[t](features)``.

    Parameters
    ----------
    encoder
        Any module mapping the inputs to shared features, ``(N, D)`` for sequence-level or
        ``(N, L, D)`` for token-level tasks. Extra keyword arguments of :meth:`forward` are
        passed to it (e.g. a padding ``mask``).
    heads
        ``{task_name: module}``; each head maps the shared features to that task's output.

    Notes
    -----
    :meth:`shared_parameters` is what gradient-based weighting strategies (GradNorm, PCGrad,
    CAGrad) manipulate; :meth:`task_parameters` are the heads'.
    """

    def __init__(self, encoder: nn.Module, heads: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict(dict(heads))

    @property
    def task_names(self) -> list[str]:
        """Names of the tasks, in head order."""
        return list(self.heads.keys())

    def encode(self, inputs, **kwargs) -> torch.Tensor:
        """Shared features for ``inputs``."""
        return self.encoder(inputs, **kwargs)

    def forward(self, inputs, tasks: list[str] | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Return ``{task: output}`` for all tasks (or the named subset)."""
        features = self.encode(inputs, **kwargs)
        names = self.task_names if tasks is None else tasks
        return {name: self.heads[name](features) for name in names}

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the shared encoder that require gradients."""
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def task_parameters(self, name: str) -> list[nn.Parameter]:
        """Parameters of one task head."""
        return list(self.heads[name].parameters())
