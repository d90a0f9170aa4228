"""The shared metabolic-pathway layer and the per-drug heads (torch modules).

The pathway layer maps allele counts and co-medications to a few interpretable log enzyme
activities, relative to a reference patient (two fully functional alleles, no interacting
co-medication), e.g. ``log CYP2C9 clearance = -(w2 * n*2 + w3 * n*3 + wo * deficit)
- wa * amiodarone + wi * inducer + u * unknown``. Sign constraints make activity monotone in
allele function (a loss-of-function allele never raises activity; an inducer never lowers it),
and ``w3 = w2 + softplus(d) >= w2`` keeps the CPIC order *1 > *2 > *3 for CYP2C9 (CPIC
activity values 1, 0.5, 0; Theken et al., Clin Pharmacol Ther 2020;108:191-200). With
``cyp2c9_poor_metabolizer`` an extra ``- wp * max(0, 1 - AS)`` (``wp >= 0``, AS the CPIC
activity score) lowers CYP2C9 clearance of CPIC poor metabolizers (AS <= 0.5) beyond the sum
of their alleles' effects: in IWPC, *2/*3 and *3/*3 patients need less than a per-allele
(activity-score) model predicts (docs/dose.md, model card).

Each drug head is log-linear: ``log dose = b + beta . log_activity + gamma . clinical`` plus an
optional small MLP; a prodrug (clopidogrel-like) simply learns a negative ``beta``.

Both blocks are registered in the engine's registries (``ENCODERS["pathway"]``,
``HEADS["drug"]``) and built from their frozen config dataclasses like any other block:
``get_encoder("pathway", vkorc1_by_ancestry=True)``, ``get_head("drug", in_dim, 1,
n_linear=5)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .features import CLINICAL_FEATURES, COMED_FEATURES, CYP2C9_POOR, genetic_inputs

__all__ = ["PATHWAYS", "DrugHead", "DrugHeadConfig", "PathwayEncoder", "PathwayEncoderConfig",
           "pathway_spec"]

#: pathway -> {input feature: (sign, initial magnitude)}; sign -1 lowers, +1 raises activity,
#: 0 is unconstrained (unknown-genotype offsets).
PATHWAYS: dict[str, dict[str, tuple[int, float]]] = {
    "CYP2C9 clearance": {"cyp2c9_star2": (-1, math.log(2 / 1.5)),
                         "cyp2c9_star3": (-1, math.log(2.0)),
                         "cyp2c9_other_deficit": (-1, 0.35), "cyp2c9_unknown": (0, 0.0),
                         CYP2C9_POOR: (-1, 0.1), "amiodarone": (-1, 0.3), "inducer": (1, 0.3)},
    "VKORC1 sensitivity": {"vkorc1_a": (1, 0.4), "vkorc1_unknown": (0, 0.0),
                           "vkorc1_a_asian": (0, 0.0), "vkorc1_a_black": (0, 0.0)},
    "CYP4F2 activity": {"cyp4f2_t": (-1, 0.1), "cyp4f2_unknown": (0, 0.0)},
    "CYP2C19 clearance": {"cyp2c19_deficit": (-1, 0.35), "cyp2c19_gain": (1, 0.2),
                          "cyp2c19_unknown": (0, 0.0), "cyp2c19_inhibitor": (-1, 0.3),
                          "inducer": (1, 0.2)},
}


def pathway_spec(*, vkorc1_by_ancestry: bool = True, cyp2c9_poor_metabolizer: bool = False
                 ) -> dict[str, dict[str, tuple[int, float]]]:
    """:data:`PATHWAYS`, optionally without the ancestry-specific VKORC1 terms or the CYP2C9
    poor-metabolizer term.

    Parameters
    ----------
    vkorc1_by_ancestry
        Keep ``vkorc1_a_asian`` and ``vkorc1_a_black`` (the -1639A effect per ancestry).
    cyp2c9_poor_metabolizer
        Keep ``cyp2c9_poor`` (``max(0, 1 - activity score)``): an extra lowering of CYP2C9
        clearance for CPIC poor metabolizers (activity score <= 0.5) on top of the per-allele
        effects.
    """
    drop = () if vkorc1_by_ancestry else ("vkorc1_a_asian", "vkorc1_a_black")
    drop += () if cyp2c9_poor_metabolizer else (CYP2C9_POOR,)
    return {k: {n: v for n, v in spec.items() if n not in drop} for k, spec in PATHWAYS.items()}


def _inv_softplus(x: float) -> float:
    return math.log(math.expm1(max(x, 1e-4)))


@dataclass(frozen=True)
class PathwayEncoderConfig:
    """Configuration of :class:`PathwayEncoder`.

    Parameters
    ----------
    vkorc1_by_ancestry
        Let the VKORC1 -1639A effect differ between Asian, Black and other patients
        (:func:`pathway_spec`).
    cyp2c9_poor_metabolizer
        Add the input ``cyp2c9_poor`` (``max(0, 1 - activity score)``, the last genetic
        input) and its effect on CYP2C9 clearance: CPIC poor metabolizers (*2/*3, *3/*3, ...)
        need less than the per-allele effects add up to (the published IWPC coefficients put
        *2/*3 and *3/*3 0.46 sqrt(mg/week) below the sum of their alleles' effects; Klein et
        al. 2009).
    """

    vkorc1_by_ancestry: bool = True
    cyp2c9_poor_metabolizer: bool = False


class PathwayEncoder(nn.Module):
    """Shared layer: ``inputs -> [log activities (P), clinical score, clinical (C)]``.

    Parameters
    ----------
    config
        Which pathway terms to learn (default :class:`PathwayEncoderConfig`).

    Examples
    --------
    >>> enc = PathwayEncoder(PathwayEncoderConfig(vkorc1_by_ancestry=False))
    >>> enc.names[0], enc.n_linear, enc.out_dim
    ('CYP2C9 clearance', 5, 11)
    """

    def __init__(self, config: PathwayEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or PathwayEncoderConfig()
        self.pathways = pathway_spec(
            vkorc1_by_ancestry=self.config.vkorc1_by_ancestry,
            cyp2c9_poor_metabolizer=self.config.cyp2c9_poor_metabolizer)
        #: genetic input columns, in order (the genetic tensor's columns)
        self.genetic_inputs = genetic_inputs(
            cyp2c9_poor_metabolizer=self.config.cyp2c9_poor_metabolizer)
        inputs = self.genetic_inputs + COMED_FEATURES
        sign = torch.zeros(len(inputs), len(self.pathways))
        present = torch.zeros_like(sign)
        raw = torch.zeros_like(sign)
        for j, spec in enumerate(self.pathways.values()):
            for name, (s, init) in spec.items():
                i = inputs.index(name)
                sign[i, j], present[i, j] = s, 1.0
                raw[i, j] = _inv_softplus(init) if s else init
        self.register_buffer("sign", sign)
        self.register_buffer("present", present)
        self.raw = nn.Parameter(raw)
        i2, i3 = inputs.index("cyp2c9_star2"), inputs.index("cyp2c9_star3")
        self._order = (i2, i3, list(self.pathways).index("CYP2C9 clearance"))
        # star3 magnitude = star2 magnitude + softplus(extra): CPIC order *3 below *2
        self.extra = nn.Parameter(torch.tensor(_inv_softplus(math.log(2.0) - math.log(4 / 3))))
        # one clinical score shared by all drugs (body size and age change clearance alike)
        self.clinical = nn.Linear(len(CLINICAL_FEATURES), 1, bias=False)
        with torch.no_grad():
            self.clinical.weight.copy_(torch.tensor([[-0.1, 0.05, 0.1, 0.0, 0.0, 0.0]]))

    @property
    def names(self) -> list[str]:
        """Pathway names, in output order."""
        return list(self.pathways)

    def weights(self) -> torch.Tensor:
        """Effective ``(inputs, pathways)`` weights with the sign and order constraints."""
        mag = F.softplus(self.raw)
        w = torch.where(self.sign != 0, self.sign * mag, self.raw) * self.present
        i2, i3, j = self._order
        w3 = -(mag[i2, j] + F.softplus(self.extra))
        col = w[:, j].clone()
        col[i3] = w3
        return torch.cat([w[:, :j], col[:, None], w[:, j + 1:]], dim=1)

    def log_activity(self, genetic: torch.Tensor, comed: torch.Tensor) -> torch.Tensor:
        """``(N, P)`` log activities relative to the reference patient."""
        x = torch.cat([genetic, comed], dim=1)          # (N, G + M)
        return x @ self.weights()                        # (N, P)

    @property
    def n_linear(self) -> int:
        """Width of the head's linear input: pathways plus the shared clinical score."""
        return len(self.pathways) + 1

    @property
    def out_dim(self) -> int:
        """Width of the shared features: :attr:`n_linear` plus the clinical covariates."""
        return self.n_linear + len(CLINICAL_FEATURES)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(N, P + 1 + C)``: log activities, shared clinical score, clinical covariates."""
        act = self.log_activity(inputs["genetic"], inputs["comed"])     # (N, P)
        score = self.clinical(inputs["clinical"])                        # (N, 1)
        return torch.cat([act, score, inputs["clinical"]], dim=1)


@dataclass(frozen=True)
class DrugHeadConfig:
    """Configuration of :class:`DrugHead`.

    Parameters
    ----------
    n_linear
        Width of the linear input, the first features (pathways + shared clinical score,
        :attr:`PathwayEncoder.n_linear`); ``None`` = every feature.
    hidden
        Width of an optional residual MLP over every feature (0 = purely log-linear).
    intercept
        Initial bias (the mean transformed dose of the drug's training rows).
    """

    n_linear: int | None = None
    hidden: int = 0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.n_linear is not None and self.n_linear < 1:
            raise ConfigError(f"n_linear must be >= 1 or null, got {self.n_linear}")
        if self.hidden < 0:
            raise ConfigError(f"hidden must be >= 0, got {self.hidden}")


class DrugHead(nn.Module):
    """One drug: ``(..., F) -> (..., n_outputs)`` transformed dose (log or sqrt mg/week).

    The linear part sees the log activities and the shared clinical score only (so a
    data-poor drug learns P + 2 numbers); the optional MLP sees every covariate. It starts as
    the constant ``intercept`` (zero slopes, zero MLP output).

    Parameters
    ----------
    in_dim
        Width ``F`` of the shared features (:attr:`PathwayEncoder.out_dim`).
    n_outputs
        Number of outputs (1 for a dose).
    config
        Linear width, MLP width and initial intercept (default :class:`DrugHeadConfig`).

    Examples
    --------
    >>> head = DrugHead(11, 1, DrugHeadConfig(n_linear=5, intercept=2.0))
    >>> head(torch.zeros(3, 11)).flatten().tolist()
    [2.0, 2.0, 2.0]
    """

    def __init__(self, in_dim: int, n_outputs: int = 1,
                 config: DrugHeadConfig | None = None) -> None:
        super().__init__()
        self.config = config or DrugHeadConfig()
        self.n_linear = self.config.n_linear or in_dim
        self.linear = nn.Linear(self.n_linear, n_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, self.config.intercept)
        self.mlp = None
        if self.config.hidden:
            self.mlp = nn.Sequential(nn.Linear(in_dim, self.config.hidden), nn.GELU(),
                                     nn.Linear(self.config.hidden, n_outputs))
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(..., F)`` -> ``(..., n_outputs)``."""
        out = self.linear(features[..., :self.n_linear])
        if self.mlp is not None:
            out = out + self.mlp(features)
        return out
