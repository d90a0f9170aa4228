"""DSSP backends of the dataset builder: mkdssp (through Bio.PDB.DSSP) and the pydssp fallback.

``mkdssp`` (Kabsch & Sander 1983, Biopolymers 22:2577) runs on a temporary PDB file holding the
wanted protein chains; without it, pydssp (Minami 2023) gives 3-state labels and Biopython's
Shrake-Rupley surface (Shrake & Rupley 1973, J Mol Biol 79:351) the accessible areas.
:func:`find_mkdssp` is public through :mod:`bio_mtl.structure.dataset_builder`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, InputError
from ._structure_files import _Residue

__all__ = ["find_mkdssp"]

_CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


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

