"""Do the ONNX Runtime and PyTorch backends write the same predictions? End to end, on CB513.

Usage::

    python benchmarks/structure_backend_agreement.py [--cb513 PATH] [--models A,B,...]
                                                     [--threads 2]

For each model, ``biomtl predict-structure`` runs twice on the distinct CB513 sequences (a FASTA
file written to a temporary folder): ``--backend auto`` (for the shipped models: their verified
ONNX graphs, without torch) and ``--backend torch`` (the reference). Printed per model: residues,
how many SS3 and SS8 labels differ, and the largest difference of any numeric column (RSA, ASA,
probabilities) as written, i.e. after rounding to 3 or 4 decimals (0.001 means the last digit).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_DEFAULT_CB513 = Path(__file__).resolve().parents[2] / "shared/data/protein/cb513.jsonl.gz"
_MODELS = "ss_rsa_cnnbilstm_ens2_nsp2_v1,ss_rsa_dis_dcnn96x10_kd_nsp2_v1,ss_rsa_dis_ens3_nsp2_v1"


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def compare(fasta: Path, model: str, threads: int, tmp: Path) -> dict:
    """Label differences and the largest numeric difference of the two backends' TSVs."""
    out = {}
    for backend in ("auto", "torch"):
        out[backend] = tmp / f"{backend}.tsv"
        subprocess.run([sys.executable, "-m", "bio_mtl.cli", "predict-structure", str(fasta),
                        "-o", str(out[backend]), "--model", model, "--backend", backend,
                        "--threads", str(threads), "--quiet"], check=True)
    a, b = _rows(out["auto"]), _rows(out["torch"])
    if [(r["id"], r["position"]) for r in a] != [(r["id"], r["position"]) for r in b]:
        raise SystemExit(f"{model}: the two outputs list different residues")
    numeric = [c for c in a[0] if c in ("rsa", "asa") or c.startswith("p_")]
    pairs = [(x[c], y[c]) for x, y in zip(a, b, strict=True) for c in numeric]
    return {"residues": len(a),
            "ss3_differ": sum(x["ss3"] != y["ss3"] for x, y in zip(a, b, strict=True)),
            "ss8_differ": sum(x["ss8"] != y["ss8"] for x, y in zip(a, b, strict=True)),
            # an empty cell (no value, e.g. the ASA of an X) must be empty in both
            "empty_differ": sum((u == "") != (v == "") for u, v in pairs),
            "max_abs_diff": max(abs(float(u) - float(v)) for u, v in pairs if u and v)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cb513", default=str(_DEFAULT_CB513))
    parser.add_argument("--models", default=_MODELS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    with gzip.open(args.cb513, "rt") as handle:
        seqs = sorted({json.loads(line)["seq"] for line in handle})
    lines = [f"CB513: {len(seqs)} distinct sequences; `--backend auto` against `--backend torch`,"
             f" {args.threads} threads.", "",
             "| model | residues | SS3 labels differing | SS8 labels differing | "
             "empty cells differing | largest difference as written |",
             "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "cb513.fasta"
        fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
        for model in args.models.split(","):
            r = compare(fasta, model, args.threads, Path(tmp))
            lines.append(f"| {model} | {r['residues']:,} | {r['ss3_differ']} | "
                         f"{r['ss8_differ']} | {r['empty_differ']} | {r['max_abs_diff']:.4f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
