"""The deterministic rule that labels each latent dimension, with the evidence behind it.

For one dimension, let ``S`` be the covariates whose association has BH ``q < alpha`` and
effect (rank variance share: ``rho**2`` or rank ``eta**2``) ``>= min_effect``. An outcome
*survives conditioning* when the likelihood-ratio test of ``outcome ~ confounders + z`` against
``outcome ~ confounders`` has BH ``q < cond_alpha``; a test that could not be fitted is
*undetermined* (never read as "does not survive"). The first rule that applies wins:

1. ``nuisance:<batch>`` -- batch ``eta**2`` (of the dimension's values: the variance share the
   batch explains) ``>= batch_eta2`` and larger than every effect in ``S``;
2. ``confounder:<C>`` -- a declared confounder ``C`` is in ``S`` (the strongest such one) and
   either it is the strongest association of the dimension, or no outcome in ``S`` survives
   conditioning (none is undetermined);
3. ``mechanism:<pathway>`` -- confounders were declared, an outcome in ``S`` survives
   conditioning on them, and the top pathway of the dimension's ranked genes has GSEA
   ``q < pathway_q``;
4. ``tracks:<covariate>`` -- the strongest outcome of ``S`` that survives conditioning or is
   undetermined, else the strongest member of ``S``;
5. ``unexplained``.

The confounder comes first: a dimension that tracks a declared confounder more strongly than
anything else is that confounder's axis, even when its genes form a pathway (the confounder's
own program) and even when an outcome keeps a small conditional association. The pathway is
then reported beside the label (``pathway`` in the dimension table), not as a mechanism.

Worked example (the planted cohort of :func:`~bio_mtl.dissect.simulate_expression`, where age
drives an ageing program and disease risk, and interferon activity drives the interferon genes,
disease and response; ``confounders=["age"]``):

============  ===========================================  ==========================
dimension     evidence                                     label
============  ===========================================  ==========================
``d1``        age rho 0.95, disease rho 0.35 (LRT given    ``confounder:age``,
              age q = 1e-6), genes: ageing set q < 0.001   pathway ageing set
``d2``        disease rho 0.45 (LRT given age q = 1e-20),  ``mechanism:HALLMARK_``
              age rho 0.1, genes: interferon set q<0.001   ``INTERFERON_ALPHA_RESPONSE``
``d3``        age rho 0.3, disease not surviving           ``confounder:age``
============  ===========================================  ==========================

``d1`` is age's axis (rule 2, age is its strongest association); the ageing set explains it
but is no mechanism of disease. ``d2`` predicts disease beyond age and its genes are the
interferon response: a mechanism (rule 3).
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
        Minimum rank variance share (``rho**2`` or rank ``eta**2``) for an association to
        count.
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


def _evidence(sig, conditional, confounders, batch_key, batch_eta2, top_pathway) -> str:
    evidence = [f"{c}: {a['summary']}, q={_fmt(a['q'])}" for c, a in
                sorted(sig.items(), key=lambda kv: -kv[1]["effect"])]
    if batch_key is not None:
        evidence.append(f"batch eta2={_fmt(batch_eta2)}")
    given = "+".join(confounders) if confounders else "nothing"
    for o, r in conditional.items():
        if o in sig:
            failed = " (no finite fit: undetermined)" if r["p"] != r["p"] else ""
            evidence.append(f"{o} | {given}: LRT p={_fmt(r['p'])} q={_fmt(r.get('q'))}{failed}")
    if top_pathway is not None:
        evidence.append(f"top pathway {top_pathway['name']} NES={_fmt(top_pathway['nes'])} "
                        f"q={_fmt(top_pathway['q'])}")
    return "; ".join(evidence)


def classify_dimension(associations: dict[str, dict], *, batch_key: str | None,
                       batch_eta2: float, conditional: dict[str, dict],
                       confounders: list[str], top_pathway: dict | None,
                       rules: DissectRules = DissectRules()) -> tuple[str, str]:
    """Label one dimension (the rule of the module docstring).

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
        confounders (NaN p: undetermined).
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

    Examples
    --------
    >>> age = {"effect": 0.9, "q": 1e-9, "summary": "Spearman 0.95"}
    >>> disease = {"effect": 0.1, "q": 1e-4, "summary": "AUROC 0.66 (case)"}
    >>> classify_dimension({"age": age, "disease": disease}, batch_key=None,
    ...                    batch_eta2=float("nan"), confounders=["age"],
    ...                    conditional={"disease": {"p": 1e-5, "q": 1e-4}},
    ...                    top_pathway={"name": "AGEING", "nes": 2.1, "q": 0.001})[0]
    'confounder:age'
    """
    sig = {c: a for c, a in associations.items()
           if a["q"] < rules.alpha and a["effect"] >= rules.min_effect}
    text = _evidence(sig, conditional, confounders, batch_key, batch_eta2, top_pathway)
    if batch_key is not None and not math.isnan(batch_eta2) and \
            batch_eta2 >= rules.batch_eta2 and all(batch_eta2 > a["effect"] for a in sig.values()):
        return f"nuisance:{batch_key}", text
    outcomes = {o: a for o, a in sig.items() if o not in confounders}
    cond = {o: conditional.get(o, {"p": math.nan}) for o in outcomes}
    survives = [o for o, r in cond.items() if r.get("q", r["p"]) < rules.cond_alpha]
    undetermined = [o for o, r in cond.items() if r.get("q", r["p"]) != r.get("q", r["p"])]
    conf_sig = [c for c in confounders if c in sig]
    if conf_sig:
        conf = max(conf_sig, key=lambda c: sig[c]["effect"])
        strongest = all(sig[conf]["effect"] >= a["effect"] for a in outcomes.values())
        if strongest or not (survives or undetermined):
            return f"confounder:{conf}", text
    if survives and confounders and top_pathway is not None \
            and top_pathway["q"] < rules.pathway_q:
        return f"mechanism:{top_pathway['name']}", text
    candidates = survives + undetermined or list(sig)
    if candidates:
        return f"tracks:{max(candidates, key=lambda c: sig[c]['effect'])}", text
    return "unexplained", text
