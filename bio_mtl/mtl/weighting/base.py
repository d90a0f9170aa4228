"""The weighting-strategy interface shared by every loss-weighting method."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ...errors import CheckpointError, ConfigError, ModelError

__all__ = ["SeededWeightingStrategy", "WeightingStrategy", "adam_update", "check_param",
           "flat_task_grads", "write_flat_grad"]


def flat_task_grads(losses: Sequence[torch.Tensor],
                    params: Sequence[torch.nn.Parameter]) -> torch.Tensor:
    """``(T, P)`` matrix of each task loss's gradient w.r.t. ``params``, flattened.

    Parameters
    ----------
    losses
        One scalar loss per task.
    params
        The parameters to differentiate (usually the shared encoder's).
    """
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                               for g, p in zip(grads, params, strict=True)]))
    return torch.stack(rows)


def write_flat_grad(flat: torch.Tensor, params: Sequence[torch.nn.Parameter]) -> None:
    """Set ``p.grad`` of ``params`` from one flat vector (the inverse of flattening).

    Parameters
    ----------
    flat
        ``(P,)`` gradient, in the order of ``params``.
    params
        The parameters whose ``.grad`` is replaced.
    """
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone().to(p.dtype)
        offset += n


def check_param(strategy: str, name: str, value: object, *, low: float = 0.0,
                high: float = math.inf, low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a float, or raise :class:`ConfigError` if it is out of range.

    Parameters
    ----------
    strategy
        Registry key of the strategy (for the message).
    name
        Parameter name.
    value
        The value given.
    low, high
        The valid interval.
    low_open, high_open
        Whether the interval excludes its bounds.
    """
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"weighting {strategy!r}: {name}={value!r} is not a number") from None
    ok = math.isfinite(x) or (x == math.inf and high == math.inf and not high_open)
    ok = ok and (x > low if low_open else x >= low) and (x < high if high_open else x <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ConfigError(f"weighting {strategy!r}: {name}={value!r} must lie in {interval}")
    return x


def adam_update(param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], *,
                index: Sequence[int], lr: float, weight_decay: float = 0.0,
                betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """One in-place Adam step (Kingma & Ba 2015) on some entries of a per-task tensor.

    Every entry is its own Adam parameter, with its own moments and step count: the entries
    not in ``index`` (tasks absent from the step) keep their value, moments and count, and are
    not decayed. The moments live in ``state`` (``exp_avg``, ``exp_avg_sq``, ``adam_step``, each
    of ``param``'s shape), plain tensors that checkpoint through
    :meth:`WeightingStrategy.state_dict`. ``weight_decay`` is the L2 term added to the
    gradient, as in :class:`torch.optim.Adam`.

    Parameters
    ----------
    param
        ``(T,)`` tensor updated in place.
    grad
        Gradient of the entries ``index``, ``(len(index),)``.
    state
        The moment tensors, updated in place.
    index
        The entries to step.
    lr
        Step size.
    weight_decay
        L2 penalty.
    betas
        Moment decay rates.
    eps
        Denominator guard.

    Examples
    --------
    >>> w = torch.zeros(3, dtype=torch.float64)
    >>> moments = {k: torch.zeros(3, dtype=torch.float64)
    ...            for k in ("exp_avg", "exp_avg_sq", "adam_step")}
    >>> adam_update(w, torch.tensor([2.0, -1.0], dtype=torch.float64), moments, index=[0, 2],
    ...             lr=0.1)
    >>> [round(x, 6) for x in w.tolist()], moments["adam_step"].tolist()
    ([-0.1, 0.0, 0.1], [1.0, 0.0, 1.0])
    """
    with torch.no_grad():
        idx = torch.as_tensor(list(index), dtype=torch.long)
        p = param[idx]
        grad = grad + weight_decay * p if weight_decay else grad
        t = state["adam_step"][idx] + 1
        m = state["exp_avg"][idx].mul(betas[0]).add(grad, alpha=1 - betas[0])
        v = state["exp_avg_sq"][idx].mul(betas[1]).addcmul(grad, grad, value=1 - betas[1])
        state["adam_step"][idx], state["exp_avg"][idx], state["exp_avg_sq"][idx] = t, m, v
        m_hat = m / (1 - betas[0] ** t)
        v_hat = v / (1 - betas[1] ** t)
        param[idx] = p - lr * m_hat / (v_hat.sqrt() + eps)


class WeightingStrategy:
    """How the task losses of one step become gradients.

    Two kinds of strategy share this interface:

    - *loss weighting* (equal, static, uncertainty, DWA, FAMO, ...) overrides :meth:`weights`
      (or :meth:`weighted_loss`), which returns one weight per task; the step backpropagates
      ``sum(w_t * L_t)``. GradNorm overrides :meth:`backward` itself.
    - *gradient combination* (PCGrad, CAGrad, MGDA, Nash-MTL) sets ``requires_task_grads`` and
      overrides :meth:`combine_grads`, which turns the ``(T, P)`` matrix of per-task gradients
      on the shared parameters into one gradient; task-specific parameters get the gradient of
      the plain sum of losses.

    Scale convention: weights sum to the number of tasks present in the step (as the equal
    sum does), so switching strategy does not change the effective learning rate.

    Tasks absent from a step (no labels in the batch) are skipped: :meth:`weights` and
    :meth:`combine_grads` see only the present tasks, in ``task_names`` order, listed in
    ``present_``. :meth:`weights` is called once per step and may update running state.

    Strategies with learnable state (uncertainty's log-variances) expose it through
    :meth:`parameters`, which the trainer adds to its optimizer. Everything a resumed run
    needs is a tensor attribute named in ``state_keys``; :meth:`state_dict` saves those and
    :meth:`load_state_dict` copies them back in place.

    Parameters
    ----------
    task_names
        Names of the tasks, in a fixed order.
    """

    requires_task_grads: bool = False
    #: names of the tensor attributes that :meth:`state_dict` saves
    state_keys: tuple[str, ...] = ()

    def __init__(self, task_names: Sequence[str]) -> None:
        names = [task_names] if isinstance(task_names, str) else list(task_names)
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"weighting: task names must be a non-empty list of unique names, "
                              f"got {names!r}")
        self.task_names = names
        self.present_: list[str] = list(names)
        self.counts: dict[str, int] = {}
        self.last_weights_: torch.Tensor | None = None

    def trainable(self, shared_params: Sequence[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
        """The shared parameters that require gradients (``ModelError`` if there are none)."""
        params = [p for p in shared_params if p.requires_grad]
        if not params:
            raise ModelError(f"weighting {type(self).__name__} needs the model's trainable "
                             "shared parameters, but none were given (is the encoder frozen?); "
                             "use a loss-weighting strategy such as 'equal'")
        return params

    def _present_index(self) -> list[int]:
        """Positions in ``task_names`` of the tasks present in this step."""
        return [self.task_names.index(n) for n in self.present_]

    # -- loss weighting -------------------------------------------------------------------
    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """Per-task weights ``(T,)`` for the stacked losses ``(T,)`` of this step."""
        return torch.ones_like(losses)

    def weighted_loss(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """The scalar to backpropagate (default: ``sum(weights * losses)``)."""
        w = self.weights(losses.detach(), step=step, epoch=epoch).to(losses)
        self.last_weights_ = w.detach()
        return (w * losses).sum()

    # -- gradient combination -------------------------------------------------------------
    def combine_grads(self, grads: torch.Tensor) -> torch.Tensor:
        """Combine a ``(T, P)`` matrix of task gradients into one ``(P,)`` gradient."""
        return grads.sum(dim=0)

    # -- the step -------------------------------------------------------------------------
    def backward(self, losses: dict[str, torch.Tensor], *,
                 shared_params: Sequence[torch.nn.Parameter], step: int = 0,
                 epoch: int = 0, counts: dict[str, int] | None = None) -> dict[str, float]:
        """Backpropagate this step's losses; return the weights used (for logging).

        Parameters
        ----------
        losses
            ``{task: scalar loss}`` of this step (tasks without labels may be absent).
        shared_params
            Parameters of the shared encoder (gradient strategies act on these).
        step, epoch
            Global step and epoch counters.
        counts
            Number of labelled elements (samples or residues) per task in this batch, for
            strategies that weight by sample count.
        """
        self.counts = dict(counts or {})
        self.present_ = [n for n in self.task_names if n in losses]
        names = self.present_
        if not names:  # no task in this batch: nothing to backpropagate
            return {}
        stacked = torch.stack([losses[n] for n in names])
        self.last_weights_ = None
        if not self.requires_task_grads:
            self.weighted_loss(stacked, step=step, epoch=epoch).backward()
        else:
            params = self.trainable(shared_params)
            grads = flat_task_grads([losses[n] for n in names], params)
            combined = self.combine_grads(grads)
            stacked.sum().backward()  # task-specific parameters
            write_flat_grad(combined, params)
        w = self.last_weights_
        return {n: float("nan") if w is None else float(w[i]) for i, n in enumerate(names)}

    def epoch_end(self, epoch_losses: dict[str, float], epoch: int) -> None:
        """Hook called with the mean training loss of each task after every epoch."""

    def parameters(self) -> list[torch.nn.Parameter]:
        """Learnable parameters of the strategy (none by default)."""
        return []

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint (learnable parameters and histories): ``state_keys``."""
        return {k: getattr(self, k).detach().clone() for k in self.state_keys}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict` in place (learnable tensors stay the same objects)."""
        name = type(self).__name__
        if set(state) != set(self.state_keys):
            raise CheckpointError(f"weighting {name}: saved state has keys {sorted(state)}, "
                                  f"expected {sorted(self.state_keys)} (another strategy?)")
        for key, value in state.items():
            target = getattr(self, key)
            if key == "adam_step" and value.dim() == 0 and target.dim() == 1:
                value = value.expand_as(target)  # saved before adam_update counted per task
            if target.shape != value.shape:
                raise CheckpointError(f"weighting {name}: state {key!r} has shape "
                                      f"{tuple(value.shape)}, expected {tuple(target.shape)} "
                                      "(was it saved with other tasks?)")
            with torch.no_grad():
                target.copy_(value)


class SeededWeightingStrategy(WeightingStrategy):
    """A strategy that draws from its own seeded generator and checkpoints the generator state.

    Subclasses call ``super().__init__(task_names, seed=seed)`` and draw with
    ``self.generator``; a resumed run then draws the same numbers as an uninterrupted one.
    """

    #: Registry name, used in error messages.
    name = "seeded"
    state_keys = ("rng_state",)

    def __init__(self, task_names: Sequence[str], seed: int = 0) -> None:
        super().__init__(task_names)
        self.generator = torch.Generator().manual_seed(int(check_param(self.name, "seed", seed)))

    @property
    def rng_state(self) -> torch.Tensor:
        """The generator's state (a uint8 tensor)."""
        return self.generator.get_state()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the generator state."""
        super().load_state_dict(state)  # checks the keys and the shape
        self.generator.set_state(state["rng_state"].to(torch.uint8).clone())
