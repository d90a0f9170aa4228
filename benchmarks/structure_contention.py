"""Two ``biomtl predict-structure`` runs at once against one alone, end to end through the CLI.

Usage::

    python benchmarks/structure_contention.py [--model NAME|DIR] [--residues 50000]
                                              [--threads N] [--repeats 2] [--spinning]

Each run is a fresh ``python -m bio_mtl.cli predict-structure`` child on the same generated
FASTA file (random sequences with Swiss-Prot composition and lengths 50-500, written under
``--tmp``, never in the repository), writing a per-residue TSV under ``--tmp``. For each repeat
the script times one run alone, then two started together, and prints the wall times and the
ratio ``slower of the pair / alone``; the issue's requirement is a ratio of at most 2 on a
2-core machine (each run gets half the CPUs, so 2 is what perfect sharing gives).

``--spinning`` also measures the behaviour before ``--threads`` existed: torch is imported
before the command line is parsed, so OpenMP keeps its default of spinning at every barrier
instead of the ``OMP_WAIT_POLICY=PASSIVE`` the command now asks for (see ``cli/threads.py``).
The machine's load average is printed with each line: on a shared machine other jobs take
their share too, so read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from structure_speed import random_sequences

#: Run the CLI with torch already loaded (OpenMP's own wait policy: the old behaviour).
_SPINNING = ("import sys, torch; from bio_mtl.cli.main import main; "
             "sys.argv[0] = 'biomtl'; main()")


def _command(fasta: Path, out: Path, args, spinning: bool) -> list[str]:
    cli = ["-c", _SPINNING] if spinning else ["-m", "bio_mtl.cli"]
    cmd = [sys.executable, *cli, "-q", "predict-structure", str(fasta), "--model", args.model,
           "-o", str(out)]
    return cmd + (["--threads", str(args.threads)] if args.threads else [])


def _together(commands: list[list[str]]) -> list[float]:
    """Start the commands at once; return each one's wall time in seconds."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=env) for c in commands]
    times = [0.0] * len(procs)
    pending = set(range(len(procs)))
    while pending:
        for i in list(pending):
            if procs[i].poll() is not None:
                if procs[i].returncode != 0:
                    raise SystemExit(f"run failed: {' '.join(commands[i])}")
                times[i] = time.perf_counter() - start
                pending.discard(i)
        time.sleep(0.05)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ss_rsa_cnnbilstm_ens2_nsp2_v1")
    parser.add_argument("--residues", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=None,
                        help="--threads for every run (default: the command's own default)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--spinning", action="store_true",
                        help="also measure OpenMP's default (spinning) wait policy")
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/biomtl_structure_contention"))
    args = parser.parse_args()
    args.tmp.mkdir(parents=True, exist_ok=True)
    fasta = args.tmp / f"random_{args.residues}.fa"
    if not fasta.exists():
        records, total = [], 0
        for rid, seq in random_sequences(args.residues // 100 + 1, seed=0):
            if total >= args.residues:
                break
            records.append(f">{rid}\n{seq}\n")
            total += len(seq)
        fasta.write_text("".join(records))
    print(f"model {args.model}, {fasta.stat().st_size // 1024} KB FASTA, threads "
          f"{args.threads or 'default'}, {os.cpu_count()} CPUs")
    print("| wait policy | repeat | alone (s) | pair (s) | ratio | load average |")
    print("|---|---|---|---|---|---|")
    for spinning in ([False, True] if args.spinning else [False]):
        policy = "OpenMP default (spinning)" if spinning else "passive (the CLI's)"
        for rep in range(1, args.repeats + 1):
            alone = _together([_command(fasta, args.tmp / "a.tsv", args, spinning)])[0]
            pair = _together([_command(fasta, args.tmp / f"{k}.tsv", args, spinning)
                              for k in "bc"])
            load = os.getloadavg()[0]
            print(f"| {policy} | {rep} | {alone:.1f} | {pair[0]:.1f}, {pair[1]:.1f} | "
                  f"{max(pair) / alone:.2f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
