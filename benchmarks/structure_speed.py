"""Prediction speed and peak memory of a structure model on the CPU.

Usage::

    python benchmarks/structure_speed.py [--model DIR|NAME] [--fasta FILE] [--n 1000]
                                         [--threads 2] [--titin-length 35000]

Two cases, each in a fresh child process so its peak resident memory (``ru_maxrss``) is its own:

* ``bulk``: ``--n`` sequences, sampled from ``--fasta`` if given, otherwise random sequences with
  UniProtKB/Swiss-Prot amino-acid composition and lengths uniform in 50-500;
* ``titin``: one sequence of ``--titin-length`` residues (predicted in overlapping chunks).

Prints residues/second, wall time, peak memory and the ratio to the 20,000 residues/s target.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

TARGET = 20_000
#: Approximate UniProtKB/Swiss-Prot amino-acid composition (%), rounded from its statistics page.
COMPOSITION = {"A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75,
               "G": 7.07, "H": 2.27, "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86,
               "P": 4.70, "S": 6.56, "T": 5.34, "W": 1.08, "Y": 2.92, "V": 6.87}


def random_sequences(n: int, seed: int, lo: int = 50, hi: int = 500) -> list[tuple[str, str]]:
    """``n`` random sequences with Swiss-Prot composition and lengths uniform in [lo, hi]."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(COMPOSITION))
    p = np.array(list(COMPOSITION.values()))
    p = p / p.sum()
    return [(f"r{i}", "".join(rng.choice(letters, int(rng.integers(lo, hi + 1)), p=p)))
            for i in range(n)]


def fasta_sequences(path: str, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` records sampled (with replacement if needed) from a FASTA file."""
    from Bio import SeqIO

    recs = [(r.id, str(r.seq)) for r in SeqIO.parse(path, "fasta")]
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(recs), n, replace=len(recs) < n)
    return [recs[i] for i in idx]


def _child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from bio_mtl.structure.pretrained import load_model

    model = load_model(args.model)
    if args.case == "bulk":
        seqs = fasta_sequences(args.fasta, args.n, args.seed) if args.fasta else \
            random_sequences(args.n, args.seed)
    else:
        seqs = random_sequences(1, args.seed, args.titin_length, args.titin_length)
    model.predict(seqs[:5])  # warm-up
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    preds = model.predict(seqs, batch_tokens=args.batch_tokens)
    wall = time.perf_counter() - t0
    n_res = sum(len(p.seq) for p in preds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"case": args.case, "sequences": len(seqs), "residues": n_res,
                      "wall_s": round(wall, 3), "residues_per_s": round(n_res / wall),
                      "peak_rss_mb": round(peak / 1024, 1),
                      "rss_before_predict_mb": round(base / 1024, 1),
                      "threads": args.threads, "batch_tokens": args.batch_tokens}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--fasta", default=None)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--titin-length", type=int, default=35000)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--case", choices=["bulk", "titin"], default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        _child(args)
        return
    for case in ("bulk", "titin"):
        cmd = [sys.executable, __file__, "--case", case, "--n", str(args.n), "--threads",
               str(args.threads), "--seed", str(args.seed), "--titin-length",
               str(args.titin_length), "--batch-tokens", str(args.batch_tokens)]
        if args.model:
            cmd += ["--model", args.model]
        if args.fasta:
            cmd += ["--fasta", args.fasta]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                        text=True).stdout.strip().splitlines()[-1])
        out["ratio_to_target"] = round(out["residues_per_s"] / TARGET, 2)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
