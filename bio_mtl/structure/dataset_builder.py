"""Labelled structure records (DSSP 8-state + RSA) from PDB / mmCIF files.

For each protein chain of the first model, the builder

1. reads the chain's SEQRES (PDB ``SEQRES`` records through ``Bio.SeqIO``'s ``pdb-seqres``
   parser, or mmCIF ``_entity_poly.pdbx_seq_one_letter_code_can``); without one the observed
   residues are the sequence;
2. runs DSSP (Kabsch & Sander 1983, Biopolymers 22:2577) with ``mkdssp`` and parses its output
   with :func:`Bio.PDB.DSSP.make_dssp_dict`. ``context="isolated"`` runs it on a file holding
   only that chain; ``"complex"`` on all protein chains of the entry (ligands, waters and
   nucleic acids are left out in both);
3. aligns the observed residues onto SEQRES with :class:`Bio.Align.PairwiseAligner` (end gaps
   free, gaps in the observed sequence cheap): SEQRES residues without coordinates get mask 0,
   ``ss8`` ``C`` and ``rsa`` null;
4. writes RSA = DSSP ACC / maximum ASA of Tien et al. (2013) PLoS ONE 8:e80635
   (:data:`~bio_mtl.structure.alphabet.MAX_ASA_TIEN2013`), clipped to [0, 1] and rounded to 3
   decimals as NetSurfP-2.0 does (Klausen et al. 2019, Proteins 87:520).

DSSP states are written in the NetSurfP alphabet ``GHIBESTC``: blank becomes ``C`` and the
polyproline-II state ``P`` of DSSP >= 4 becomes ``C`` (older DSSP, used for the NetSurfP data,
had no ``P``). Modified residues (e.g. MSE) keep their SS label (mask 1) but ``rsa`` is null.

Without ``mkdssp``, ``backend="pydssp"`` uses pydssp (Minami 2023, a re-implementation of the
DSSP hydrogen-bond model), which assigns only H / E / -: those are written as ``H`` / ``E`` /
``C`` in ``ss8`` (so G, I, B, S, T never occur), and RSA comes from Biopython's Shrake-Rupley
surface (Shrake & Rupley 1973, J Mol Biol 79:351) divided by the same Tien 2013 maxima.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .._io import atomic_write
from ..errors import ConfigError, InputError
from ._dssp import _pydssp_labels, _run_mkdssp, _shrake_rupley, _write_protein_pdb, find_mkdssp
from ._structure_files import _observed, _parse, _read_text, _Residue, _seqres, _sniff_format
from .alphabet import MAX_ASA_TIEN2013, SS8

__all__ = ["BACKENDS", "CONTEXTS", "build_records", "find_mkdssp", "structure_records",
           "write_records"]

log = logging.getLogger(__name__)

CONTEXTS = ("isolated", "complex")
BACKENDS = ("auto", "mkdssp", "pydssp")
_DSSP_TO_SS8 = {s: s for s in SS8} | {"-": "C", " ": "C", "P": "C"}


# --------------------------------------------------------------------------------------------
# alignment and records
# --------------------------------------------------------------------------------------------


def _align(seqres: str, observed: str) -> dict[int, int]:
    """Observed index -> SEQRES index (global alignment, free end gaps)."""
    from Bio.Align import PairwiseAligner

    if seqres == observed:
        return {i: i for i in range(len(observed))}
    aligner = PairwiseAligner(mode="global", match_score=2.0, mismatch_score=-1.0)
    # a gap in the observed sequence (unobserved SEQRES residues) is common and cheap; extra
    # observed residues that are not in SEQRES are rare and expensive; end gaps are free
    scores = {("end_insertion_score", "target_end_gap_score"): 0.0,
              ("end_deletion_score", "query_end_gap_score"): 0.0,
              ("open_internal_deletion_score", "query_internal_open_gap_score"): -3.0,
              ("extend_internal_deletion_score", "query_internal_extend_gap_score"): -0.1,
              ("open_internal_insertion_score", "target_internal_open_gap_score"): -8.0,
              ("extend_internal_insertion_score", "target_internal_extend_gap_score"): -1.0}
    for (new, old), value in scores.items():  # Biopython >= 1.86 renamed these attributes
        setattr(aligner, new if hasattr(aligner, new) else old, value)
    alignment = aligner.align(seqres, observed)[0]
    mapping: dict[int, int] = {}
    for (t0, t1), (q0, _q1) in zip(*alignment.aligned, strict=True):
        for k in range(t1 - t0):
            mapping[q0 + k] = t0 + k
    return mapping


def _chain_record(rid: str, seqres: str | None, residues: list[_Residue],
                  labels: dict[tuple, tuple[str, float | None]], path: Path) -> dict:
    observed = "".join(r.letter for r in residues)
    seq = seqres or observed
    mapping = _align(seq, observed) if seqres else {i: i for i in range(len(observed))}
    ss8, rsa, mask = ["C"] * len(seq), [None] * len(seq), ["0"] * len(seq)
    mismatches = 0
    for i, res in enumerate(residues):
        j = mapping.get(i)
        if j is None:
            continue
        if seq[j] != res.letter and not (res.letter == "X" or seq[j] == "X"):
            mismatches += 1
            continue
        label = labels.get(res.key)
        if label is None:
            continue
        state, acc = label
        ss8[j] = _DSSP_TO_SS8.get(state, "C")
        mask[j] = "1"
        max_asa = MAX_ASA_TIEN2013.get(seq[j])
        if acc is not None and max_asa and not res.modified:
            rsa[j] = round(min(max(acc / max_asa, 0.0), 1.0), 3)
    unaligned = len(residues) - len(mapping)
    if mismatches + unaligned > max(3, 0.1 * len(residues)):
        raise InputError(f"chain {rid.rsplit('_', 1)[-1]}: {mismatches} observed residues "
                         f"differ from SEQRES and {unaligned} do not align; the SEQRES does not "
                         "describe these coordinates", path=path)
    return {"id": rid, "seq": seq, "ss8": "".join(ss8), "rsa": rsa, "mask": "".join(mask)}


def structure_records(path: str | os.PathLike, *, context: str = "isolated",
                      dssp: str | os.PathLike | None = None,
                      chains: Iterable[str] | None = None, backend: str = "auto") -> list[dict]:
    """Labelled records for the protein chains of one PDB or mmCIF file.

    Parameters
    ----------
    path
        ``.pdb`` / ``.ent`` / ``.cif`` file, plain or gzipped (other names are sniffed).
    context
        ``"isolated"``: DSSP on the chain alone; ``"complex"``: on all protein chains together
        (changes RSA at interfaces, and SS where a sheet spans chains).
    dssp
        The ``mkdssp`` executable (default: found on PATH).
    chains
        Only these chain ids (default: every protein chain).
    backend
        ``"mkdssp"``, ``"pydssp"`` (3-state SS + Shrake-Rupley RSA) or ``"auto"`` (mkdssp if
        found, else pydssp).

    Returns
    -------
    list of dict
        ``{"id": "<file stem>_<chain>", "seq", "ss8", "rsa", "mask"}`` per chain, the shared
        JSON-lines format read by :func:`bio_mtl.structure.io.read_labelled`.
    """
    if context not in CONTEXTS:
        raise ConfigError(f"context={context!r}: choose one of {', '.join(CONTEXTS)}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r}: choose one of {', '.join(BACKENDS)}")
    exe = find_mkdssp(dssp) if backend != "pydssp" else None
    if backend == "mkdssp" and exe is None:
        raise ConfigError("mkdssp not found; install it (Debian/Ubuntu: apt-get install dssp) "
                          "or pass --dssp PATH")
    path = Path(path)
    text = _read_text(path)
    fmt = _sniff_format(path, text[:5000])
    stem = path.name.split(".")[0]
    with tempfile.TemporaryDirectory(prefix="biomtl_dssp_") as tmp:
        workdir = Path(tmp)
        structure, plain = _parse(path, text, fmt, workdir)
        model = next(iter(structure))
        protein = {c.id: _observed(c) for c in model}
        protein = {cid: res for cid, res in protein.items() if res}
        if not protein:
            raise InputError("no protein chains (no amino-acid residues with a CA atom)",
                             path=path)
        wanted = list(protein)
        if chains is not None:
            chains = [c.strip() for c in chains if c.strip()]
            missing = [c for c in chains if c not in protein]
            if missing:
                raise InputError(f"no protein chain {', '.join(missing)}; protein chains: "
                                 f"{', '.join(protein)}", path=path)
            wanted = chains
        seqres = _seqres(plain, fmt)
        labels = _labels(model, list(protein), wanted, protein, context, exe, workdir, path)
        return [_chain_record(f"{stem}_{cid}", seqres.get(cid), protein[cid], labels[cid], path)
                for cid in wanted]


def _labels(model, all_chains, wanted, protein, context, exe, workdir, path) -> dict:
    """Chain id -> {DSSP residue key: (SS state, ACC in Å²)}."""
    out: dict[str, dict] = {}
    if exe is not None:
        groups = [[cid] for cid in wanted] if context == "isolated" else [all_chains]
        for k, group in enumerate(groups):
            pdb_file = workdir / f"dssp_{k}.pdb"
            mapping = _write_protein_pdb(model, group, pdb_file)
            table = _run_mkdssp(exe, pdb_file, path)
            for (letter, key), value in table.items():
                old = mapping.get(letter)
                if old is not None:
                    out.setdefault(old, {})[key] = value
        return {cid: out.get(cid, {}) for cid in wanted}
    log.warning("using pydssp (3-state SS written as H/E/C) and "
                "Shrake-Rupley RSA for %s", path)
    sasa_all = _shrake_rupley(model, all_chains) if context == "complex" else {}
    for cid in wanted:
        ss = _pydssp_labels(protein[cid])
        sasa = sasa_all if context == "complex" else _shrake_rupley(model, [cid])
        out[cid] = {key: (state, sasa.get((cid, key))) for key, state in ss.items()}
    return out


def build_records(paths: Iterable[str | os.PathLike], *, context: str = "isolated",
                  dssp: str | os.PathLike | None = None, chains: Iterable[str] | None = None,
                  backend: str = "auto", progress=None) -> list[dict]:
    """Labelled records for every protein chain of several structure files.

    Parameters
    ----------
    paths
        PDB / mmCIF files.
    context, dssp, chains, backend
        As in :func:`structure_records`.
    progress
        Optional :class:`~bio_mtl._progress.ProgressCallback` (one step per file).

    Returns
    -------
    list of dict
        Records in the order of the files and chains; ids must be unique.
    """
    paths = list(paths)
    chains = None if chains is None else list(chains)
    records: list[dict] = []
    seen: dict[str, str] = {}
    if progress is not None:
        progress.start(total=len(paths), description="structures")
    try:
        for path in paths:
            for rec in structure_records(path, context=context, dssp=dssp, chains=chains,
                                         backend=backend):
                if rec["id"] in seen:
                    raise InputError(f"record id {rec['id']!r} again (first from "
                                     f"{seen[rec['id']]}); two input files share a file stem",
                                     path=path)
                seen[rec["id"]] = str(path)
                records.append(rec)
            if progress is not None:
                progress.advance(1)
    finally:
        if progress is not None:
            progress.finish()
    return records


def write_records(records: Iterable[dict], path: str | os.PathLike) -> None:
    """Write records as JSON lines, gzip-compressed if ``path`` ends in ``.gz`` (atomic).

    Parameters
    ----------
    records
        Record dicts (``id, seq, ss8, rsa, mask``).
    path
        Output file.
    """
    lines = "".join(json.dumps({k: rec[k] for k in ("id", "seq", "ss8", "rsa", "mask")},
                               separators=(",", ":")) + "\n" for rec in records)
    if str(path).endswith(".gz"):
        with atomic_write(path, "wb") as handle:
            handle.write(gzip.compress(lines.encode("utf-8"), mtime=0))
    else:
        with atomic_write(path, "w") as handle:
            handle.write(lines)
