"""Multi-task models: a shared encoder plus one head per task (hard parameter sharing).

:class:`SharedEncoder` and :class:`TaskHead` build the two parts by registry name for code
that assembles a model by hand; any module with the same ``forward`` works as well (the
config builder :func:`bio_mtl.mtl.build_model` uses the registry classes directly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .tasks import TaskSpec

__all__ = ["MultiTaskModel", "SharedEncoder", "TaskHead"]


class SharedEncoder(nn.Module):
    """The shared part of a multi-task model: an encoder of the ``ENCODERS`` registry.

    Parameters
    ----------
    name
        A key of :data:`bio_mtl.mtl.ENCODERS` (``mlp``, ``cnn``, ``bilstm``, ``transformer``).
    **config
        Fields of that encoder's config dataclass (``input_dim``, ``hidden_dims``, ...).

    Attributes
    ----------
    body : nn.Module
        The registry encoder.
    out_dim : int
        Width ``D`` of the shared features.

    Raises
    ------
    ConfigError
        For an unknown name (listing the valid ones), unknown keys or bad values.

    Examples
    --------
    >>> SharedEncoder("mlp", input_dim=4, hidden_dims=[8]).out_dim
    8
    """

    def __init__(self, name: str = "mlp", **config) -> None:
        from .encoders import get_encoder

        super().__init__()
        self.body = get_encoder(name, **config)
        self.out_dim = self.body.out_dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, F)`` -> ``(N, D)``, or tokens ``(N, L[, F])`` -> ``(N, L, D)``."""
        return self.body(x, mask=mask)


class TaskHead(nn.Module):
    """One task's head, sized from its :class:`~bio_mtl.mtl.TaskSpec`.

    Parameters
    ----------
    task
        The task; its ``n_outputs`` sets the output width.
    in_dim
        Width of the shared features.
    name
        A key of :data:`bio_mtl.mtl.HEADS` (``linear``, ``mlp``, ``bounded``, ``adversarial``).
    **config
        Fields of that head's config dataclass.

    Examples
    --------
    >>> from bio_mtl.mtl import TaskSpec
    >>> head = TaskHead(TaskSpec("grade", "classification", 3), 8)
    >>> tuple(head(torch.zeros(2, 8)).shape)
    (2, 3)
    """

    def __init__(self, task: TaskSpec, in_dim: int, name: str = "linear", **config) -> None:
        from .heads import get_head

        super().__init__()
        self.task = task
        self.body = get_head(name, in_dim, task.n_outputs, **config)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., n_outputs)``."""
        return self.body(h)


class MultiTaskModel(nn.Module):
    """Hard parameter sharing: ``features = encoder(inputs)``, ``out[t] = heads[t](features)``.

    Parameters
    ----------
    encoder
        Any module mapping the inputs to shared features, ``(N, D)`` for sequence-level or
        ``(N, L, D)`` for token-level tasks (e.g. a :class:`SharedEncoder`). Extra keyword
        arguments of :meth:`forward` are passed to it (e.g. a padding ``mask``).
    heads
        ``{task_name: module}``; each head (e.g. a :class:`TaskHead`) maps the shared features
        to that task's output.

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
