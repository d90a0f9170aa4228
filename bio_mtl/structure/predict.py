"""Batch prediction with a structure model (no file I/O), streaming in constant memory.

The records are read lazily and cut, in order, into blocks of about :data:`BLOCK_TOKENS`
residues (:func:`prediction_blocks`). Within a block, sequences are sorted by length and packed
into batches of at most ``batch_tokens`` padded residues; the block's results are handed on in
input order before the next block is read (:func:`iter_predictions`), so memory does not grow
with the number of sequences. Sequences longer than ``chunk_size`` are predicted in overlapping
windows whose outputs are stitched at the centre of each overlap, so memory stays bounded for
any length (e.g. titin, ~35,000 residues) and every residue keeps at least ``overlap / 2``
residues of context on both sides. A shard (:func:`shard_blocks`) is a contiguous run of
blocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from .._progress import NullProgress, ProgressCallback
from ..errors import ConfigError, InputError
from .alphabet import PAD_INDEX, SS8_TO_SS3_INDEX, encode_sequence
from .results import StructurePrediction

__all__ = ["BLOCK_TOKENS", "block_sizes", "chunk_spans", "iter_predictions", "predict_structure",
           "prediction_blocks", "shard_blocks"]

#: Residues of the largest prediction block (:func:`prediction_blocks`). Memory while
#: predicting is about 60 bytes per residue of one block (~16 MB) on top of the model and
#: one batch; larger blocks only sort lengths into batches a little better.
BLOCK_TOKENS = 1 << 18


def chunk_spans(length: int, chunk_size: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Windows ``(start, end, keep_from, keep_to)`` covering ``range(length)``.

    Consecutive windows overlap by at least ``overlap``; each residue is taken from exactly one
    window, the boundary lying at the middle of the overlap.

    Examples
    --------
    >>> chunk_spans(10, 4, 2)
    [(0, 4, 0, 3), (2, 6, 3, 5), (4, 8, 5, 7), (6, 10, 7, 10)]
    """
    if length <= chunk_size:
        return [(0, length, 0, length)]
    if not 0 <= overlap < chunk_size:
        raise ValueError("overlap must be >= 0 and smaller than chunk_size")
    stride = chunk_size - overlap
    starts = [*list(range(0, length - chunk_size, stride)), length - chunk_size]
    spans = []
    for k, s in enumerate(starts):
        e = s + chunk_size
        keep_from = 0 if k == 0 else spans[-1][3]
        keep_to = length if k == len(starts) - 1 else (starts[k + 1] + e) // 2
        spans.append((s, e, keep_from, keep_to))
    return spans


def _record(i: int, rec) -> tuple[str, str]:
    """``(id, upper-case sequence)`` of input item ``i``."""
    if isinstance(rec, (tuple, list)):
        rid, seq = rec[0], rec[1]
    elif hasattr(rec, "seq"):
        rid, seq = getattr(rec, "id", f"seq{i + 1}"), rec.seq
    else:
        rid, seq = f"seq{i + 1}", rec
    seq = str(seq).upper()
    if not seq:
        raise InputError("empty sequence", record=str(rid))
    return str(rid), seq


def prediction_blocks(records: Iterable, *, batch_tokens: int = 16384,
                       block_tokens: int = BLOCK_TOKENS) -> Iterator[list[tuple[str, str]]]:
    """Cut the records, in order, into the blocks the predictor batches together.

    Block ``j`` takes records until it holds at least ``min(batch_tokens * 2**j,
    block_tokens)`` residues: the first blocks are small (the first rows come out after
    one forward pass), later ones large enough for good length-sorted batches. The cut
    depends only on the record lengths from the start of the input, so every run (and every
    shard, :func:`shard_blocks`) batches a record with the same neighbours and predicts it
    bit for bit the same (the floating-point result of a batched forward pass depends, in
    its last bits, on the other sequences of the batch).

    Parameters
    ----------
    records
        ``(id, seq)`` pairs, Biopython records or plain strings, read lazily.
    batch_tokens, block_tokens
        The first block's and the largest block's residue target.

    Yields
    ------
    list of (id, seq)
        Consecutive records; together they are the input in order.

    Examples
    --------
    >>> [len(w) for w in prediction_blocks(["A" * 40] * 10, batch_tokens=50,
    ...                                      block_tokens=150)]
    [2, 3, 4, 1]
    """
    block: list[tuple[str, str]] = []
    residues, target, step = 0, min(batch_tokens, block_tokens), 0
    for i, rec in enumerate(records):
        block.append(_record(i, rec))
        residues += len(block[-1][1])
        if residues >= target:
            yield block
            block, residues, step = [], 0, step + 1
            target = min(batch_tokens << min(step, 62), block_tokens)
    if block:
        yield block


def block_sizes(records: Iterable, *, batch_tokens: int = 16384,
                block_tokens: int = BLOCK_TOKENS) -> list[tuple[int, int]]:
    """``(records, residues)`` of each block of :func:`prediction_blocks`, in order.

    A first pass over a file (it also validates every record before any work is done) gives
    the number of blocks a shard needs (:func:`shard_blocks`) and the residues to expect.

    Examples
    --------
    >>> block_sizes(["A" * 40] * 10, batch_tokens=50, block_tokens=150)
    [(2, 80), (3, 120), (4, 160), (1, 40)]
    """
    return [(len(b), sum(len(s) for _, s in b))
            for b in prediction_blocks(records, batch_tokens=batch_tokens,
                                       block_tokens=block_tokens)]


def shard_blocks(index: int, count: int, n_blocks: int) -> range:
    """The blocks (:func:`prediction_blocks`) that shard ``index`` of ``count`` predicts.

    Shard ``K`` of ``N`` (1-based) takes the ``K``-th of ``N`` contiguous runs of blocks,
    ``floor((K - 1) n / N)`` up to ``floor(K n / N)``: every block (so every record) belongs
    to exactly one shard, the shards follow the input order (their outputs concatenate into
    the single run's), and they hold about the same number of residues.

    Parameters
    ----------
    index, count
        ``1 <= index <= count``.
    n_blocks
        The input's number of blocks.

    Examples
    --------
    >>> [list(shard_blocks(k, 3, 7)) for k in (1, 2, 3)]
    [[0, 1], [2, 3], [4, 5, 6]]
    """
    if not 1 <= index <= count:
        raise ConfigError(f"shard {index}/{count}: the shard number must be between 1 and "
                          f"{count}")
    return range((index - 1) * n_blocks // count, index * n_blocks // count)


def iter_predictions(records: Iterable, model, *, batch_tokens: int = 16384,
                     chunk_size: int = 1000, overlap: int = 100,
                     block_tokens: int = BLOCK_TOKENS, blocks: range | None = None,
                     embedder: Callable[[Sequence[str]], list] | None = None,
                     progress: ProgressCallback | None = None,
                     total: int | None = None) -> Iterator[StructurePrediction]:
    """Predict the records block by block, yielding each result as soon as it is ready.

    Memory does not grow with the number of records: records are read lazily and each block
    (:func:`prediction_blocks`, at most ``block_tokens`` residues plus one record) is
    predicted and handed on before the next one is read. Results are those of
    :func:`predict_structure`, bit for bit.

    Parameters
    ----------
    records, model, batch_tokens, chunk_size, overlap, embedder
        As in :func:`predict_structure`.
    block_tokens
        Residues of the largest block (:data:`BLOCK_TOKENS`).
    blocks
        Only predict the blocks with these indices (a shard, :func:`shard_blocks`); the
        records of the others are read and skipped.
    progress
        Optional progress callback, advanced by the residues of each forward pass (so also
        within one long sequence, whose ``chunk_size`` windows are batched separately).
    total
        Residues expected, passed to ``progress.start`` (``None``: unknown).

    Yields
    ------
    StructurePrediction
        In input order.
    """
    model.check_is_fitted()
    if model.config_.input_dim is not None and embedder is None:
        raise InputError("this structure model takes per-residue embeddings; pass an embedder "
                         "(e.g. --backbone esm2_t6_8M_UR50D)")
    progress = progress or NullProgress()
    progress.start(total, "predicting residues")
    if _runs_on_numpy(model.module_):
        no_grad = contextlib.nullcontext
    else:
        import torch

        model.module_.eval()
        no_grad = torch.inference_mode
    for k, block in enumerate(prediction_blocks(records, batch_tokens=batch_tokens,
                                                block_tokens=block_tokens)):
        if blocks is not None and k not in blocks:
            if k >= blocks.stop:
                break
            continue
        with no_grad():
            done = _predict_block(block, model, batch_tokens, (chunk_size, overlap),
                                  embedder, progress)
        done.reverse()
        while done:  # hand each result on and forget it: the caller decides what to keep
            yield done.pop()
    progress.finish()


def predict_structure(records: Iterable, model, *, batch_tokens: int = 16384,
                      chunk_size: int = 1000, overlap: int = 100,
                      embedder: Callable[[Sequence[str]], list] | None = None,
                      progress: ProgressCallback | None = None) -> list[StructurePrediction]:
    """Predict SS8, SS3, RSA (and disorder, for models with that head) for every sequence.

    Parameters
    ----------
    records
        ``(id, seq)`` pairs, objects with ``.id`` / ``.seq`` (Biopython records) or plain strings.
    model
        A fitted structure model or ensemble (:func:`bio_mtl.structure.load_model`,
        :class:`~bio_mtl.structure.estimator.StructureModel`), or the same model on ONNX
        Runtime without torch (:func:`~bio_mtl.structure.onnx_predictor.load_onnx_predictor`).
    batch_tokens
        Maximum padded residues per forward pass (memory ~ linear in it).
    chunk_size, overlap
        Window length and overlap for long sequences.
    embedder
        Required for models trained on per-residue features (``input_dim`` set): maps a list
        of sequences to a list of ``(L, F)`` arrays (e.g. :class:`~bio_mtl.structure.
        embeddings.ESMEmbedder`).
    progress
        Optional progress callback, advanced by residues.

    Returns
    -------
    list of StructurePrediction
        In input order. Missing heads give NaN (e.g. RSA of an SS-only model) or ``None``
        (disorder). :func:`iter_predictions` yields the same results one at a time.
    """
    items = [_record(i, rec) for i, rec in enumerate(records)]
    return list(iter_predictions(items, model, batch_tokens=batch_tokens,
                                 chunk_size=chunk_size, overlap=overlap, embedder=embedder,
                                 progress=progress, total=sum(len(s) for _, s in items)))


def _predict_block(items: list[tuple[str, str]], model, batch_tokens: int,
                    chunking: tuple[int, int], embedder,
                    progress: ProgressCallback) -> list[StructurePrediction]:
    """Predictions of one block's records: their pieces sorted by length, in batches."""
    network, config = model.module_, model.config_
    pieces = [(r, s, e, kf, kt) for r, (_, seq) in enumerate(items)
              for s, e, kf, kt in chunk_spans(len(seq), *chunking)]
    shapes = {"ss8": 8, "ss3": 3, "rsa": 0, "disorder": 0}
    stores = {task: [np.full((len(s), n) if n else len(s), np.nan, dtype=np.float32)
                     for _, s in items] for task, n in shapes.items()}
    has = set()
    for batch in _length_batches(pieces, batch_tokens):
        segs = [pieces[j] for j in batch]
        out = _forward(network, config, [items[r][1][s:e] for r, s, e, _, _ in segs], embedder)
        has.update(task for task, value in out.items() if value is not None)
        for i, (r, s, _, kf, kt) in enumerate(segs):
            for task, probs in out.items():
                if probs is not None:
                    stores[task][r][kf:kt] = np.asarray(probs[i, kf - s:kt - s])
        progress.advance(sum(kt - kf for _, _, _, kf, kt in segs))
    return [StructurePrediction(rid, seq, stores["ss8"][r], stores["ss3"][r], stores["rsa"][r],
                                stores["disorder"][r] if "disorder" in has else None)
            for r, (rid, seq) in enumerate(items)]


def _length_batches(pieces: list[tuple[int, int, int, int, int]],
                    batch_tokens: int) -> list[list[int]]:
    """Indices of ``pieces`` sorted by length and packed into batches of at most
    ``batch_tokens`` padded residues (a single longer piece makes its own batch)."""
    order = sorted(range(len(pieces)), key=lambda j: pieces[j][2] - pieces[j][1])
    batches, current, longest = [], [], 0
    for j in order:
        n = pieces[j][2] - pieces[j][1]
        if current and max(longest, n) * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(j)
        longest = max(longest, n)
    if current:
        batches.append(current)
    return batches


def _runs_on_numpy(network) -> bool:
    """Whether ``network`` is a torch-free predictor (:class:`~bio_mtl.structure.
    onnx_predictor.OnnxStructurePredictor`) that maps token arrays to probabilities."""
    return hasattr(network, "probabilities")


def _forward(network, config, seqs: list[str], embedder):
    """``{"ss8", "ss3", "rsa", "disorder"}``: SS8 and SS3 probabilities ``(N, W, 8 | 3)``, RSA
    and the probability of disorder ``(N, W)`` (``None`` where the network lacks the head), for
    one padded batch of sequence pieces (numpy arrays from a network that runs on numpy,
    :func:`_runs_on_numpy`, else torch tensors)."""
    width = max(len(s) for s in seqs)
    mask = np.arange(width) < np.array([len(s) for s in seqs])[:, None]
    if config.input_dim is None:
        tokens = np.full((len(seqs), width), PAD_INDEX, dtype=np.int64)
        for i, seq in enumerate(seqs):
            tokens[i, :len(seq)] = encode_sequence(seq)
        if _runs_on_numpy(network):
            return network.probabilities(tokens, mask)
    import torch

    if config.input_dim is None:
        inputs = torch.from_numpy(tokens)
    else:
        inputs = torch.zeros(len(seqs), width, config.input_dim)
        for i, f in enumerate(embedder(seqs)):
            inputs[i, :len(f)] = torch.as_tensor(np.asarray(f), dtype=torch.float32)
    mask = torch.from_numpy(mask)
    out = network(inputs, mask=mask)
    p8 = out["ss8"].float().softmax(-1) if "ss8" in out else None
    derive_ss3 = "ss3" not in config.tasks or config.ss3_source == "ss8"
    if derive_ss3 and p8 is not None:
        index = torch.from_numpy(SS8_TO_SS3_INDEX)
        p3 = torch.zeros(*p8.shape[:-1], 3).index_add_(-1, index, p8)
    elif "ss3" in out:
        p3 = out["ss3"].float().softmax(-1)
    else:
        p3 = None
    rsa = out["rsa"].float() if "rsa" in out else None
    disorder = out["disorder"].float().softmax(-1)[..., 1] if "disorder" in out else None
    return {"ss8": p8, "ss3": p3, "rsa": rsa, "disorder": disorder}
