"""The multi-task training loop: AdamW, warm-up then cosine decay, clipping, early stopping,
per-task metrics every epoch, resumable checkpoints and DistributedDataParallel.

A batch is a dict ``{"inputs": ..., "targets": {task: Tensor}, "masks": {task: Tensor},
"forward_kwargs": {...}}``; ``masks`` and ``forward_kwargs`` are optional. Only tasks with at
least one label in the batch contribute to a step's loss, so a batch may carry labels for a
subset of tasks; a task without any (missing from ``targets``, all ``-100`` / NaN, or masked
out) is absent from the step: the weighting strategy does not see it and its head is not
updated.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._progress import NullProgress, ProgressCallback
from .._random import seed_everything
from ..errors import CheckpointError
from .tasks import TaskSpec, compute_loss, compute_metrics, valid_mask
from .train_config import TrainConfig, monitor_target
from .trainer_state import load_state, save_state
from .weighting import get_weighting

__all__ = ["RESUMABLE_CHANGES", "TrainConfig", "Trainer"]

#: TrainConfig fields that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("epochs", "patience", "time_budget_s", "device")


@dataclass
class _RunState:
    """What :meth:`Trainer.fit` carries from epoch to epoch (and a resumed run restores)."""

    epoch: int = 0
    step: int = 0
    best_score: float | None = None
    best_state: dict | None = None
    stale: int = 0


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


class Trainer:
    """Train a multi-task model.

    Parameters
    ----------
    model
        A model whose forward returns ``{task: Tensor}`` and that offers
        ``shared_parameters()`` (e.g. :class:`~bio_mtl.mtl.MultiTaskModel`).
    tasks
        The task specifications (names must match the model's outputs).
    config
        A :class:`TrainConfig`.
    progress
        Optional :class:`~bio_mtl._progress.ProgressCallback`.
    log_path
        Optional JSON-lines file that receives one metrics record per epoch.
    checkpoint_dir
        Optional folder for resumable state (``last/``, saved after every epoch); :meth:`fit`
        resumes from it. Only the settings in :data:`RESUMABLE_CHANGES` may differ from the
        interrupted run's (another ``lr`` or ``seed`` raises :class:`CheckpointError`).

    Attributes
    ----------
    history_ : list of dict
        One record per finished epoch (losses, weights, validation metrics, learning rate).
    best_epoch_ : int
        Epoch whose weights were restored at the end (by ``monitor``).
    """

    def __init__(self, model: nn.Module, tasks: Sequence[TaskSpec], config: TrainConfig, *,
                 progress: ProgressCallback | None = None, log_path: str | Path | None = None,
                 checkpoint_dir: str | Path | None = None) -> None:
        self.model = model
        self.tasks = {t.name: t for t in tasks}
        self.config = config
        self.progress = progress or NullProgress()
        self.log_path = None if log_path is None else Path(log_path)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.device = torch.device(config.device)
        self.weighting = get_weighting(config.weighting, list(self.tasks),
                                       **config.weighting_params)
        self._monitor_task, self._monitor_metric, self._higher = monitor_target(
            config.monitor, tasks)

    # -- setup --------------------------------------------------------------------------------
    def _distributed(self) -> tuple[bool, int, int]:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return True, dist.get_rank(), dist.get_world_size()
        return False, 0, 1

    def _optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        extra = self.weighting.parameters()
        groups = [{"params": params}]
        if extra:
            groups.append({"params": extra, "weight_decay": 0.0})
        return torch.optim.AdamW(groups, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def _schedule(self, total_steps: int):
        warm, floor = self.config.warmup_steps, self.config.min_lr_ratio

        def factor(step: int) -> float:
            if warm and step < warm:
                return (step + 1) / warm
            if total_steps <= warm:
                return 1.0
            progress = min(1.0, (step - warm) / max(1, total_steps - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return factor

    # -- one step -----------------------------------------------------------------------------
    def _losses(self, net: nn.Module, batch: dict) -> tuple[dict, dict, dict]:
        """``(losses, counts, outputs)`` of the tasks *present* in ``batch``.

        A task whose targets carry no label in this batch (all ``-100`` / NaN, or masked out)
        is absent: it is left out of ``losses`` and ``counts``, so the weighting strategy
        neither sees it nor touches its state, and its head gets no gradient.
        """
        batch = _to_device(batch, self.device)
        outputs = net(batch["inputs"], **batch.get("forward_kwargs", {}))
        masks = batch.get("masks", {})
        losses, counts = {}, {}
        for name, target in batch["targets"].items():
            task, mask = self.tasks[name], masks.get(name)
            count = int(valid_mask(task, target, mask).sum())
            if count:
                losses[name] = compute_loss(task, outputs[name], target, mask)
                counts[name] = count
        return losses, counts, outputs

    def _step(self, net, optimizer, scheduler, batch, step: int, epoch: int,
              distributed: bool) -> dict[str, float]:
        optimizer.zero_grad(set_to_none=True)
        losses, counts, outputs = self._losses(net, batch)
        self.weighting.backward(losses, shared_params=self.model.shared_parameters(), step=step,
                                epoch=epoch, counts=counts)
        if distributed and not losses and not self.weighting.requires_task_grads:
            # no task present on this rank: DDP's reducer still expects one backward pass
            sum(out.sum() for out in outputs.values()).mul(0.0).backward()
        if distributed and self.weighting.requires_task_grads:
            self._all_reduce_grads()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        optimizer.step()
        scheduler.step()
        return {n: float(v.detach()) for n, v in losses.items()}

    def _all_reduce_grads(self) -> None:
        """Average the gradients over the replicas (as DDP does for the other strategies).

        A task absent on one rank leaves its head without a gradient there, so which
        parameters have one differs between ranks: they first agree on that (one small
        all-reduce), then every rank reduces the same tensors, a missing gradient counting as
        zero. A parameter without a gradient on every rank keeps none, as under DDP.
        """
        import torch.distributed as dist

        world = dist.get_world_size()
        params = [p for p in self.model.parameters() if p.requires_grad]
        has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.int32,
                                device=self.device)
        dist.all_reduce(has_grad)
        for p, anywhere in zip(params, has_grad.tolist(), strict=True):
            if anywhere:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad)
                p.grad /= world

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, train_batches: Iterable[dict], val_batches: Iterable[dict] | None = None
            ) -> Trainer:
        """Train; return ``self``. Resumes from ``checkpoint_dir/last`` when it exists."""
        cfg = self.config
        seed_everything(cfg.seed)
        self.model.to(self.device)
        shard = self._distributed()
        net = self._wrap(shard[0])
        optimizer = self._optimizer()
        n_batches = self._count(train_batches, shard[2])
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, self._schedule(cfg.epochs * max(n_batches, 1)))
        self.history_, self.best_epoch_ = [], -1
        run = self._resume(optimizer, scheduler) or _RunState()
        started = time.monotonic()
        for epoch in range(run.epoch, cfg.epochs):
            seed_everything(cfg.seed + epoch)
            if hasattr(train_batches, "set_epoch"):
                train_batches.set_epoch(epoch)
            means = self._train_epoch(net, optimizer, scheduler, train_batches, run,
                                      epoch=epoch, n_batches=n_batches, shard=shard)
            self.weighting.epoch_end(means, epoch)
            record = {"epoch": epoch + 1, "step": run.step, "lr": scheduler.get_last_lr()[0],
                      "train_loss": float(sum(means.values()))}
            record.update({f"train/{n}/loss": v for n, v in means.items()})
            score = self._validate(val_batches, record)
            record["time_s"] = round(time.monotonic() - started, 3)
            self._track_best(run, score, epoch=epoch, has_val=val_batches is not None)
            self.history_.append(record)
            run.epoch = epoch + 1
            stop = (cfg.patience is not None and run.stale >= cfg.patience) or (
                cfg.time_budget_s is not None and time.monotonic() - started > cfg.time_budget_s)
            if shard[1] == 0:
                self._log(record)
                if self.checkpoint_dir is not None:
                    self._save(optimizer, scheduler, run)
            if stop:
                break
        if run.best_state is not None:
            self.model.load_state_dict(run.best_state)
            self.best_epoch_ = self.best_epoch_ if self.best_epoch_ > 0 else len(self.history_)
        return self

    def _train_epoch(self, net, optimizer, scheduler, batches, run: _RunState, *, epoch: int,
                     n_batches: int, shard: tuple[bool, int, int]) -> dict[str, float]:
        """One pass over ``batches`` (this rank's share); the mean loss of each task."""
        distributed, rank, world = shard
        net.train()
        self.progress.start(n_batches or None, f"epoch {epoch + 1}/{self.config.epochs}")
        sums: dict[str, list[float]] = {}
        for i, batch in enumerate(batches):
            if distributed and (i % world != rank or i >= n_batches * world):
                continue
            for name, value in self._step(net, optimizer, scheduler, batch, run.step, epoch,
                                          distributed).items():
                sums.setdefault(name, []).append(value)
            run.step += 1
            self.progress.advance(1)
        self.progress.finish()
        return {n: float(np.mean(v)) for n, v in sums.items()}

    def _validate(self, val_batches: Iterable[dict] | None, record: dict) -> float | None:
        """Add validation loss and metrics to ``record``; return the monitored score."""
        if val_batches is None:
            return None
        val = self.evaluate(val_batches)
        record["val_loss"] = val["loss"]
        for name in self.tasks:
            for metric, value in val.get(name, {}).items():
                record[f"val/{name}/{metric}"] = value
        return val["loss"] if self._monitor_task is None else \
            val[self._monitor_task][self._monitor_metric]

    def _track_best(self, run: _RunState, score: float | None, *, epoch: int,
                    has_val: bool) -> None:
        """Keep the best weights so far (the latest ones when there is no validation set)."""
        improved = score is not None and not math.isnan(score) and (
            run.best_score is None
            or (score > run.best_score if self._higher else score < run.best_score))
        if improved or not has_val:
            run.best_score, run.stale, self.best_epoch_ = score, 0, epoch + 1
            run.best_state = copy.deepcopy(self.model.state_dict())
        else:
            run.stale += 1

    def _wrap(self, distributed: bool) -> nn.Module:
        if not distributed or self.weighting.requires_task_grads:
            if distributed:  # same start on every replica; gradients are averaged by hand
                import torch.distributed as dist

                for t in self.model.state_dict().values():
                    dist.broadcast(t, 0)
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(self.model, find_unused_parameters=True)

    @staticmethod
    def _count(batches: Iterable, world: int) -> int:
        try:
            return len(batches) // world  # type: ignore[arg-type]
        except TypeError:
            return 0

    def _log(self, record: dict) -> None:
        self.progress.log(record)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    # -- resumable state ----------------------------------------------------------------------
    def _save(self, optimizer, scheduler, run: _RunState) -> None:
        save_state(self.checkpoint_dir / "last", {
            "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "weighting": self.weighting.state_dict(),
            "epoch": run.epoch, "step": run.step, "best_score": run.best_score,
            "best_state": run.best_state, "stale": run.stale, "history": self.history_,
            "best_epoch": self.best_epoch_, "config": self.config.to_dict(),
        })

    def _resume(self, optimizer, scheduler) -> _RunState | None:
        if self.checkpoint_dir is None:
            return None
        state = load_state(self.checkpoint_dir / "last")
        if state is None:
            return None
        self._check_resumable(state.get("config", {}))
        try:
            self.model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError) as exc:
            raise CheckpointError(
                f"{self.checkpoint_dir / 'last'}: the saved trainer state does not fit this "
                f"model ({str(exc).splitlines()[0]}); was it written by another run? Delete "
                "it or choose another folder") from None
        scheduler.load_state_dict(state["scheduler"])
        self.weighting.load_state_dict(state["weighting"])
        self.history_, self.best_epoch_ = state["history"], state["best_epoch"]
        return _RunState(epoch=state["epoch"], step=state["step"],
                         best_score=state["best_score"], best_state=state["best_state"],
                         stale=state["stale"])

    def _check_resumable(self, saved: dict) -> None:
        """Refuse a state saved with other settings (only ``RESUMABLE_CHANGES`` may differ)."""
        now = self.config.to_dict()
        changed = [f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in now
                   if k not in RESUMABLE_CHANGES and k in saved and saved[k] != now[k]]
        if changed:
            raise CheckpointError(
                f"{self.checkpoint_dir / 'last'}: the saved trainer state was written with other "
                f"training settings ({'; '.join(changed)}); delete it or choose another folder")

    # -- evaluation ---------------------------------------------------------------------------
    @torch.inference_mode()
    def evaluate(self, batches: Iterable[dict]) -> dict[str, Any]:
        """Validation loss and per-task metrics over ``batches``.

        Returns
        -------
        dict
            ``{"loss": mean summed loss, task: {"loss": ..., metric: ...}}``; token-level
            predictions are pooled over all labelled tokens.
        """
        self.model.eval()
        preds: dict[str, list] = {n: [] for n in self.tasks}
        targets: dict[str, list] = {n: [] for n in self.tasks}
        loss_sum: dict[str, float] = {n: 0.0 for n in self.tasks}
        loss_n: dict[str, int] = {n: 0 for n in self.tasks}
        for batch in batches:
            batch = _to_device(batch, self.device)
            out = self.model(batch["inputs"], **batch.get("forward_kwargs", {}))
            masks = batch.get("masks", {})
            for name, target in batch["targets"].items():
                task = self.tasks[name]
                valid = valid_mask(task, target, masks.get(name))
                n = int(valid.sum())
                if n == 0:
                    continue
                loss_sum[name] += float(compute_loss(task, out[name], target,
                                                     masks.get(name))) * n
                loss_n[name] += n
                preds[name].append(out[name][valid].float().cpu().numpy())
                targets[name].append(target[valid].cpu().numpy())
        result: dict[str, Any] = {}
        total = 0.0
        for name, task in self.tasks.items():
            if loss_n[name] == 0:
                continue
            metrics = compute_metrics(task, np.concatenate(preds[name]),
                                      np.concatenate(targets[name]))
            metrics["loss"] = loss_sum[name] / loss_n[name]
            total += metrics["loss"]
            result[name] = metrics
        result["loss"] = total
        return result

    @torch.inference_mode()
    def predict(self, batches: Iterable[dict]) -> list[dict[str, torch.Tensor]]:
        """Model outputs for every batch (eval mode, no gradients, on the CPU)."""
        self.model.eval()
        out = []
        for batch in batches:
            batch = _to_device(batch, self.device)
            res = self.model(batch["inputs"], **batch.get("forward_kwargs", {}))
            out.append({k: v.cpu() for k, v in res.items()})
        return out
