"""Peak memory of ``biomtl predict-structure`` against input size, end to end through the CLI.

Usage::

    python benchmarks/structure_memory.py [--residues 1e6,5e6,2e7] [--model NAME|DIR|tiny]
                                          [--threads N] [--to-file] [--tmp /tmp]

For each size a FASTA file of random sequences (Swiss-Prot composition, log-normal lengths
with median 300 clipped to 30-5,000, and one titin-length 35,000-residue chain in the middle)
is generated under ``--tmp`` (kept there for the next run, never in the repository). Each run is
a fresh ``python -m bio_mtl.cli predict-structure`` child whose peak resident memory comes from
``os.wait4`` (``ru_maxrss``: that child alone). The per-residue TSV goes to a pipe that this
script reads and discards (``--to-file``: a regular file, streamed under a temporary name and
renamed). Printed per size: sequences, peak RSS, wall time, residues/s and the first-row
latency (seconds from the start until the first predicted row reaches the pipe). A first row
for one 76-residue sequence gives the constant part: Python, torch and the model loading.

``--model tiny`` saves a small random network (embedding 8, one convolution of 8 channels, no
LSTM) under ``--tmp`` and uses it: the streaming machinery (reading, blocks, writing) is then
what is measured, at a speed where 20 M residues take minutes rather than hours; a real model
adds its own constant (its weights and one batch's activations, see ``--model`` default).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from structure_speed import COMPOSITION

TITIN = 35_000


def write_fasta(path: Path, residues: int, seed: int = 0) -> int:
    """Write random sequences holding about ``residues`` residues; return how many records."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(COMPOSITION))
    p = np.array(list(COMPOSITION.values()))
    p /= p.sum()
    tmp = path.with_suffix(".part")
    count = done = 0
    titin_at = residues // 2
    with tmp.open("w") as handle:
        while done < residues:
            if done >= titin_at:
                n, titin_at = TITIN, residues * 2
            else:
                n = int(np.clip(rng.lognormal(np.log(300), 0.6), 30, 5000))
            seq = "".join(rng.choice(letters, n, p=p))
            handle.write(f">r{count} random\n")
            handle.writelines(seq[k:k + 60] + "\n" for k in range(0, n, 60))
            done += n
            count += 1
    tmp.rename(path)
    return count


def tiny_model(folder: Path) -> Path:
    """A small random structure model saved in ``folder`` (for the streaming machinery)."""
    if (folder / "config.json").exists():
        return folder
    import torch

    from bio_mtl.structure import StructureModel, StructureModelConfig, build_structure_model

    torch.manual_seed(0)
    config = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                                  dilations=(1,), lstm_layers=0, dropout=0.0)
    StructureModel.from_network(build_structure_model(config), config).save(folder)
    return folder


def run(fasta: Path, model: str, threads: int | None, to_file: Path | None) -> dict:
    """One CLI run; returns peak RSS (MB), wall and first-row seconds."""
    cmd = [sys.executable, "-m", "bio_mtl.cli", "-q", "predict-structure", str(fasta),
           "--model", model, "-o", str(to_file) if to_file else "-", "--format", "tsv"]
    if threads:
        cmd += ["--threads", str(threads)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    proc.stdout.readline()  # the header
    first = time.perf_counter() - start if proc.stdout.readline() else None
    while proc.stdout.read(1 << 20):
        pass
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"predict-structure failed on {fasta}")
    return {"rss_mb": usage.ru_maxrss / 1024, "wall_s": wall, "first_row_s": first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residues", default="1e6,5e6,2e7")
    parser.add_argument("--model", default="ss_rsa_cnnbilstm_ens2_nsp2_v1")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/biomtl_structure_memory"))
    parser.add_argument("--to-file", action="store_true",
                        help="write a regular TSV file under --tmp instead of a pipe")
    args = parser.parse_args()
    args.tmp.mkdir(parents=True, exist_ok=True)
    model = str(tiny_model(args.tmp / "tiny_model")) if args.model == "tiny" else args.model
    print(f"model {args.model}, threads {args.threads or 'default'}, output "
          f"{'file' if args.to_file else 'pipe'}")
    print("| residues | sequences | peak RSS (MB) | wall (s) | residues/s | first row (s) |")
    print("|---|---|---|---|---|---|")
    one = args.tmp / "one.fa"  # the constant part: start-up, the model, one short sequence
    one.write_text(">one\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG\n")
    r = run(one, model, args.threads, None)
    print(f"| 76 (start-up) | 1 | {r['rss_mb']:,.0f} | {r['wall_s']:,.1f} | - | "
          f"{r['first_row_s']:.1f} |", flush=True)
    for size in (int(float(s)) for s in args.residues.split(",")):
        fasta = args.tmp / f"random_{size}.fa"
        if not fasta.exists():
            write_fasta(fasta, size)
        n_seq = sum(1 for line in fasta.open() if line.startswith(">"))
        out = args.tmp / "out.tsv" if args.to_file else None
        r = run(fasta, model, args.threads, out)
        if out is not None:
            out.unlink()
        first = "-" if r["first_row_s"] is None else f"{r['first_row_s']:.1f}"
        print(f"| {size:,} | {n_seq:,} | {r['rss_mb']:,.0f} | {r['wall_s']:,.1f} | "
              f"{size / r['wall_s']:,.0f} | {first} |", flush=True)


if __name__ == "__main__":
    main()
