"""DistributedDataParallel set-up from the ``torchrun`` environment.

``torchrun --nproc_per_node=N`` (``python -m torch.distributed.run``) starts N copies of a
program and tells each its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (plus the rendezvous
address) through environment variables. :func:`init_from_env` turns them into an initialised
process group; the :class:`~bio_mtl.mtl.trainer.Trainer` then wraps the model in
DistributedDataParallel (Li et al. 2020, VLDB 13:3005) and gives each rank every
``WORLD_SIZE``-th batch, so gradients are averaged over all ranks' batches and the replicas stay
identical. Only rank 0 should write files (:func:`is_main_process`).
"""

from __future__ import annotations

import os

__all__ = ["cleanup", "init_from_env", "is_main_process"]


def init_from_env(*, backend: str | None = None) -> bool:
    """Initialise ``torch.distributed`` when launched by torchrun with more than one process.

    Parameters
    ----------
    backend
        ``"gloo"`` (CPU) or ``"nccl"`` (GPU); default: nccl when CUDA is available, else gloo.

    Returns
    -------
    bool
        Whether a process group is (now) initialised.
    """
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def is_main_process() -> bool:
    """True on rank 0, and always when not running distributed."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def cleanup() -> None:
    """Destroy the process group if one is initialised."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
