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
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._io import atomic_write
from ..errors import ConfigError, InputError
from .alphabet import MAX_ASA_TIEN2013, SS8

__all__ = ["BACKENDS", "CONTEXTS", "build_records", "find_mkdssp", "structure_records",
           "write_records"]

log = logging.getLogger(__name__)

CONTEXTS = ("isolated", "complex")
BACKENDS = ("auto", "mkdssp", "pydssp")
_CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_DSSP_TO_SS8 = {s: s for s in SS8} | {"-": "C", " ": "C", "P": "C"}
_PDB_EXT = (".pdb", ".ent")
_CIF_EXT = (".cif", ".mmcif")


@dataclass
class _Residue:
    letter: str
    key: tuple  # (' ', resseq, icode) as DSSP reports it
    modified: bool
    residue: object


# --------------------------------------------------------------------------------------------
# reading structures
# --------------------------------------------------------------------------------------------


def _sniff_format(path: Path, head: str) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(_CIF_EXT):
        return "mmcif"
    if name.endswith(_PDB_EXT):
        return "pdb"
    first = head.lstrip().split("\n", 1)[0] if head.strip() else ""
    if first.startswith("data_"):
        return "mmcif"
    records = ("HEADER", "ATOM  ", "HETATM", "CRYST1", "REMARK", "MODEL ", "SEQRES", "TITLE ",
               "COMPND", "EXPDTA")
    if any(line.startswith(records) for line in head.splitlines()[:50]):
        return "pdb"
    shown = first[:40] + ("..." if len(first) > 40 else "")
    raise InputError(f"not a PDB or mmCIF file (first line {shown!r}); pass .pdb/.ent or "
                     ".cif files, plain or gzipped", path=path)


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a PDB or mmCIF file", path=path) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"corrupt gzip file ({exc})", path=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not a PDB or mmCIF file (binary content)", path=path) from None
    if not text.strip():
        raise InputError("empty file", path=path)
    return text


def _parse(path: Path, text: str, fmt: str, workdir: Path):
    import warnings

    from Bio.PDB import MMCIFParser, PDBParser
    from Bio.PDB.PDBExceptions import PDBConstructionException, PDBConstructionWarning

    plain = workdir / ("input.cif" if fmt == "mmcif" else "input.pdb")
    plain.write_text(text, encoding="utf-8")
    parser = MMCIFParser(QUIET=True) if fmt == "mmcif" else PDBParser(QUIET=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PDBConstructionWarning)
            structure = parser.get_structure(path.stem, str(plain))
    except (PDBConstructionException, ValueError, KeyError, IndexError) as exc:
        raise InputError(f"cannot parse as {fmt} ({type(exc).__name__}: {exc})",
                         path=path) from None
    if len(structure) == 0:
        raise InputError("no atoms (no model in the file)", path=path)
    return structure, plain


def _seqres(plain: Path, fmt: str) -> dict[str, str]:
    """Chain id -> SEQRES one-letter sequence (empty dict if the file has none)."""
    out: dict[str, str] = {}
    if fmt == "pdb":
        from Bio import SeqIO

        with open(plain, encoding="utf-8") as handle:
            for rec in SeqIO.parse(handle, "pdb-seqres"):
                out[rec.annotations["chain"]] = str(rec.seq).upper()
        return out
    from Bio.PDB.MMCIF2Dict import MMCIF2Dict

    cif = MMCIF2Dict(str(plain))

    def column(key):
        value = cif.get(key, [])
        return [value] if isinstance(value, str) else list(value)

    seqs = column("_entity_poly.pdbx_seq_one_letter_code_can")
    strands = column("_entity_poly.pdbx_strand_id")
    types = column("_entity_poly.type") or ["polypeptide(L)"] * len(seqs)
    for seq, chains, kind in zip(seqs, strands, types, strict=False):
        if not kind.lower().startswith("polypeptide") or seq in ("?", "."):
            continue
        seq = "".join(seq.split()).upper().replace("?", "X")
        for chain in chains.split(","):
            out[chain.strip()] = seq
    return out


def _observed(chain) -> list[_Residue]:
    from Bio.Data.PDBData import protein_letters_3to1_extended
    from Bio.PDB.Polypeptide import is_aa

    out = []
    for res in chain:
        hetflag, resseq, icode = res.id
        if hetflag == "W" or "CA" not in res or not is_aa(res, standard=False):
            continue
        name = res.get_resname().upper()
        letter = protein_letters_3to1_extended.get(name, "X")
        modified = hetflag != " " or name not in _STANDARD3
        out.append(_Residue(letter, (" ", resseq, icode), modified, res))
    return out


_STANDARD3 = frozenset(["ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
                        "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL"])


# --------------------------------------------------------------------------------------------
# DSSP backends
# --------------------------------------------------------------------------------------------


def find_mkdssp(dssp: str | os.PathLike | None = None) -> str | None:
    """Path of the DSSP executable: ``dssp`` if given, else ``mkdssp`` or ``dssp`` on PATH.

    Parameters
    ----------
    dssp
        Explicit executable; it must exist.

    Returns
    -------
    str or None
        None if none is found (and none was given).
    """
    if dssp is not None:
        found = shutil.which(str(dssp))
        if found is None:
            raise ConfigError(f"DSSP executable {str(dssp)!r} not found or not executable; "
                              "install it (Debian/Ubuntu: apt-get install dssp) or fix --dssp")
        return found
    return shutil.which("mkdssp") or shutil.which("dssp")


def _as_parent_residues(chain) -> None:
    """Write modified amino acids (HETATM MSE, MLY, ...) as ATOM records of the parent residue.

    mkdssp reading PDB format does not know modified residues: a HETATM MSE would break the
    chain and lose its own and its neighbours' labels. DSSP needs only the backbone for the
    secondary structure; the RSA of these residues is not reported anyway.
    """
    from Bio.Data.IUPACData import protein_letters_1to3
    from Bio.Data.PDBData import protein_letters_3to1_extended
    from Bio.PDB.Polypeptide import is_aa

    for res in list(chain):
        hetflag, resseq, icode = res.id
        if not hetflag.startswith("H_") or not is_aa(res, standard=False):
            continue
        parent = protein_letters_1to3.get(protein_letters_3to1_extended.get(res.get_resname()))
        if parent is None or (" ", resseq, icode) in chain:
            continue
        res.id = (" ", resseq, icode)
        res.resname = parent.upper()


def _write_protein_pdb(model, chain_ids: Sequence[str], out: Path) -> dict[str, str]:
    """Write the given protein chains as a PDB file mkdssp accepts; returns new -> old chain id.

    Chains are copied and renamed to single letters (the PDB format's limit), waters and
    non-amino-acid residues are dropped, and a HEADER line is added (mkdssp >= 4 needs one to
    recognise the PDB format).
    """
    from Bio.PDB import PDBIO, Model, Select, Structure
    from Bio.PDB.Polypeptide import is_aa

    if len(chain_ids) > len(_CHAIN_LETTERS):
        raise InputError(f"{len(chain_ids)} protein chains: more than the "
                         f"{len(_CHAIN_LETTERS)} a PDB file for DSSP can hold; use "
                         "--context isolated")
    mapping = dict(zip(_CHAIN_LETTERS, chain_ids, strict=False))
    copy = Model.Model(0)
    for letter, cid in mapping.items():
        chain = model[cid].copy()
        chain.id = letter
        _as_parent_residues(chain)
        copy.add(chain)
    Structure.Structure("dssp").add(copy)

    class _Protein(Select):
        def accept_residue(self, residue):
            return residue.id[0] != "W" and is_aa(residue, standard=False)

    io = PDBIO()
    io.set_structure(copy)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write("HEADER    PROTEIN" + " " * 63 + "\n")
        io.save(handle, _Protein())
    return mapping


def _run_mkdssp(exe: str, pdb_file: Path, source: Path) -> dict:
    from Bio.PDB.DSSP import make_dssp_dict

    out = pdb_file.with_suffix(".dssp")
    cmd = [exe, "--output-format=dssp", str(pdb_file), str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise InputError("DSSP ran for more than 10 minutes and was stopped", path=source) \
            from None
    except OSError as exc:
        raise ConfigError(f"cannot run DSSP {exe!r}: {exc}") from None
    if proc.returncode != 0 or not out.exists():
        message = " ".join(proc.stderr.split())[:300] or f"exit status {proc.returncode}"
        raise InputError(f"DSSP failed: {message}", path=source)
    table, _ = make_dssp_dict(str(out))
    return {key: (value[1], value[2]) for key, value in table.items()}  # ss, acc


def _pydssp_labels(residues: list[_Residue]) -> dict[tuple, str]:
    import numpy as np

    try:
        import pydssp
    except ImportError:
        raise ConfigError("no DSSP available: install mkdssp (apt-get install dssp) or pydssp "
                          "(pip install pydssp)") from None
    usable = [r for r in residues if all(a in r.residue for a in ("N", "CA", "C", "O"))]
    if len(usable) < 3:
        return {}
    coord = np.array([[r.residue[a].coord for a in ("N", "CA", "C", "O")] for r in usable],
                     dtype=np.float64)
    states = pydssp.assign(coord, out_type="c3")
    return {r.key: {"H": "H", "E": "E"}.get(str(s), "C")
            for r, s in zip(usable, states, strict=True)}


def _shrake_rupley(model, chain_ids: Sequence[str]) -> dict[tuple, float]:
    """Residue SASA (Å²) of the given chains computed together (Biopython Shrake-Rupley)."""
    from Bio.PDB import Model, Structure
    from Bio.PDB.Polypeptide import is_aa
    from Bio.PDB.SASA import ShrakeRupley

    copy = Model.Model(0)
    for cid in chain_ids:
        chain = model[cid].copy()
        for res in list(chain):
            if res.id[0] == "W" or not is_aa(res, standard=False):
                chain.detach_child(res.id)
            else:
                for atom in list(res):
                    if atom.element == "H":
                        res.detach_child(atom.id)
        copy.add(chain)
    Structure.Structure("sasa").add(copy)
    ShrakeRupley().compute(copy, level="R")
    return {(chain.id, (" ", res.id[1], res.id[2])): float(res.sasa)
            for chain in copy for res in chain}


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
