"""Reading PDB / mmCIF files for the dataset builder: format sniffing, SEQRES, observed residues.

Private to :mod:`bio_mtl.structure.dataset_builder`.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from .._io import open_input
from ..errors import InputError

_PDB_EXT = (".pdb", ".ent")
_CIF_EXT = (".cif", ".mmcif")


@dataclass
class _Residue:
    letter: str
    key: tuple  # (' ', resseq, icode) as DSSP reports it
    modified: bool
    residue: object


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
    with open_input(path, "rb", what="file") as handle:
        raw = handle.read()
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

