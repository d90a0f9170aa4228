"""The deterministic rule that labels each latent dimension, with the evidence behind it.

For one dimension, with ``S`` = covariates whose association has BH ``q < alpha`` and effect
(``r**2`` or ``eta**2``) ``>= min_effect``, and ``best`` the member of ``S`` with the largest
effect, the first rule that applies wins:

1. ``nuisance:<batch>`` -- batch ``eta**2 >= batch_eta2`` and larger than every effect in ``S``;
2. ``confounder:<C>`` -- a declared confounder ``C`` is in ``S`` (the strongest such one), and
   no outcome keeps a conditional association once the confounders are in the model
   (likelihood-ratio test, BH ``q >= cond_alpha`` for every outcome);
3. ``mechanism:<pathway>`` -- confounders were declared, some outcome is in ``S`` *and* still
   predicted conditionally on the confounders (LRT BH ``q < cond_alpha``), and the top pathway
   of the dimension's ranked genes has GSEA ``q < pathway_q``;
4. ``tracks:<covariate>`` -- associated (outcome conditionally, else ``best``) but without the
   pathway support (or the declared confounders) a mechanism needs;
5. ``unexplained``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DissectRules", "classify_dimension"]


@dataclass(frozen=True)
class DissectRules:
    """Thresholds of the labelling rule (see the module docstring).

    Parameters
    ----------
    alpha
        BH q-value threshold for an association.
    min_effect
        Minimum variance share (``r**2`` or ``eta**2``) for an association to count.
    batch_eta2
        Minimum batch ``eta**2`` for a nuisance label.
    cond_alpha
        Threshold of the conditional likelihood-ratio test (on its BH q-value across all
        dimensions and outcomes).
    pathway_q
        GSEA q-value threshold for a pathway.
    """

    alpha: float = 0.05
    min_effect: float = 0.05
    batch_eta2: float = 0.3
    cond_alpha: float = 0.05
    pathway_q: float = 0.05


def _fmt(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def classify_dimension(associations: dict[str, dict], *, batch_key: str | None,
                       batch_eta2: float, conditional: dict[str, dict],
                       confounders: list[str], top_pathway: dict | None,
                       rules: DissectRules = DissectRules()) -> tuple[str, str]:
    """Label one dimension.

    Parameters
    ----------
    associations
        ``{covariate: {"effect", "q", "summary"}}`` for this dimension.
    batch_key
        Name of the batch covariate (or ``None``).
    batch_eta2
        Batch ``eta**2`` of this dimension (NaN without a batch).
    conditional
        ``{outcome: {"p", "q", ...}}``: the LRT of the dimension for each outcome given the
        confounders.
    confounders
        Covariates declared as confounders.
    top_pathway
        Best enrichment record (``name``, ``q``, ``nes``) or ``None``.
    rules
        Thresholds.

    Returns
    -------
    tuple
        ``(label, evidence)``.
    """
    sig = {c: a for c, a in associations.items()
           if a["q"] < rules.alpha and a["effect"] >= rules.min_effect}
    best = max(sig, key=lambda c: sig[c]["effect"]) if sig else None
    evidence = [f"{c}: {a['summary']}, q={_fmt(a['q'])}" for c, a in
                sorted(sig.items(), key=lambda kv: -kv[1]["effect"])]
    if batch_key is not None:
        evidence.append(f"batch eta2={_fmt(batch_eta2)}")
    cond_sig = [o for o, r in conditional.items()
                if o in sig and r.get("q", r["p"]) < rules.cond_alpha]
    given = "+".join(confounders) if confounders else "nothing"
    evidence += [f"{o} | {given}: LRT p={_fmt(r['p'])} q={_fmt(r.get('q'))}"
                 for o, r in conditional.items() if o in sig]
    if top_pathway is not None:
        evidence.append(f"top pathway {top_pathway['name']} NES={_fmt(top_pathway['nes'])} "
                        f"q={_fmt(top_pathway['q'])}")
    text = "; ".join(evidence)
    if batch_key is not None and not math.isnan(batch_eta2) and \
            batch_eta2 >= rules.batch_eta2 and all(batch_eta2 > a["effect"] for a in sig.values()):
        return f"nuisance:{batch_key}", text
    conf_sig = [c for c in confounders if c in sig]
    if conf_sig and not cond_sig:
        return f"confounder:{max(conf_sig, key=lambda c: sig[c]['effect'])}", text
    if cond_sig:
        if confounders and top_pathway is not None and top_pathway["q"] < rules.pathway_q:
            return f"mechanism:{top_pathway['name']}", text
        return f"tracks:{max(cond_sig, key=lambda c: sig[c]['effect'])}", text
    if best is not None:
        return f"tracks:{best}", text
    return "unexplained", text
