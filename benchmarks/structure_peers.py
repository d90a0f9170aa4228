"""Q3 and speed on CB513: the project's default structure model beside single-sequence peers.

Peers (all single-sequence, no alignments, installable offline):

- ``garnier``: EMBOSS GOR I (Garnier, Osguthorpe & Robson 1978, J Mol Biol 120:97), Debian
  ``emboss``. Predicts H / E / T / C; T (turn) is scored as C.
- ``reprof``: Rost lab reprof 1.0 (successor of PHD/PROFsec; Rost & Sander 1993, J Mol Biol
  232:584), Debian ``reprof``; run on a single FASTA (no PSSM), states H / E / L (L -> C).
- ``predictdssp``: PredictDSSP 1.3 (PyPI ``predictdssp``, a bidirectional recurrent network by
  the Holehouse lab); states helix / strand / coil.
- ``bio_mtl``: the project's default model (``bio_mtl.structure.pretrained.load_model()``),
  skipped with a note while no default model is shipped.

Q3 is computed on the CB513 evaluation masks (mask ``1``) of all 511 records, with the labels
reduced by the NetSurfP-2.0 map (G, H, I -> H; B, E -> E; S, T, C -> C). Every predictor runs
once per distinct sequence (432 of the 511 records are distinct); residues/s is the number of
residues of those distinct sequences divided by the wall-clock time of the predictor alone.
Non-standard letters are passed as the FASTA reader maps them (U->C, O->K, B/Z/J->X); garnier and
PredictDSSP reject X, so they get A in its place (96 of the 144,011 CB513 residues are X).

Usage::

    nice -n 10 python benchmarks/structure_peers.py -o peers.md
    python benchmarks/structure_peers.py --cb513 PATH --peers garnier,predictdssp --limit 50
    python benchmarks/structure_peers.py --peers bio_mtl --model runs/my_model
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bio_mtl.structure.alphabet import SS8_TO_SS3
from bio_mtl.structure.io import RESIDUE_MAP, read_labelled

_DEFAULT_CB513 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "protein" \
    / "cb513.jsonl.gz"


def _clean(seq: str) -> str:
    return "".join(RESIDUE_MAP.get(c, c) for c in seq)


# --------------------------------------------------------------------------------------------
# predictors: each maps a list of distinct sequences to a list of H/E/C strings
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


def run_garnier(seqs: list[str]) -> list[str]:
    exe = shutil.which("garnier")
    if exe is None:
        raise RuntimeError("garnier not found (apt-get install emboss)")
    seqs = [s.replace("X", "A") for s in seqs]  # garnier stops at the first X
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "in.fasta"
        fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
        out = Path(tmp) / "out.garnier"
        subprocess.run([exe, "-sequence", str(fasta), "-outfile", str(out), "-auto"],
                       check=True, capture_output=True)
        preds = _parse_garnier(out.read_text())
    if len(preds) != len(seqs) or any(len(p) != len(s) for p, s in zip(preds, seqs, strict=False)):
        raise RuntimeError("garnier output could not be matched to the input sequences")
    return preds


def run_reprof(seqs: list[str]) -> list[str]:
    exe = shutil.which("reprof")
    if exe is None:
        raise RuntimeError("reprof not found (apt-get install reprof)")
    preds = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, seq in enumerate(seqs):
            fasta, out = Path(tmp) / f"s{i}.fasta", Path(tmp) / f"s{i}.reprof"
            fasta.write_text(f">s{i}\n{seq}\n")
            subprocess.run([exe, "-i", str(fasta), "-o", str(out)], check=True,
                           capture_output=True)
            states = [line.split("\t")[2] for line in out.read_text().splitlines()
                      if line and not line.startswith(("#", "No\t"))]
            preds.append("".join({"H": "H", "E": "E"}.get(s, "C") for s in states))
            if len(preds[-1]) != len(seq):
                raise RuntimeError(f"reprof returned {len(preds[-1])} states for {len(seq)}")
    return preds


def run_predictdssp(seqs: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    import PredictDSSP
    from PredictDSSP import py_predictor_v2

    weights = (Path(PredictDSSP.__file__).parent / "networks"
               / "dssp_2022_01_07_CB_thresh_0p8_hs20_nl2.pt")
    predictor = py_predictor_v2.Predictor(str(weights), dtype="residues")
    loading = time.perf_counter() - start
    preds = []
    for seq in seqs:
        probs = np.asarray(predictor.predict(seq.replace("X", "A")))  # it rejects X
        preds.append("".join("HEC"[k] for k in probs.argmax(axis=1)))
    return preds, loading


def run_bio_mtl(seqs: list[str], model_name: str | None = None,
                backbone: str | None = None) -> tuple[list[str], float]:
    """Predict with a bio_mtl model; returns the SS3 strings and the model-loading seconds."""
    from bio_mtl.structure.embeddings import embedder_for
    from bio_mtl.structure.pretrained import load_model

    start = time.perf_counter()
    model = load_model(model_name)
    embedder = embedder_for(model, backbone)
    loading = time.perf_counter() - start
    preds = model.predict([(f"s{i}", s) for i, s in enumerate(seqs)], embedder=embedder)
    return [p.ss3 for p in preds], loading


PREDICTORS = {
    "bio_mtl": ("bio_mtl", run_bio_mtl),
    "reprof": ("reprof 1.0.1 (single sequence)", run_reprof),
    "garnier": ("EMBOSS garnier (GOR I)", run_garnier),
    "predictdssp": ("PredictDSSP 1.3.1", run_predictdssp),
}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cb513", default=str(_DEFAULT_CB513),
                        help="CB513 JSON lines (default: ../shared/data/protein/cb513.jsonl.gz)")
    parser.add_argument("--peers", default=",".join(PREDICTORS),
                        help=f"comma-separated subset of {', '.join(PREDICTORS)}")
    parser.add_argument("--limit", type=int, default=None, help="first N records only")
    parser.add_argument("--model", default=None,
                        help="bio_mtl checkpoint directory or shipped name (default: the default "
                             "model)")
    parser.add_argument("--backbone", default=None,
                        help="ESM-2 name or path, for models trained on ESM features")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the in-process predictors (bio_mtl, PredictDSSP)")
    parser.add_argument("-o", "--output", default=None, help="write the Markdown table here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if not os.path.exists(args.cb513):
        parser.error(f"CB513 file not found: {args.cb513} (pass --cb513 PATH)")
    records = read_labelled(args.cb513)[:args.limit]
    distinct = sorted({r["seq"] for r in records})
    cleaned = [_clean(s) for s in distinct]
    n_res = sum(len(s) for s in distinct)
    lines = [f"CB513: {len(records)} records, {len(distinct)} distinct sequences, {n_res} "
             "residues predicted; Q3 on the evaluation masks (NetSurfP 8->3 map).", "",
             f"residues/s: wall clock of the predictor on all distinct sequences, "
             f"{args.threads} torch thread(s), one-off model loading excluded and shown apart.",
             "",
             "| predictor | Q3 % | residues scored | residues/s | load s | note |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key in [k.strip() for k in args.peers.split(",") if k.strip()]:
        label, run = PREDICTORS[key]
        start = time.perf_counter()
        try:
            if key == "bio_mtl":
                from bio_mtl.structure.pretrained import DEFAULT_MODEL

                out, loading = run(cleaned, args.model, args.backbone)
                label = f"bio_mtl `{Path(args.model).name if args.model else DEFAULT_MODEL}`"
            elif key == "predictdssp":
                out, loading = run(cleaned)
            else:
                out, loading = run(cleaned), 0.0
        except Exception as exc:  # a missing tool or model leaves a note in the table
            lines.append(f"| {label} | not run | - | - | - | {type(exc).__name__}: "
                         f"{str(exc)[:120]} |")
            print(lines[-1], file=sys.stderr)
            continue
        seconds = time.perf_counter() - start - loading
        score, scored = q3(records, dict(zip(distinct, out, strict=True)))
        note = {"garnier": "T scored as C; X given as A", "predictdssp": "X given as A",
                "reprof": "no PSSM; L scored as C"}.get(key, "")
        lines.append(f"| {label} | {100 * score:.1f} | {scored} | {n_res / seconds:,.0f} | "
                     f"{loading:.1f} | {note} |")
        print(lines[-1], file=sys.stderr, flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        Path(args.output).write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
