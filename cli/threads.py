"""``--threads``: how many CPU threads a command's torch work may use.

By default a command uses the CPUs this process may run on: the CPU affinity mask
(:func:`os.sched_getaffinity`, what ``taskset``, SLURM's ``--cpus-per-task`` and cgroup
cpusets set), capped by a cgroup CPU quota (a Kubernetes or Docker CPU limit) and by
``OMP_NUM_THREADS`` when it is set. Never more threads than CPUs: two runs that each start one
thread per core of the whole machine slow each other down several-fold (every OpenMP barrier
then waits for a thread that is not running).

OpenMP threads that wait at a barrier spin on their core by default, which costs nothing on an
idle machine and everything on a busy one: the spinning threads take the CPU from the threads
being waited for. A command with ``--threads`` therefore asks OpenMP to sleep while waiting
(``OMP_WAIT_POLICY=PASSIVE``) unless the environment already says otherwise. Measured on the 2
shared cores of the development machine (load average ~11, the default ensemble, 60
sequences): 81-125 s with spinning threads, 11 s with sleeping ones; two such runs at once took
247-477 s spinning and 9-12 s each sleeping (``benchmarks/structure_contention.py``).

oneDNN keeps a cache of up to 1,024 compiled kernels, one per batch shape; with the variable
batch shapes of a proteome and the recurrent layers of the default model, that cache is most of
the memory that grows with the input. The same option therefore turns it off
(``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0``, unless set): measured with
``benchmarks/structure_memory.py`` (default model, 2 threads, idle machine), the peak at 1 M
residues fell from 953 to 500 MB at the same speed (12,278 vs 13,337 residues/s).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import click

__all__ = ["available_cpus", "thread_count", "threads_option", "use_threads"]

_CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
              Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def _cgroup_quota() -> int | None:
    """CPUs allowed by the cgroup's CPU quota (rounded up), or ``None`` without a quota."""
    try:
        if _CGROUP_V2.exists():
            quota, period = _CGROUP_V2.read_text().split()[:2]
        else:
            quota, period = (p.read_text().strip() for p in _CGROUP_V1)
        if quota in ("max", "-1"):
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def _omp_num_threads() -> int | None:
    """The (outermost) value of ``OMP_NUM_THREADS``, or ``None`` when unset or not a count."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def available_cpus() -> int:
    """The default thread count: the CPUs this process may use.

    Returns
    -------
    int
        The size of the CPU affinity mask, capped by a cgroup CPU quota and by
        ``OMP_NUM_THREADS`` (when set to a positive count); at least 1.

    Examples
    --------
    >>> 1 <= available_cpus() <= (os.cpu_count() or 1)
    True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    for cap in (_cgroup_quota(), _omp_num_threads()):
        if cap is not None:
            cpus = min(cpus, cap)
    return max(1, cpus)


def thread_count(threads: int | None) -> int:
    """The threads a command uses: ``threads`` (the ``--threads`` option), or
    :func:`available_cpus` when it is ``None``. Loads nothing (work that does not run on torch
    takes its count from here)."""
    return available_cpus() if threads is None else threads


def use_threads(threads: int | None) -> int:
    """Make torch use ``threads`` threads (``None``: :func:`available_cpus`); return the count.

    Parameters
    ----------
    threads
        A positive count (the ``--threads`` option) or ``None``.
    """
    import torch

    count = thread_count(threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def _sleep_while_waiting(ctx, param, value):
    """Option callback, before torch loads OpenMP and oneDNN: ``OMP_WAIT_POLICY=PASSIVE`` and
    ``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0``, each unless the environment sets it."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "0")
    return value


def threads_option(function):
    """The ``--threads N`` option (a positive integer; default :func:`available_cpus`).

    Parsing it also sets ``OMP_WAIT_POLICY=PASSIVE`` and ``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0``
    (each unless set) while torch is not loaded.
    """
    return click.option(
        "--threads", type=click.IntRange(min=1), default=None, metavar="N",
        callback=_sleep_while_waiting, is_eager=True,
        help="CPU threads (default: the CPUs this process may use: its CPU affinity mask, "
             "capped by a cgroup CPU quota and by OMP_NUM_THREADS).")(function)
