"""Secondary-structure and accessibility metrics (pure functions, mask-aware).

Strings or index arrays of equal length are compared position by position; a ``mask`` (True or
``'1'`` = evaluate) removes positions. Q3/Q8 are per-residue accuracies pooled over all residues
(Rost & Sander 1993, J Mol Biol 232:584); SOV is the segment overlap score in its 1999 form
(Zemla, Venclovas, Fidelis & Rost 1999, Proteins 34:220). The generic computations (accuracy,
Pearson r, MAE) are those of :mod:`bio_mtl.mtl.metrics`; this module adds the structure
conventions (masks, state strings, finite-only RSA) and the domain metrics and report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..mtl import metrics as _generic
from .alphabet import SS3, SS8

__all__ = [
    "accuracy",
    "classification_report",
    "confusion",
    "metrics_markdown",
    "per_protein_accuracy",
    "q3",
    "q8",
    "rsa_mae",
    "rsa_pearson",
    "score_predictions",
    "sov",
]


def _as_mask(mask, n: int) -> np.ndarray:
    if mask is None:
        return np.ones(n, dtype=bool)
    if isinstance(mask, str):
        return np.frombuffer(mask.encode("ascii"), dtype=np.uint8) == ord("1")
    return np.asarray(mask, dtype=bool)


def _as_chars(x) -> np.ndarray:
    if isinstance(x, str):
        return np.array(list(x))
    return np.asarray(x)


def accuracy(true, pred, mask=None) -> float:
    """Fraction of (unmasked) positions where ``pred == true``; NaN if none is left.

    Examples
    --------
    >>> accuracy("HHEC", "HHCC")
    0.75
    >>> accuracy("HHEC", "HHCC", mask="1101")
    1.0
    """
    t, p = _as_chars(true), _as_chars(pred)
    if t.shape != p.shape:
        raise ValueError(f"length mismatch: {len(t)} true vs {len(p)} predicted")
    m = _as_mask(mask, len(t))
    return _generic.accuracy(t[m], p[m])


q3 = accuracy
q8 = accuracy


def confusion(true, pred, labels: str, *, mask=None) -> np.ndarray:
    """``(K, K)`` confusion counts, rows = true class, columns = predicted, in ``labels`` order."""
    t, p = _as_chars(true), _as_chars(pred)
    m = _as_mask(mask, len(t))
    index = {c: i for i, c in enumerate(labels)}
    out = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for a, b in zip(t[m], p[m], strict=False):
        out[index[a], index[b]] += 1
    return out


def classification_report(true, pred, labels: str, *, mask=None) -> dict[str, dict[str, float]]:
    """Per-class precision, recall, F1 and support (NaN where undefined).

    Examples
    --------
    >>> r = classification_report("HHEC", "HECC", "HEC")
    >>> r["H"]["precision"], r["H"]["recall"], r["C"]["f1"]
    (1.0, 0.5, 0.6666666666666666)
    """
    cm = confusion(true, pred, labels, mask=mask)
    out = {}
    for i, c in enumerate(labels):
        tp = cm[i, i]
        n_pred, n_true = cm[:, i].sum(), cm[i, :].sum()
        prec = tp / n_pred if n_pred else float("nan")
        rec = tp / n_true if n_true else float("nan")
        f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else float("nan")
        out[c] = {"precision": float(prec), "recall": float(rec), "f1": float(f1),
                  "support": int(n_true)}
    return out


def per_protein_accuracy(trues: Sequence, preds: Sequence, masks: Sequence | None = None
                         ) -> np.ndarray:
    """Accuracy of each protein (NaN for proteins with no unmasked residue)."""
    masks = masks if masks is not None else [None] * len(trues)
    return np.array([accuracy(t, p, m) for t, p, m in zip(trues, preds, masks, strict=False)])


def _segments(s: np.ndarray, state: str) -> list[tuple[int, int]]:
    """Maximal runs ``[start, end]`` (inclusive) of ``state`` in ``s``."""
    out, start = [], None
    for i, c in enumerate(s):
        if c == state and start is None:
            start = i
        elif c != state and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(s) - 1))
    return out


def sov(true, pred, mask=None, *, states: str | None = None) -> float:
    """Segment overlap score SOV'99 (Zemla et al. 1999, Proteins 34:220), in [0, 1].

    Parameters
    ----------
    true, pred
        Observed and predicted state strings of one chain.
    mask
        Positions to evaluate; masked positions are removed before segments are formed (as the
        standard SOV program does for unassigned residues).
    states
        States to score (default: all states occurring in ``true``).

    Notes
    -----
    For each observed segment s1 of state i and each overlapping predicted segment s2 of the
    same state, the score adds ``(minov + delta) / maxov * len(s1)`` with
    ``delta = min(maxov - minov, minov, len(s1) // 2, len(s2) // 2)``; observed segments with no
    overlapping prediction add 0 and count ``len(s1)`` in the normaliser, overlapping ones count
    ``len(s1)`` once per overlapping pair. The total is divided by the summed normaliser.

    Examples
    --------
    Zemla et al. 1999, Table I, example 1 (observed ``CHHHHHHHHHHC`` ...) gives the published
    values; see the tests. A perfect prediction scores 1:

    >>> sov("CCHHHHCC", "CCHHHHCC")
    1.0
    """
    t, p = _as_chars(true), _as_chars(pred)
    if t.shape != p.shape:
        raise ValueError(f"length mismatch: {len(t)} true vs {len(p)} predicted")
    m = _as_mask(mask, len(t))
    t, p = t[m], p[m]
    if len(t) == 0:
        return float("nan")
    states = states if states is not None else "".join(sorted(set(t.tolist())))
    score, norm = 0.0, 0
    for state in states:
        pred_segs = _segments(p, state)
        for a1, b1 in _segments(t, state):
            len1 = b1 - a1 + 1
            overlapping = [(a2, b2) for a2, b2 in pred_segs if a2 <= b1 and b2 >= a1]
            if not overlapping:
                norm += len1
                continue
            for a2, b2 in overlapping:
                len2 = b2 - a2 + 1
                minov = min(b1, b2) - max(a1, a2) + 1
                maxov = max(b1, b2) - min(a1, a2) + 1
                delta = min(maxov - minov, minov, len1 // 2, len2 // 2)
                score += (minov + delta) / maxov * len1
                norm += len1
    return score / norm if norm else float("nan")


def rsa_pearson(true, pred, mask=None) -> float:
    """Pearson correlation of observed and predicted RSA over positions that are finite and
    unmasked (NaN if fewer than two or no variance).

    Examples
    --------
    >>> rsa_pearson([0.1, 0.2, float("nan"), 0.4], [0.2, 0.4, 0.5, 0.8])
    1.0
    """
    t, p = np.asarray(true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    m = _as_mask(mask, len(t)) & np.isfinite(t) & np.isfinite(p)
    return round(_generic.pearson(t[m], p[m]), 12)


def rsa_mae(true, pred, mask=None) -> float:
    """Mean absolute error of RSA over finite, unmasked positions.

    Examples
    --------
    >>> rsa_mae([0.1, 0.2, float("nan")], [0.2, 0.0, 0.9])
    0.15
    """
    t, p = np.asarray(true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    m = _as_mask(mask, len(t)) & np.isfinite(t) & np.isfinite(p)
    return round(_generic.mae(t[m], p[m]), 12)


#: Label alphabets, re-exported for callers building reports.
LABELS = {"ss3": SS3, "ss8": SS8}


def score_predictions(predictions, chains) -> dict:
    """All structure metrics of ``predictions`` against labelled ``chains`` (same order).

    Parameters
    ----------
    predictions
        :class:`~bio_mtl.structure.results.StructurePrediction` objects.
    chains
        :class:`~bio_mtl.structure.data.Chain` objects (``ss8`` indices with ``-100`` = no label,
        ``rsa`` with NaN = no label).

    Returns
    -------
    dict
        Pooled ``q3``, ``q8``; per-class precision/recall/F1 (``ss3_classes``, ``ss8_classes``);
        mean per-chain ``sov3`` (SOV'99 on 3 states); pooled ``rsa_pearson`` and ``rsa_mae``;
        the per-protein Q3 distribution; residue and chain counts.
    """
    t8, p8, t3, p3, sovs, per_q3, rt, rp = [], [], [], [], [], [], [], []
    for pred, chain in zip(predictions, chains, strict=False):
        if len(pred.seq) != len(chain.ss8):
            raise ValueError(f"{chain.id}: prediction length {len(pred.seq)} != {len(chain.ss8)}")
        m = chain.ss8 >= 0
        if m.any() and np.isfinite(pred.ss8_probs).all():
            true8 = "".join(SS8[i] if i >= 0 else "C" for i in chain.ss8)
            true3 = "".join("HHHEECCC"[i] if i >= 0 else "C" for i in chain.ss8)
            t8.append(np.array(list(true8))[m])
            p8.append(np.array(list(pred.ss8))[m])
            t3.append(np.array(list(true3))[m])
            p3.append(np.array(list(pred.ss3))[m])
            sovs.append(sov(true3, pred.ss3, m))
            per_q3.append(accuracy(true3, pred.ss3, m))
        r = np.isfinite(chain.rsa) & np.isfinite(pred.rsa)
        if r.any():
            rt.append(chain.rsa[r])
            rp.append(pred.rsa[r])
    out: dict = {"n_chains": len(chains)}
    if t8:
        tt8, pp8, tt3, pp3 = (np.concatenate(x) for x in (t8, p8, t3, p3))
        q = np.array(per_q3)
        out.update({
            "n_residues_ss": len(tt8), "q3": accuracy(tt3, pp3), "q8": accuracy(tt8, pp8),
            "sov3": float(np.nanmean(sovs)),
            "ss3_classes": classification_report(tt3, pp3, SS3),
            "ss8_classes": classification_report(tt8, pp8, SS8),
            "per_protein_q3": {"n": len(q), "mean": float(np.nanmean(q)),
                               "median": float(np.nanmedian(q)),
                               "p10": float(np.nanpercentile(q, 10)),
                               "p90": float(np.nanpercentile(q, 90))},
        })
    if rt:
        rr_t, rr_p = np.concatenate(rt), np.concatenate(rp)
        out.update({"n_residues_rsa": len(rr_t), "rsa_pearson": rsa_pearson(rr_t, rr_p),
                    "rsa_mae": rsa_mae(rr_t, rr_p)})
    return out


def metrics_markdown(results: dict[str, dict]) -> str:
    """A Markdown summary table (one row per data set) plus per-class F1 tables."""
    def f(x, pct=True):
        if x is None or (isinstance(x, float) and not np.isfinite(x)):
            return "-"
        return f"{100 * x:.1f}" if pct else f"{x:.3f}"

    lines = ["| data | chains | Q3 % | Q8 % | SOV3 % | per-protein Q3 median % | RSA r "
             "| RSA MAE |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        ppq = m.get("per_protein_q3", {}).get("median")
        lines.append(f"| {name} | {m['n_chains']} | {f(m.get('q3'))} | {f(m.get('q8'))} | "
                     f"{f(m.get('sov3'))} | {f(ppq)} | {f(m.get('rsa_pearson'), False)} | "
                     f"{f(m.get('rsa_mae'), False)} |")
    for name, m in results.items():
        for key, labels in (("ss3_classes", SS3), ("ss8_classes", SS8)):
            if key not in m:
                continue
            lines += ["", f"**{name}: {key.split('_')[0].upper()} per class**", "",
                      "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
            for c in labels:
                r = m[key][c]
                lines.append(f"| {c} | {f(r['precision'])} | {f(r['recall'])} | "
                             f"{f(r['f1'])} | {r['support']} |")
    return "\n".join(lines) + "\n"
