"""Q3 and end-to-end speed on CB513: bio_mtl's structure models beside single-sequence peers.

Every predictor runs **through its command line** on the same FASTA file (the 432 distinct CB513
sequences, 106,423 residues), as a user would run it: process start-up, imports, model loading,
reading the FASTA and writing the output are all timed. Each runs at 1 and at 2 threads
(``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, and ``--threads`` where the CLI has it), ``--repeats``
times, round-robin so the shared machine's load hits them alike; the table gives the median
residues/s of the wall clock and per CPU second of the child processes (user + system), and the
ratio of each to PredictDSSP's CLI at the same thread count.

Predictors (all single-sequence, no alignments, installable offline):

- ``bio_mtl:default`` / ``bio_mtl:fast`` / ``bio_mtl:accurate``: ``biomtl predict-structure``
  with the shipped models :data:`bio_mtl.structure.pretrained.DEFAULT_MODEL`, ``FAST_MODEL`` and
  ``ACCURATE_MODEL`` (``--backend`` passed when the CLI has it);
- ``predictdssp``: PredictDSSP 1.3.1 (PyPI ``predictdssp``; a PARROT bidirectional recurrent
  network, Holehouse lab), its ``dssp-fasta`` command; it reloads its network for every sequence;
- ``predictdssp-api``: the same network through its Python API, loaded once, in a child process
  that reads the FASTA and writes a CSV (the faster way to run it);
- ``reprof``: Rost lab reprof 1.0 (PHD/PROFsec family; Rost & Sander 1993, J Mol Biol
  232:584), Debian ``reprof``, one process per sequence, no PSSM; single-threaded, so it is timed
  once and shown at both thread counts;
- ``garnier``: EMBOSS GOR I (Garnier, Osguthorpe & Robson 1978, J Mol Biol 120:97), Debian
  ``emboss``, one call for all sequences; T (turn) is scored as C; single-threaded, timed once.

Q3 is computed on the CB513 evaluation masks (mask ``1``) of all 511 records with the labels
reduced by the NetSurfP-2.0 map (G, H, I -> H; B, E -> E; S, T, C -> C). Non-standard letters
are passed as the FASTA reader maps them (U->C, O->K, B/Z/J->X); garnier and PredictDSSP reject
X, so they get A in its place (96 of the 144,011 CB513 residues are X).

Usage::

    nice -n 10 python benchmarks/structure_peers.py -o peers.md
    python benchmarks/structure_peers.py --peers bio_mtl:fast,predictdssp --threads 1 --limit 50
    python benchmarks/structure_peers.py --peers bio_mtl:default --default-model runs/my_model
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bio_mtl.structure.alphabet import SS8_TO_SS3
from bio_mtl.structure.io import RESIDUE_MAP, read_labelled

_DEFAULT_CB513 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "protein" \
    / "cb513.jsonl.gz"

#: PredictDSSP through its Python API, network loaded once (argv: FASTA, output CSV).
_PREDICTDSSP_API = """
import sys
from pathlib import Path
import numpy as np
import PredictDSSP
from PredictDSSP import py_predictor_v2
net = Path(PredictDSSP.__file__).parent / "networks" / "dssp_2022_01_07_CB_thresh_0p8_hs20_nl2.pt"
predictor = py_predictor_v2.Predictor(str(net), dtype="residues")
names, seqs = [], []
for line in open(sys.argv[1]):
    if line.startswith(">"):
        names.append(line[1:].strip()); seqs.append("")
    else:
        seqs[-1] += line.strip()
with open(sys.argv[2], "w") as out:
    for name, seq in zip(names, seqs):
        states = np.asarray(predictor.predict(seq)).argmax(axis=1)
        out.write(name + ", " + ", ".join(str(int(k)) for k in states) + "\\n")
"""


#: ``biomtl`` with the network put on ``--backend`` (argv[1]) by
#: :func:`bio_mtl.structure.backends.to_backend` right after loading, for a CLI that does not
#: have the option yet; the rest of argv is the command line.
_CLI_WITH_BACKEND = """
import sys
import bio_mtl.structure.pretrained as pretrained
from bio_mtl.structure.backends import to_backend
backend, threads, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
_load = pretrained.load_model
def load_model(name=None):
    model = _load(name)
    model.module_ = to_backend(model, backend, threads=threads,
                               source=name or pretrained.DEFAULT_MODEL)
    return model
pretrained.load_model = load_model
from bio_mtl.cli.main import main
sys.exit(main(argv))
"""


def _clean(seq: str) -> str:
    return "".join(RESIDUE_MAP.get(c, c) for c in seq)


def _fasta(path: Path, seqs: list[str]) -> Path:
    path.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


# --------------------------------------------------------------------------------------------
# predictors: each runs its CLI on the sequences in ``tmp`` and returns H/E/C strings
# --------------------------------------------------------------------------------------------


def _parse_garnier(text: str) -> list[str]:
    """Parse EMBOSS garnier ``tagseq`` output (several sequences) into H/E/C strings.

    Each block is a ruler, the sequence line and then the ``helix``, ``sheet``, ``turns`` and
    `` coil`` tag lines, whose letters sit under the residues they label.
    """
    out: list[str] = []
    states: list[str] = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("# Sequence:"):
            if k and states:
                out.append("".join(states))
            states = []
        elif k + 1 < len(lines) and lines[k + 1].startswith("helix "):
            seq = line[6:].rstrip()
            block = ["C"] * len(seq)
            for tag_line in lines[k + 1:k + 5]:
                tag, body = tag_line[:6].strip(), tag_line[6:]
                letter = {"helix": "H", "sheet": "E"}.get(tag)
                for i, c in enumerate(body[:len(seq)]):
                    if letter and c == letter:
                        block[i] = letter
            states.extend(block)
    if states:
        out.append("".join(states))
    return out


def run_garnier(seqs: list[str], threads: int, tmp: Path) -> list[str]:
    exe = shutil.which("garnier")
    if exe is None:
        raise RuntimeError("garnier not found (apt-get install emboss)")
    seqs = [s.replace("X", "A") for s in seqs]  # garnier stops at the first X
    fasta, out = _fasta(tmp / "in.fasta", seqs), tmp / "out.garnier"
    subprocess.run([exe, "-sequence", str(fasta), "-outfile", str(out), "-auto"],
                   check=True, capture_output=True)
    preds = _parse_garnier(out.read_text())
    if len(preds) != len(seqs) or any(len(p) != len(s) for p, s in zip(preds, seqs, strict=False)):
        raise RuntimeError("garnier output could not be matched to the input sequences")
    return preds


def run_reprof(seqs: list[str], threads: int, tmp: Path) -> list[str]:
    exe = shutil.which("reprof")
    if exe is None:
        raise RuntimeError("reprof not found (apt-get install reprof)")
    preds = []
    for i, seq in enumerate(seqs):
        fasta, out = _fasta(tmp / f"s{i}.fasta", [seq]), tmp / f"s{i}.reprof"
        subprocess.run([exe, "-i", str(fasta), "-o", str(out)], check=True, capture_output=True)
        states = [line.split("\t")[2] for line in out.read_text().splitlines()
                  if line and not line.startswith(("#", "No\t"))]
        preds.append("".join({"H": "H", "E": "E"}.get(s, "C") for s in states))
        if len(preds[-1]) != len(seq):
            raise RuntimeError(f"reprof returned {len(preds[-1])} states for {len(seq)}")
    return preds


def _read_class_csv(path: Path, n: int) -> list[str]:
    """PredictDSSP's CSV: ``name, k, k, ...`` with k = 0 (H), 1 (E), 2 (C)."""
    rows = {r[0]: r[1:] for r in csv.reader(path.open(), skipinitialspace=True)}
    return ["".join("HEC"[int(float(k))] for k in rows[f"s{i}"]) for i in range(n)]


def run_predictdssp(seqs: list[str], threads: int, tmp: Path) -> list[str]:
    exe = shutil.which("dssp-fasta")
    if exe is None:
        raise RuntimeError("dssp-fasta not found (pip install predictdssp)")
    fasta, out = _fasta(tmp / "in.fasta", [s.replace("X", "A") for s in seqs]), tmp / "out.csv"
    subprocess.run([exe, str(fasta), "-o", str(out)], check=True, capture_output=True,
                   env=_env(threads))
    return _read_class_csv(out, len(seqs))


def run_predictdssp_api(seqs: list[str], threads: int, tmp: Path) -> list[str]:
    fasta, out = _fasta(tmp / "in.fasta", [s.replace("X", "A") for s in seqs]), tmp / "out.csv"
    subprocess.run([sys.executable, "-c", _PREDICTDSSP_API, str(fasta), str(out)], check=True,
                   capture_output=True, env=_env(threads))
    return _read_class_csv(out, len(seqs))


def _env(threads: int) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def _cli_options() -> str:
    exe = shutil.which("biomtl")
    if exe is None:
        raise RuntimeError("biomtl not found (pip install -e .)")
    return subprocess.run([exe, "predict-structure", "--help"], check=True,
                          capture_output=True, text=True).stdout


def bio_mtl_runner(model: str, backend: str | None):
    """A runner for ``biomtl predict-structure --model MODEL`` (TSV output)."""
    def run(seqs: list[str], threads: int, tmp: Path) -> list[str]:
        options = _cli_options()
        fasta, out = _fasta(tmp / "in.fasta", seqs), tmp / "out.tsv"
        cmd = [shutil.which("biomtl"), "predict-structure", str(fasta), "-o", str(out),
               "--model", model, "--quiet"]
        cmd = [c for c in cmd if c != "--quiet" or "--quiet" in options]
        if "--threads" in options:
            cmd += ["--threads", str(threads)]
        if backend and "--backend" in options:
            cmd += ["--backend", backend]
        elif backend:  # the CLI's code, with the network put on the backend after loading
            cmd = [sys.executable, "-c", _CLI_WITH_BACKEND, backend, str(threads), *cmd[1:]]
        subprocess.run(cmd, check=True, capture_output=True, env=_env(threads))
        states: dict[str, list[str]] = {}
        with out.open() as handle:
            header = handle.readline().rstrip("\n").split("\t")
            col_id, col_ss3 = header.index("id"), header.index("ss3")
            for line in handle:
                cells = line.rstrip("\n").split("\t")
                states.setdefault(cells[col_id], []).append(cells[col_ss3])
        return ["".join(states[f"s{i}"]) for i in range(len(seqs))]
    return run


# --------------------------------------------------------------------------------------------


def q3(records: list[dict], preds: dict[str, str]) -> tuple[float, int]:
    right = total = 0
    for rec in records:
        pred = preds[rec["seq"]]
        for m, s8, p in zip(rec["mask"], rec["ss8"], pred, strict=True):
            if m == "1":
                total += 1
                right += SS8_TO_SS3[s8] == p
    return right / total, total


def predictors(args) -> dict:
    """key -> (label, runner, uses threads)."""
    from bio_mtl.structure.pretrained import ACCURATE_MODEL, DEFAULT_MODEL, FAST_MODEL

    models = {"default": args.default_model or DEFAULT_MODEL,
              "fast": args.fast_model or FAST_MODEL,
              "accurate": args.accurate_model or ACCURATE_MODEL}
    out = {f"bio_mtl:{k}": (f"bio_mtl {k} `{Path(m).name}`", bio_mtl_runner(m, args.backend),
                            True) for k, m in models.items()}
    out.update({
        "predictdssp": ("PredictDSSP 1.3.1 `dssp-fasta`", run_predictdssp, True),
        "predictdssp-api": ("PredictDSSP 1.3.1, Python API (loaded once)", run_predictdssp_api,
                            True),
        "reprof": ("reprof 1.0.1 (single sequence)", run_reprof, False),
        "garnier": ("EMBOSS garnier (GOR I)", run_garnier, False),
    })
    return out


def _timed(run, seqs: list[str], threads: int) -> tuple[list[str], float, float]:
    """Outputs, wall seconds and child CPU seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = run(seqs, threads, Path(tmp))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


NOTES = {"garnier": "T scored as C; X given as A; single-threaded, timed once",
         "predictdssp": "X given as A; reloads its network per sequence",
         "predictdssp-api": "X given as A", "reprof": "no PSSM; L scored as C; one process per "
                                                     "sequence; single-threaded, timed once"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cb513", default=str(_DEFAULT_CB513),
                        help="CB513 JSON lines (default: ../shared/data/protein/cb513.jsonl.gz)")
    parser.add_argument("--peers", default="bio_mtl:default,bio_mtl:fast,bio_mtl:accurate,"
                        "predictdssp,predictdssp-api,reprof,garnier",
                        help="comma-separated predictors (see the module docstring)")
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N records only")
    parser.add_argument("--default-model", default=None)
    parser.add_argument("--fast-model", default=None)
    parser.add_argument("--accurate-model", default=None)
    parser.add_argument("--backend", default=None,
                        help="bio_mtl backend (auto, torch, onnx): passed as --backend, or, while "
                             "the CLI lacks that option, applied after loading the model")
    parser.add_argument("-o", "--output", default=None, help="write the Markdown table here")
    args = parser.parse_args(argv)
    if not os.path.exists(args.cb513):
        parser.error(f"CB513 file not found: {args.cb513} (pass --cb513 PATH)")
    records = read_labelled(args.cb513)[:args.limit]
    distinct = sorted({r["seq"] for r in records})
    seqs = [_clean(s) for s in distinct]
    n_res = sum(len(s) for s in distinct)
    table = predictors(args)
    keys = [k.strip() for k in args.peers.split(",") if k.strip()]
    unknown = [k for k in keys if k not in table]
    if unknown:
        parser.error(f"unknown predictor(s) {unknown}; choose from {', '.join(table)}")
    thread_counts = [int(t) for t in args.threads.split(",")]
    times: dict[tuple[str, int], list[tuple[float, float]]] = {}
    q3s: dict[str, tuple[float, int] | str] = {}
    for rep in range(args.repeats):
        for threads in thread_counts:
            for key in keys:
                label, run, threaded = table[key]
                if isinstance(q3s.get(key), str):
                    continue  # failed before
                if not threaded and (rep or threads != thread_counts[0]):
                    continue
                try:
                    out, wall, cpu = _timed(run, seqs, threads)
                except Exception as exc:  # a missing tool leaves a note in the table
                    q3s[key] = f"{type(exc).__name__}: {str(exc)[:120]}"
                    print(f"{key}: not run ({q3s[key]})", file=sys.stderr, flush=True)
                    continue
                times.setdefault((key, threads), []).append((wall, cpu))
                q3s.setdefault(key, q3(records, dict(zip(distinct, out, strict=True))))
                print(f"{key} threads={threads} rep={rep}: {wall:.1f} s wall, {cpu:.1f} s CPU",
                      file=sys.stderr, flush=True)
    lines = [f"CB513: {len(records)} records, {len(distinct)} distinct sequences, {n_res:,} "
             "residues predicted through each predictor's command line (start-up, loading, "
             "reading and writing included); Q3 on the evaluation masks (NetSurfP 8->3 map).",
             f"Median of {args.repeats} round-robin repeats; residues/s of the wall clock and "
             "per CPU second (user + system of the child processes); ratios against "
             "PredictDSSP's `dssp-fasta` at the same thread count (API: against its Python API).",
             "", "| predictor | threads | Q3 % | residues/s | residues per CPU s | x dssp-fasta "
             "(wall) | x PredictDSSP API (wall) | x PredictDSSP API (CPU) | note |",
             "|" + " --- |" * 9]
    for threads in thread_counts:
        medians = {k: (n_res / statistics.median(w for w, _ in v),
                       n_res / statistics.median(c for _, c in v))
                   for (k, t), v in times.items() if t == threads or not table[k][2]}
        for key in keys:
            label = table[key][0]
            if isinstance(q3s.get(key), str) or key not in medians:
                lines.append(f"| {label} | {threads} | not run | - | - | - | - | - | "
                             f"{q3s.get(key, '')} |")
                continue
            wall, cpu = medians[key]

            def ratio(ref, i, value, m=medians):
                return f"{value / m[ref][i]:.2f}" if ref in m else "-"

            lines.append(f"| {label} | {threads} | {100 * q3s[key][0]:.1f} | {wall:,.0f} | "
                         f"{cpu:,.0f} | {ratio('predictdssp', 0, wall)} | "
                         f"{ratio('predictdssp-api', 0, wall)} | "
                         f"{ratio('predictdssp-api', 1, cpu)} | {NOTES.get(key, '')} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
