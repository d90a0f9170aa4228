"""Batch prediction with a structure model (no file I/O).

Sequences are sorted by length and packed into batches of at most ``batch_tokens`` padded
residues, then returned in input order. Sequences longer than ``chunk_size`` are predicted in
overlapping windows whose outputs are stitched at the centre of each overlap, so memory stays
bounded for any length (e.g. titin, ~35,000 residues) and every residue keeps at least
``overlap / 2`` residues of context on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .._progress import NullProgress, ProgressCallback
from ..errors import InputError
from .alphabet import PAD_INDEX, SS8_TO_SS3_INDEX, encode_sequence
from .results import StructurePrediction

__all__ = ["chunk_spans", "predict_structure"]


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


def _records(records) -> list[tuple[str, str]]:
    out = []
    for i, rec in enumerate(records):
        if isinstance(rec, (tuple, list)):
            rid, seq = rec[0], rec[1]
        elif hasattr(rec, "seq"):
            rid, seq = getattr(rec, "id", f"seq{i + 1}"), rec.seq
        else:
            rid, seq = f"seq{i + 1}", rec
        seq = str(seq).upper()
        if not seq:
            raise InputError("empty sequence", record=rid)
        out.append((str(rid), seq))
    return out


def predict_structure(records: Iterable, model, *, batch_tokens: int = 16384,
                      chunk_size: int = 1000, overlap: int = 100,
                      embedder: Callable[[Sequence[str]], list] | None = None,
                      progress: ProgressCallback | None = None) -> list[StructurePrediction]:
    """Predict SS8, SS3 and RSA for every sequence.

    Parameters
    ----------
    records
        ``(id, seq)`` pairs, objects with ``.id`` / ``.seq`` (Biopython records) or plain strings.
    model
        A fitted structure model or ensemble (:func:`bio_mtl.structure.load_model`,
        :class:`~bio_mtl.structure.estimator.StructureModel`).
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
        In input order. Missing heads give NaN (e.g. RSA of an SS-only model).
    """
    import torch

    model.check_is_fitted()
    items = _records(records)
    network, config = model.module_, model.config_
    if config.input_dim is not None and embedder is None:
        raise InputError("this structure model takes per-residue embeddings; pass an embedder "
                         "(e.g. --backbone esm2_t6_8M_UR50D)")
    progress = progress or NullProgress()
    pieces = [(r, s, e, kf, kt) for r, (_, seq) in enumerate(items)
              for s, e, kf, kt in chunk_spans(len(seq), chunk_size, overlap)]
    ss8 = [np.full((len(s), 8), np.nan, dtype=np.float32) for _, s in items]
    ss3 = [np.full((len(s), 3), np.nan, dtype=np.float32) for _, s in items]
    rsa = [np.full(len(s), np.nan, dtype=np.float32) for _, s in items]
    progress.start(sum(len(s) for _, s in items), "predicting")
    network.eval()
    with torch.inference_mode():
        for batch in _length_batches(pieces, batch_tokens):
            segs = [pieces[j] for j in batch]
            p8, p3, r_out = _forward(network, config,
                                     [items[r][1][s:e] for r, s, e, _, _ in segs], embedder)
            for i, (r, s, _, kf, kt) in enumerate(segs):
                a, b = kf - s, kt - s
                for store, probs in ((ss8, p8), (ss3, p3), (rsa, r_out)):
                    if probs is not None:
                        store[r][kf:kt] = probs[i, a:b].numpy()
                progress.advance(kt - kf)
    progress.finish()
    return [StructurePrediction(rid, seq, ss8[r], ss3[r], rsa[r])
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


def _forward(network, config, seqs: list[str], embedder):
    """SS8 probabilities, SS3 probabilities and RSA, ``(N, W, ·)`` each (``None`` where the
    network lacks the head), for one padded batch of sequence pieces."""
    import torch

    width = max(len(s) for s in seqs)
    mask = torch.zeros(len(seqs), width, dtype=torch.bool)
    for i, seq in enumerate(seqs):
        mask[i, :len(seq)] = True
    if config.input_dim is None:
        inputs = torch.full((len(seqs), width), PAD_INDEX, dtype=torch.long)
        for i, seq in enumerate(seqs):
            inputs[i, :len(seq)] = torch.from_numpy(encode_sequence(seq))
    else:
        inputs = torch.zeros(len(seqs), width, config.input_dim)
        for i, f in enumerate(embedder(seqs)):
            inputs[i, :len(f)] = torch.as_tensor(np.asarray(f), dtype=torch.float32)
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
    r_out = out["rsa"].float() if "rsa" in out else None
    return p8, p3, r_out
