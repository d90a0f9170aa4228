"""Multi-task architectures beyond hard parameter sharing, and the builder from config.

All models share the contract of :class:`~bio_mtl.mtl.model.MultiTaskModel`:
``forward(inputs, tasks=None, **kwargs) -> {task: Tensor}``, ``shared_parameters()``,
``task_parameters(name)`` and ``task_names``; plus ``shared_modules()`` (what
:func:`bio_mtl.mtl.transfer.freeze_encoder` freezes).

- ``hps``: hard parameter sharing (Caruana 1997), :class:`~bio_mtl.mtl.model.MultiTaskModel`.
- ``mmoe``: multi-gate mixture of experts (Ma et al. 2018, KDD, doi:10.1145/3219819.3220007).
- ``conditioned``: one shared head trunk conditioned on a learned task embedding, for many
  tasks (the task-conditioning idea of e.g. Perez et al. 2018 FiLM, in its simplest
  concatenate / add form).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import ConfigError
from ._dataclasses import dataclass_from_dict
from ._layers import resolve_entry
from .encoders import ENCODERS, get_encoder
from .heads import HEADS, get_head
from .model import MultiTaskModel

if TYPE_CHECKING:
    from .tasks import TaskSpec

__all__ = ["ARCHITECTURES", "ConditionedConfig", "HPSConfig", "MMoEConfig", "MMoEModel",
           "ModelConfig", "TaskConditionedModel", "build_model", "shared_modules"]


class MMoEModel(nn.Module):
    """Multi-gate mixture of experts (MMoE; Ma et al. 2018).

    ``f_k = expert_k(x)``; for each task ``g_t = softmax(W_t u)`` over the ``K`` experts and
    ``out[t] = head_t(sum_k g_t,k f_k)``. With one expert every gate is exactly 1 and the model
    is hard parameter sharing.

    Parameters
    ----------
    experts
        ``K`` modules with the same output shape (``(N, D)`` or ``(N, L, D)``).
    heads
        ``{task: head}``.
    gate_input_dim
        ``None``: gates read the mean of the expert outputs (works for token inputs and gives
        one gate per token); an integer ``F``: gates read the raw ``(N, F)`` inputs, as in
        the paper.
    """

    def __init__(self, experts: Sequence[nn.Module], heads: Mapping[str, nn.Module], *,
                 gate_input_dim: int | None = None) -> None:
        super().__init__()
        if not experts:
            raise ConfigError("mmoe: needs at least one expert")
        self.experts = nn.ModuleList(experts)
        self.heads = nn.ModuleDict(dict(heads))
        self.gate_input_dim = gate_input_dim
        width = gate_input_dim if gate_input_dim is not None else experts[0].out_dim
        self.gates = nn.ModuleDict({t: nn.Linear(width, len(experts)) for t in self.heads})

    @property
    def task_names(self) -> list[str]:
        """Names of the tasks, in head order."""
        return list(self.heads.keys())

    def _experts_and_gates(self, inputs, tasks, kwargs):
        feats = torch.stack([e(inputs, **kwargs) for e in self.experts], dim=-1)  # (..., D, K)
        u = inputs.float() if self.gate_input_dim is not None else feats.mean(-1)
        gates = {t: torch.softmax(self.gates[t](u), dim=-1) for t in tasks}      # (..., K)
        return feats, gates

    def gate_weights(self, inputs, tasks: list[str] | None = None, **kwargs
                     ) -> dict[str, torch.Tensor]:
        """``{task: (..., K)}`` gate probabilities (each row sums to 1)."""
        return self._experts_and_gates(inputs, tasks or self.task_names, kwargs)[1]

    def forward(self, inputs, tasks: list[str] | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Return ``{task: output}`` for all tasks (or the named subset)."""
        feats, gates = self._experts_and_gates(inputs, tasks or self.task_names, kwargs)
        return {t: self.heads[t]((feats * g.unsqueeze(-2)).sum(-1)) for t, g in gates.items()}

    def shared_modules(self) -> list[nn.Module]:
        """The experts."""
        return [self.experts]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the experts that require gradients."""
        return [p for p in self.experts.parameters() if p.requires_grad]

    def task_parameters(self, name: str) -> list[nn.Parameter]:
        """Parameters of one task's gate and head."""
        return [*self.gates[name].parameters(), *self.heads[name].parameters()]


class TaskConditionedModel(nn.Module):
    """One shared trunk for all tasks, told which task to solve by a learned embedding.

    ``z = [h; e_t]`` (``mode="concat"``) or ``h + e_t`` (``mode="add"``), ``out[t] =
    W trunk(z)[..., :n_t]``: every weight except the task embedding table is shared, so the
    parameter count barely grows with the number of tasks.

    Parameters
    ----------
    encoder
        Shared encoder with an ``out_dim`` attribute.
    tasks
        The task specifications (their ``n_outputs`` size the shared output layer).
    task_dim
        Embedding width (must equal ``encoder.out_dim`` when ``mode="add"``).
    mode
        ``"concat"`` or ``"add"``.
    trunk_dims
        Hidden widths of the shared trunk.
    dropout
        Dropout inside the trunk.
    """

    def __init__(self, encoder: nn.Module, tasks: Sequence[TaskSpec], *, task_dim: int = 8,
                 mode: str = "concat", trunk_dims: Sequence[int] = (64,),
                 dropout: float = 0.0) -> None:
        super().__init__()
        if mode == "add" and task_dim != encoder.out_dim:
            raise ConfigError(f"conditioned: mode 'add' needs task_dim == encoder width "
                              f"({encoder.out_dim}), got {task_dim}")
        self.encoder = encoder
        self.mode = mode
        self.n_outputs = {t.name: t.n_outputs for t in tasks}
        self.task_embedding = nn.Embedding(len(tasks), task_dim)
        layers = []
        width = encoder.out_dim + (task_dim if mode == "concat" else 0)
        for hidden in trunk_dims:
            layers += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.output = nn.Linear(width, max(self.n_outputs.values()))

    @property
    def task_names(self) -> list[str]:
        """Names of the tasks, in embedding order."""
        return list(self.n_outputs)

    def forward(self, inputs, tasks: list[str] | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Return ``{task: output}`` for all tasks (or the named subset)."""
        h = self.encoder(inputs, **kwargs)                           # (..., D)
        out = {}
        for name in tasks or self.task_names:
            idx = torch.tensor(self.task_names.index(name), device=h.device)
            e = self.task_embedding(idx).expand(*h.shape[:-1], -1)   # (..., E)
            z = torch.cat([h, e], dim=-1) if self.mode == "concat" else h + e
            out[name] = self.output(self.trunk(z))[..., :self.n_outputs[name]]
        return out

    def shared_modules(self) -> list[nn.Module]:
        """The encoder (the trunk is shared too, but it is the per-task part that adapts)."""
        return [self.encoder]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Encoder, trunk and output-layer parameters that require gradients."""
        mods = (self.encoder, self.trunk, self.output)
        return [p for m in mods for p in m.parameters() if p.requires_grad]

    def task_parameters(self, name: str) -> list[nn.Parameter]:
        """The task embedding table (each task owns one row of it)."""
        return [self.task_embedding.weight]


def shared_modules(model: nn.Module) -> list[nn.Module]:
    """The shared part of any of the engine's models (``model.encoder`` for hard sharing)."""
    if hasattr(model, "shared_modules"):
        return model.shared_modules()
    if hasattr(model, "encoder"):
        return [model.encoder]
    raise ConfigError(f"{type(model).__name__} has neither shared_modules() nor .encoder")


@dataclass(frozen=True)
class HPSConfig:
    """Hard parameter sharing has no extra hyper-parameters."""


@dataclass(frozen=True)
class MMoEConfig:
    """Hyper-parameters of :class:`MMoEModel` built from config.

    Parameters
    ----------
    n_experts
        Number of experts, each a fresh copy of the configured encoder.
    gate
        ``"inputs"`` (gates read the raw tabular inputs, as in Ma et al.) or ``"experts"``
        (gates read the mean expert output; needed for token inputs).
    """

    n_experts: int = 4
    gate: str = "inputs"

    def __post_init__(self) -> None:
        if self.n_experts < 1:
            raise ConfigError("mmoe: n_experts must be >= 1")
        if self.gate not in ("inputs", "experts"):
            raise ConfigError(f"mmoe: unknown gate {self.gate!r}; choose one of inputs, experts")


@dataclass(frozen=True)
class ConditionedConfig:
    """Hyper-parameters of :class:`TaskConditionedModel` built from config.

    Parameters
    ----------
    task_dim, mode, trunk_dims, dropout
        As in :class:`TaskConditionedModel`.
    """

    task_dim: int = 8
    mode: str = "concat"
    trunk_dims: tuple[int, ...] = (64,)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("concat", "add"):
            raise ConfigError(f"conditioned: unknown mode {self.mode!r}; choose one of "
                              "concat, add")
        if self.task_dim < 1 or not self.trunk_dims or min(self.trunk_dims) < 1:
            raise ConfigError("conditioned: task_dim and trunk_dims must be positive")


@dataclass(frozen=True)
class ModelConfig:
    """The model: an encoder, an architecture and task heads.

    Parameters
    ----------
    encoder
        A key of :data:`bio_mtl.mtl.encoders.ENCODERS`.
    encoder_params
        Fields of that encoder's config dataclass (``input_dim`` is filled from the data).
    architecture
        A key of :data:`ARCHITECTURES` (``hps``, ``mmoe``,
        ``conditioned``).
    architecture_params
        Fields of that architecture's config dataclass.
    head
        Default head, a key of :data:`bio_mtl.mtl.heads.HEADS`.
    head_params
        Fields of the default head's config dataclass.
    task_heads
        ``{task: {"name": head, **params}}`` overrides (e.g. a ``bounded`` head for RSA).
    """

    encoder: str = "mlp"
    encoder_params: dict = field(default_factory=dict)
    architecture: str = "hps"
    architecture_params: dict = field(default_factory=dict)
    head: str = "linear"
    head_params: dict = field(default_factory=dict)
    task_heads: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _choice("model.encoder", self.encoder, ENCODERS)
        _choice("model.architecture", self.architecture, ARCHITECTURES)
        _choice("model.head", self.head, HEADS)
        dataclass_from_dict(resolve_entry(ENCODERS[self.encoder])[0], self.encoder_params,
                            where="model.encoder_params")
        dataclass_from_dict(ARCHITECTURES[self.architecture][0], self.architecture_params,
                            where="model.architecture_params")
        dataclass_from_dict(resolve_entry(HEADS[self.head])[0], self.head_params,
                            where="model.head_params")
        for task, spec in self.task_heads.items():
            where = f"model.task_heads.{task}"
            if not isinstance(spec, dict) or "name" not in spec:
                raise ConfigError(f"{where}: expected a mapping with a 'name' key")
            _choice(f"{where}.name", spec["name"], HEADS)
            params = {k: v for k, v in spec.items() if k != "name"}
            dataclass_from_dict(resolve_entry(HEADS[spec["name"]])[0], params, where=where)


def _choice(where: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: unknown {value!r}; choose one of {', '.join(choices)}")


def _heads(cfg: ModelConfig, tasks, in_dim: int) -> dict[str, nn.Module]:
    heads = {}
    for t in tasks:
        spec = dict(cfg.task_heads.get(t.name, {"name": cfg.head, **cfg.head_params}))
        heads[t.name] = get_head(spec.pop("name", cfg.head), in_dim, t.n_outputs, **spec)
    return heads


def _build_hps(cfg, tasks, params) -> nn.Module:
    encoder = get_encoder(cfg.encoder, **cfg.encoder_params)
    return MultiTaskModel(encoder, _heads(cfg, tasks, encoder.out_dim))


def _build_mmoe(cfg, tasks, params: MMoEConfig) -> nn.Module:
    experts = [get_encoder(cfg.encoder, **cfg.encoder_params) for _ in range(params.n_experts)]
    gate_dim = cfg.encoder_params.get("input_dim") if params.gate == "inputs" else None
    if params.gate == "inputs" and cfg.encoder != "mlp":
        raise ConfigError("mmoe: gate 'inputs' needs the tabular 'mlp' encoder; use gate "
                          "'experts' for token encoders")
    return MMoEModel(experts, _heads(cfg, tasks, experts[0].out_dim), gate_input_dim=gate_dim)


def _build_conditioned(cfg, tasks, params: ConditionedConfig) -> nn.Module:
    encoder = get_encoder(cfg.encoder, **cfg.encoder_params)
    return TaskConditionedModel(encoder, tasks, task_dim=params.task_dim, mode=params.mode,
                                trunk_dims=params.trunk_dims, dropout=params.dropout)


# name -> (params dataclass, builder(model_config, tasks, params) -> module)
ARCHITECTURES: dict[str, tuple[type, Callable]] = {
    "hps": (HPSConfig, _build_hps),
    "mmoe": (MMoEConfig, _build_mmoe),
    "conditioned": (ConditionedConfig, _build_conditioned),
}


def build_model(config: ModelConfig, tasks: Sequence[TaskSpec]) -> nn.Module:
    """Build the multi-task model described by ``config`` for ``tasks``.

    Parameters
    ----------
    config
        A :class:`ModelConfig` (its ``encoder_params`` must already hold
        the input width, e.g. ``input_dim`` for the ``mlp`` encoder).
    tasks
        The task specifications.

    Raises
    ------
    ConfigError
        For unknown architectures, encoders, heads or bad parameters.
    """
    if config.architecture not in ARCHITECTURES:
        raise ConfigError(f"model.architecture: unknown {config.architecture!r}; choose one "
                          f"of {', '.join(ARCHITECTURES)}")
    params_cls, builder = ARCHITECTURES[config.architecture]
    params = dataclass_from_dict(params_cls, config.architecture_params,
                                 where="model.architecture_params")
    return builder(config, list(tasks), params)
