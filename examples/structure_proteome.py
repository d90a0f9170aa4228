"""Predict a FASTA file from Python, in constant memory, without loading torch.

The library path under ``biomtl predict-structure``: the shipped default model on ONNX Runtime
(:func:`bio_mtl.structure.onnx_predictor.load_onnx_predictor`; ``None`` would mean "load it
with :func:`bio_mtl.structure.load_model`"), records read lazily
(:func:`bio_mtl.structure.parse_sequences`), predictions yielded block by block
(:func:`bio_mtl.structure.iter_predictions`) and written as they come
(:func:`bio_mtl.structure.write_predictions`, atomically). Prints one summary line per
sequence: length, helix / strand / coil fractions and mean RSA.

Usage:  python examples/structure_proteome.py [FASTA] [OUT.tsv] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bio_mtl.structure import iter_predictions, load_model, parse_sequences, write_predictions
from bio_mtl.structure.onnx_predictor import load_onnx_predictor
from bio_mtl.structure.pretrained import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]


def main(fasta: Path, out: Path, threads: int = 2) -> list[dict]:
    """Predict ``fasta`` into ``out`` (per-residue TSV); return the per-sequence summaries."""
    model = load_onnx_predictor(DEFAULT_MODEL, threads=threads) or load_model(DEFAULT_MODEL)
    summaries = []

    def kept(predictions):  # keep the small summaries, stream the per-residue rows to disk
        for p in predictions:
            summaries.append(p.summary())
            yield p

    write_predictions(kept(iter_predictions(parse_sequences(fasta), model)), out)
    for s in summaries:
        print(f"{s['id'][:40]:40s} {s['length']:5d} aa  helix {s['helix']:.2f}  "
              f"strand {s['strand']:.2f}  coil {s['coil']:.2f}  mean RSA {s['mean_rsa']:.2f}")
    return summaries


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fasta", nargs="?", type=Path, default=ROOT / "data/examples/proteins.fasta")
    ap.add_argument("out", nargs="?", type=Path, default=Path("structure_predictions.tsv"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    main(args.fasta, args.out, args.threads)
    print(f"wrote {args.out}", file=sys.stderr)
