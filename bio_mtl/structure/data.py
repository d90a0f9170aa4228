"""Labelled chains for structure training: reading, per-task targets, splits and batching.

The input format is the gzip-compressed JSON lines of the NetSurfP-2.0 / DSSP benchmark files,
one record per chain: ``{"id", "seq", "ss8", "rsa", "mask"}`` (Klausen et al. 2019, Proteins
87:520, doi:10.1002/prot.25674), or the original NetSurfP-2.0 ``.npz`` files. Positions with
mask ``'0'`` carry no label; ``rsa`` may be ``null``. Every path comes from the caller.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .._random import hash_split
from ..errors import InputError
from ..mtl.batches import Batches
from .alphabet import PAD_INDEX, SS8, SS8_TO_SS3_INDEX, encode_sequence
from .io import read_labelled
from .npz import read_netsurfp_npz

__all__ = ["CB513_OVERLAP_IDS", "Chain", "TokenBatches", "collate", "join_rsa", "read_chains",
           "split_chains"]

#: NetSurfP-2.0 training chains whose sequence equals a CB513 chain (see the data README);
#: dropped from training by default so CB513 numbers stay clean.
CB513_OVERLAP_IDS = frozenset({"netsurfp2_train_01077", "netsurfp2_train_01335"})

_SS8_LOOKUP = {c: i for i, c in enumerate(SS8)}


@dataclass
class Chain:
    """One labelled chain.

    Attributes
    ----------
    id, seq
        Identifier and sequence.
    tokens
        ``(L,)`` residue indices (:func:`~bio_mtl.structure.alphabet.encode_sequence`).
    ss8
        ``(L,)`` 8-state indices in ``GHIBESTC`` order, ``-100`` where unlabelled.
    rsa
        ``(L,)`` relative solvent accessibility, NaN where unlabelled.
    disorder
        ``(L,)`` 1 where the residue is disordered or unobserved in the structure (mask ``0``
        of a NetSurfP-2.0-style file), 0 where it is observed, ``-100`` where unknown; ``None``
        when the file's mask does not mean disorder (CB513's evaluation region).
    soft
        Optional per-task soft targets for knowledge distillation: ``(L, C)`` class
        probabilities (``ss8``, ``ss3``, ``disorder``) or ``(L,)`` values (``rsa``), NaN where
        there is no target (see :func:`bio_mtl.structure.distill.add_soft_targets`).
    """

    id: str
    seq: str
    tokens: np.ndarray
    ss8: np.ndarray
    rsa: np.ndarray
    disorder: np.ndarray | None = None
    soft: dict | None = None

    @property
    def ss3(self) -> np.ndarray:
        """``(L,)`` 3-state indices (``HEC``), ``-100`` where unlabelled."""
        out = np.full(len(self.ss8), -100, dtype=np.int64)
        ok = self.ss8 >= 0
        out[ok] = SS8_TO_SS3_INDEX[self.ss8[ok]]
        return out

    @property
    def has_ss(self) -> bool:
        """Whether any residue has an SS label."""
        return bool((self.ss8 >= 0).any())

    @property
    def has_disorder(self) -> bool:
        """Whether any residue has a disorder label."""
        return self.disorder is not None and bool((self.disorder >= 0).any())

    @property
    def has_rsa(self) -> bool:
        """Whether any residue has an RSA label."""
        return bool(np.isfinite(self.rsa).any())

    def __len__(self) -> int:
        return len(self.seq)


def _chain(rec: dict, use_ss: bool, use_rsa: bool, use_disorder: bool = False) -> Chain:
    """A :class:`Chain` from a validated record dict (see :func:`~.io.read_labelled`)."""
    seq, mask = rec["seq"], rec["mask"]
    valid = np.frombuffer(mask.encode("ascii"), dtype=np.uint8) == ord("1")
    disorder = (~valid).astype(np.int64) if use_disorder else None
    ss = np.array([_SS8_LOOKUP[c] for c in rec["ss8"]], dtype=np.int64)
    ss[~valid] = -100
    values = np.array([np.nan if v is None else v for v in rec["rsa"]], dtype=np.float32)
    values[~valid] = np.nan
    if not use_ss:
        ss[:] = -100
    if not use_rsa:
        values[:] = np.nan
    return Chain(rec["id"], seq, encode_sequence(seq), ss, values, disorder)


def _is_npz(path) -> bool:
    """A NumPy ``.npz`` archive (a zip file), recognised by its magic bytes."""
    if hasattr(path, "read") or str(path) == "-":
        return False
    try:
        with open(path, "rb") as probe:
            return probe.read(4) == b"PK\x03\x04"
    except OSError:
        return False  # the reader reports the problem with its own message


def read_chains(path: str | os.PathLike, *, use_ss: bool = True, use_rsa: bool = True,
                use_disorder: bool = False, exclude_ids: Iterable[str] = ()) -> list[Chain]:
    """Read labelled chains from a (gzipped) JSON-lines file or a NetSurfP-2.0 ``.npz`` file.

    Parameters
    ----------
    path
        File with one ``{"id", "seq", "ss8", "rsa", "mask"}`` object per line, validated by
        :func:`bio_mtl.structure.io.read_labelled`; or a NetSurfP-2.0 ``.npz`` archive
        (recognised by its zip magic bytes), read by
        :func:`bio_mtl.structure.npz.read_netsurfp_npz` with its isolated-chain RSA.
    use_ss, use_rsa
        Keep the SS8 / RSA labels (set one to ``False`` to train a single-task model).
    use_disorder
        Read the mask as disorder labels (mask ``0``: disordered or unobserved), as in the
        NetSurfP-2.0 training set and the RSA sets. Leave it off for CB513, whose mask marks its
        evaluation region instead.
    exclude_ids
        Chain ids to skip (e.g. :data:`CB513_OVERLAP_IDS`).

    Returns
    -------
    list of Chain

    Raises
    ------
    InputError
        If the file is missing, unreadable, not JSON lines, or a record is malformed (the
        message names the file, the line and the record), or no record is left.

    Examples
    --------
    >>> import io
    >>> line = '{"id": "c", "seq": "ACD", "ss8": "HEC", "rsa": [0.5, null, 1], "mask": "110"}'
    >>> (chain,) = read_chains(io.StringIO(line))
    >>> chain.ss8.tolist(), chain.rsa.tolist()
    ([1, 4, -100], [0.5, nan, nan])
    """
    records = read_netsurfp_npz(path) if _is_npz(path) else read_labelled(path)
    skip = set(exclude_ids)
    out = [_chain(rec, use_ss, use_rsa, use_disorder) for rec in records
           if rec["id"] not in skip]
    if not out:
        raise InputError(f"no records left after excluding {len(records)} listed id(s)",
                         path=str(path))
    return out


def join_rsa(ss_chains: list[Chain], rsa_chains: list[Chain]) -> tuple[list[Chain], list[Chain]]:
    """Copy RSA labels onto SS chains with the same sequence.

    Returns the SS chains (with RSA where a twin exists) and the RSA chains that had no twin, so
    no sequence is trained twice.
    """
    by_seq = {c.seq: c for c in rsa_chains if c.has_rsa}
    used = set()
    for chain in ss_chains:
        twin = by_seq.get(chain.seq)
        if twin is not None:
            chain.rsa = np.where(np.isfinite(twin.rsa), twin.rsa, chain.rsa).astype(np.float32)
            used.add(twin.id)
    return ss_chains, [c for c in rsa_chains if c.id not in used]


def split_chains(chains: Sequence[Chain], fraction: float, *, salt: str = "bio_mtl"
                 ) -> tuple[list[Chain], list[Chain]]:
    """Deterministic (train, validation) split by a hash of each chain id."""
    held = hash_split([c.id for c in chains], fraction, salt=salt)
    return ([c for c, h in zip(chains, held, strict=True) if not h],
            [c for c, h in zip(chains, held, strict=True) if h])


def _padded_targets(chains, spans, length: int, task: str):
    """``(N, length[, C])`` target array of ``task`` (soft when every chain has soft ones)."""
    n = len(chains)
    if all(c.soft is not None and task in c.soft for c in chains):
        first = chains[0].soft[task]
        out = np.full((n, length, *first.shape[1:]), np.nan, dtype=np.float32)
        for i, (c, (a, b)) in enumerate(zip(chains, spans, strict=True)):
            out[i, :b - a] = c.soft[task][a:b]
        return out
    if task == "rsa":
        out = np.full((n, length), np.nan, dtype=np.float32)
        for i, (c, (a, b)) in enumerate(zip(chains, spans, strict=True)):
            out[i, :b - a] = c.rsa[a:b]
        return out
    out = np.full((n, length), -100, dtype=np.int64)
    for i, (c, (a, b)) in enumerate(zip(chains, spans, strict=True)):
        labels = {"ss8": c.ss8, "ss3": c.ss3, "disorder": c.disorder}[task]
        if labels is not None:
            out[i, :b - a] = labels[a:b]
    return out


def collate(chains: Sequence[Chain], tasks: Sequence[str] = ("ss8", "ss3", "rsa"),
            *, crop: Sequence[tuple[int, int]] | None = None, embedder=None) -> dict:
    """Pad chains into one trainer batch.

    Returns ``{"inputs": (N, L) long, "targets": {task: (N, L)}, "forward_kwargs": {"mask":
    (N, L) bool}, "ids": [...]}``; padding has token ``PAD_INDEX``, label ``-100`` / NaN.
    When every chain carries soft targets for a task (:attr:`Chain.soft`), that task's target
    is the soft one: ``(N, L, C)`` float probabilities, NaN where absent.
    With an ``embedder`` (``seqs -> [(L, D) arrays]``, e.g. ESM-2) the inputs are ``(N, L, D)``
    features instead of tokens.
    """
    import torch

    spans = crop or [(0, len(c)) for c in chains]
    length = max(b - a for a, b in spans)
    n = len(chains)
    tokens = np.full((n, length), PAD_INDEX, dtype=np.int64)
    for i, (c, (a, b)) in enumerate(zip(chains, spans, strict=False)):
        tokens[i, :b - a] = c.tokens[a:b]
    targets = {t: torch.from_numpy(_padded_targets(chains, spans, length, t)) for t in tasks}
    inputs = torch.from_numpy(tokens)
    mask = inputs != PAD_INDEX
    if embedder is not None:
        # whole chains are embedded (and cached) once, then cropped: a random crop per epoch
        # would otherwise miss the cache every time and lose the context outside the crop
        feats = embedder([c.seq for c in chains])
        inputs = torch.zeros(n, length, np.asarray(feats[0]).shape[1])
        for i, (f, (a, b)) in enumerate(zip(feats, spans, strict=True)):
            inputs[i, :b - a] = torch.as_tensor(np.asarray(f)[a:b], dtype=torch.float32)
    return {"inputs": inputs, "targets": targets,
            "forward_kwargs": {"mask": mask}, "ids": [c.id for c in chains]}


class TokenBatches(Batches):
    """Length-bucketed batches holding at most ``batch_tokens`` padded residues each.

    A :class:`~bio_mtl.mtl.batches.Batches` for the trainer. With ``shuffle`` the chains are
    re-drawn every epoch from the epoch's generator (:meth:`~bio_mtl.mtl.batches.Batches.rng`,
    the engine's one seeding rule): SS-only chains are subsampled to ``ss_fraction`` and
    RSA-labelled chains repeated ``rsa_repeat`` times, so scarce RSA labels appear in every
    epoch; long chains are randomly cropped to ``max_len``. Without ``shuffle`` the batches are
    fixed (validation).

    Parameters
    ----------
    chains
        Labelled chains.
    batch_tokens
        Maximum ``n_chains x padded_length`` per batch.
    tasks
        Targets to put in each batch.
    shuffle, seed
        Random epochs (:func:`~bio_mtl.mtl.batches.epoch_rng` of ``seed`` and the epoch) or a
        fixed order.
    ss_fraction, rsa_repeat
        Per-epoch mixing of the SS-only and RSA-labelled chains (only with ``shuffle``).
    max_len
        Crop length for training chains (``None`` = no crop).
    embedder
        Optional ``seqs -> [(L, D) arrays]`` feature extractor (see :func:`collate`).

    Examples
    --------
    >>> chains = [Chain(f"c{i}", "ACDE"[:n], encode_sequence("ACDE"[:n]), np.zeros(n, int),
    ...                 np.full(n, np.nan, np.float32)) for i, n in enumerate((2, 3, 4))]
    >>> [b["inputs"].shape[0] for b in TokenBatches(chains, batch_tokens=8)]
    [2, 1]
    """

    def __init__(self, chains: Sequence[Chain], *, batch_tokens: int = 8192,
                 tasks: Sequence[str] = ("ss8", "ss3", "rsa"), shuffle: bool = False,
                 seed: int = 0, ss_fraction: float = 1.0, rsa_repeat: int = 1,
                 max_len: int | None = None, embedder=None) -> None:
        super().__init__(shuffle=shuffle, seed=seed)
        self.embedder = embedder
        self.chains = list(chains)
        self.batch_tokens = int(batch_tokens)
        self.tasks = tuple(tasks)
        self.ss_fraction = ss_fraction
        self.rsa_repeat = max(1, int(rsa_repeat))
        self.max_len = max_len
        self._plans: dict[int, list[list[tuple[int, int, int]]]] = {}

    def _plan(self) -> list[list[tuple[int, int, int]]]:
        """This epoch's batches as ``(chain index, start, end)`` triples (fixed unshuffled)."""
        epoch = self.epoch if self.shuffle else 0
        if epoch not in self._plans:
            self._plans = {epoch: self._make_plan(self.rng() if self.shuffle else None)}
        return self._plans[epoch]

    def _items(self, rng: np.random.Generator | None) -> list[tuple[int, int, int]]:
        """The epoch's (chain, start, end) crops: SS-only chains subsampled, RSA ones repeated."""
        items = []
        for i, c in enumerate(self.chains):
            repeat = 1
            if rng is not None:
                if c.has_rsa:
                    repeat = self.rsa_repeat
                elif rng.random() >= self.ss_fraction:
                    continue
            for _ in range(repeat):
                a, b = 0, len(c)
                if rng is not None and self.max_len and b > self.max_len:
                    a = int(rng.integers(0, b - self.max_len + 1))
                    b = a + self.max_len
                items.append((i, a, b))
        return items

    def _make_plan(self, rng: np.random.Generator | None) -> list[list[tuple[int, int, int]]]:
        items = self._items(rng)
        lengths = np.array([b - a for _, a, b in items], dtype=np.float64)
        noise = rng.uniform(0, 8, len(items)) if rng is not None else np.zeros(len(items))
        order = np.argsort(lengths + noise, kind="stable")
        batches, current, longest = [], [], 0
        for j in order:
            n_len = max(longest, int(lengths[j]))
            if current and n_len * (len(current) + 1) > self.batch_tokens:
                batches.append(current)
                current, n_len = [], int(lengths[j])
            current.append(items[j])
            longest = n_len
        if current:
            batches.append(current)
        if rng is not None:
            rng.shuffle(batches)
        return batches

    def __len__(self) -> int:
        return len(self._plan())

    def __iter__(self) -> Iterator[dict]:
        for plan in self._plan():
            chains = [self.chains[i] for i, _, _ in plan]
            yield collate(chains, self.tasks, crop=[(a, b) for _, a, b in plan],
                          embedder=self.embedder)
