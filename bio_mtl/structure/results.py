"""The per-sequence prediction result shared by the predictor and the writers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .alphabet import MAX_ASA_TIEN2013, SS3, SS8

__all__ = ["StructurePrediction"]


@dataclass
class StructurePrediction:
    """Predicted structure of one sequence.

    Parameters
    ----------
    id
        Record id.
    seq
        The (normalised, upper-case) sequence.
    ss8_probs
        ``(L, 8)`` probabilities in :data:`~bio_mtl.structure.alphabet.SS8` order.
    ss3_probs
        ``(L, 3)`` probabilities in ``H, E, C`` order.
    rsa
        ``(L,)`` relative solvent accessibility in [0, 1].
    disorder
        ``(L,)`` probability that the residue is disordered (missing from the solved
        structure), or ``None`` for a model without a ``disorder`` head.
    """

    id: str
    seq: str
    ss8_probs: np.ndarray
    ss3_probs: np.ndarray
    rsa: np.ndarray
    disorder: np.ndarray | None = None

    @property
    def ss8(self) -> str:
        """Most probable 8-state string."""
        return "".join(SS8[i] for i in self.ss8_probs.argmax(axis=1))

    @property
    def ss3(self) -> str:
        """Most probable 3-state string.

        The argmax of the SS3 probabilities, not :attr:`ss8` reduced to three states: the two
        disagree where the SS8 states of one SS3 class together outweigh the class of the most
        probable single SS8 state (C 0.40, H 0.35, G 0.25 gives SS8 ``C`` but SS3 ``H``), and
        where the SS3 head and the SS8 head disagree (see ``docs/structure.md``, "SS3 and SS8
        strings")."""
        return "".join(SS3[i] for i in self.ss3_probs.argmax(axis=1))

    @property
    def asa(self) -> np.ndarray:
        """Absolute accessible surface area (Å²) = RSA x max ASA (Tien 2013); NaN for X."""
        max_asa = np.array([MAX_ASA_TIEN2013.get(a, np.nan) for a in self.seq])
        return self.rsa * max_asa

    def summary(self) -> dict[str, float]:
        """Length, helix/strand/coil fractions (from SS3) and mean RSA."""
        ss3 = self.ss3
        n = max(len(ss3), 1)
        return {"id": self.id, "length": len(self.seq), "helix": ss3.count("H") / n,
                "strand": ss3.count("E") / n, "coil": ss3.count("C") / n,
                "mean_rsa": float(np.mean(self.rsa)) if len(self.rsa) else float("nan")}
