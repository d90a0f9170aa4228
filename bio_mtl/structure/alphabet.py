"""Residue and DSSP alphabets, the 8 -> 3 state map and maximum accessible surface areas."""

from __future__ import annotations

import numpy as np

__all__ = ["AMINO_ACIDS", "MAX_ASA_TIEN2013", "PAD_INDEX", "SS3", "SS8", "SS8_TO_SS3",
           "SS8_TO_SS3_INDEX", "UNKNOWN_INDEX", "encode_sequence", "ss3_from_ss8"]

#: The 20 standard amino acids in alphabetical one-letter order; index 20 is X (unknown/masked).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
UNKNOWN_INDEX = 20
PAD_INDEX = 21

#: DSSP 8-state alphabet in NetSurfP-2.0 order (G H I B E S T C; DSSP blank is written C).
SS8 = "GHIBESTC"
#: 3-state alphabet: helix, strand, coil.
SS3 = "HEC"
#: NetSurfP-2.0 reduction: G, H, I -> H; E, B -> E; S, T, C -> C.
SS8_TO_SS3 = {"G": "H", "H": "H", "I": "H", "B": "E", "E": "E", "S": "C", "T": "C", "C": "C"}
SS8_TO_SS3_INDEX = np.array([SS3.index(SS8_TO_SS3[s]) for s in SS8], dtype=np.int64)

#: Theoretical maximum ASA (Å²) per residue, Tien et al. 2013, PLoS ONE 8:e80635, Table 1.
MAX_ASA_TIEN2013 = {
    "A": 129.0, "R": 274.0, "N": 195.0, "D": 193.0, "C": 167.0, "E": 223.0, "Q": 225.0,
    "G": 104.0, "H": 224.0, "I": 197.0, "L": 201.0, "K": 236.0, "M": 224.0, "F": 240.0,
    "P": 159.0, "S": 155.0, "T": 172.0, "W": 285.0, "Y": 263.0, "V": 174.0,
}

_LOOKUP = np.full(128, UNKNOWN_INDEX, dtype=np.int64)
for _i, _aa in enumerate(AMINO_ACIDS):
    _LOOKUP[ord(_aa)] = _i
    _LOOKUP[ord(_aa.lower())] = _i
# selenocysteine and pyrrolysine read as their closest standard residues (as the FASTA policy)
for _aa, _as in (("U", "C"), ("O", "K")):
    _LOOKUP[ord(_aa)] = _LOOKUP[ord(_aa.lower())] = AMINO_ACIDS.index(_as)


def encode_sequence(seq: str) -> np.ndarray:
    """Residue indices (0-19 for the standard amino acids, 20 for anything else).

    U (selenocysteine) is read as C and O (pyrrolysine) as K, the same policy as
    :data:`bio_mtl.structure.io.RESIDUE_MAP`, so training, evaluation and FASTA prediction
    tokenise a sequence alike.

    Examples
    --------
    >>> encode_sequence("ACX").tolist()
    [0, 1, 20]
    >>> encode_sequence("UO").tolist() == encode_sequence("CK").tolist()
    True
    """
    codes = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    return _LOOKUP[np.minimum(codes, 127)]


def ss3_from_ss8(ss8: str) -> str:
    """Reduce an 8-state DSSP string to 3 states (NetSurfP-2.0 convention).

    Examples
    --------
    >>> ss3_from_ss8("GHIBESTC")
    'HHHEECCC'
    """
    return "".join(SS8_TO_SS3[c] for c in ss8)
