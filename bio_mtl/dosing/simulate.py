"""A multi-drug dosing simulator grounded in published pharmacogenetic effect sizes.

No public cohort has stable doses of several CYP2C9/CYP2C19 drugs in the same patients, so the
multi-drug claims of :class:`~bio_mtl.dosing.model.DosingModel` are tested on simulated patients.

Allele frequencies (approximate, from the CPIC/PharmGKB frequency tables, gnomAD-based):
CYP2C9 *2 0.127 / 0.001 / 0.021, *3 0.076 / 0.034 / 0.013, *8 0 / 0 / 0.056, *11 0.002 / 0 /
0.024 (European / East Asian / African); CYP2C19 *2 0.147 / 0.284 / 0.181, *3 0.002 / 0.089 /
0.003, *17 0.215 / 0.015 / 0.235; VKORC1 -1639A 0.39 / 0.91 / 0.11; CYP4F2 rs2108622 T 0.29 /
0.22 / 0.08.

Enzyme activity: CYP2C9 CPIC activity values *1 = 1, *2 = *8 = *11 = 0.5, *3 = 0 (Theken et al.,
Clin Pharmacol Ther 2020;108:191-200). CYP2C19 has no CPIC activity score; the simulator uses
*1 = 1, *2 = *3 = 0, *17 = 1.5 so that the CPIC phenotype order PM < IM < NM < RM < UM holds
(Lima et al., Clin Pharmacol Ther 2021;109:1417-23). Co-medications multiply activity:
amiodarone CYP2C9 x0.6, inducers (rifampin, carbamazepine) CYP2C9 and CYP2C19 x1.5, a CYP2C19
inhibitor (e.g. fluvoxamine) x0.5.

Doses scale with relative clearance ``1 - fm + fm * activity / 2`` (fm = fraction metabolised by
the enzyme): phenytoin fm(CYP2C9) 0.5 (CPIC: 25 % lower dose for AS 1, 50 % for AS 0; Karnes et
al., Clin Pharmacol Ther 2021;109:302-9), celecoxib fm 0.75 (about 4-fold exposure in *3/*3;
Theken 2020), voriconazole fm(CYP2C19) 0.75 (about 4-fold exposure in poor metabolizers; Moriyama
et al., Clin Pharmacol Ther 2017;102:45-51); the clopidogrel-like prodrug needs a dose
``1 / (0.4 + 0.6 * activity / 2)`` (less activation -> higher dose). Warfarin follows the IWPC
pharmacogenetic equation (Klein 2009). All doses also scale with (weight/70)^0.75 and lose 0.8 %
per year of age over 50, with log-normal noise (sd 0.2; 0.25 for warfarin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ALLELE_FREQUENCIES", "SIM_DRUGS", "learning_curve", "simulate_cohort"]

ALLELE_FREQUENCIES = {
    "CYP2C9": {"white": {"*2": 0.127, "*3": 0.076, "*11": 0.002},
               "asian": {"*2": 0.001, "*3": 0.034},
               "black": {"*2": 0.021, "*3": 0.013, "*8": 0.056, "*11": 0.024}},
    "CYP2C19": {"white": {"*2": 0.147, "*3": 0.002, "*17": 0.215},
                "asian": {"*2": 0.284, "*3": 0.089, "*17": 0.015},
                "black": {"*2": 0.181, "*3": 0.003, "*17": 0.235}},
    "VKORC1": {"white": {"A": 0.39}, "asian": {"A": 0.91}, "black": {"A": 0.11}},
    "CYP4F2": {"white": {"T": 0.29}, "asian": {"T": 0.22}, "black": {"T": 0.08}},
}
_ACT = {"CYP2C9": {"*1": 1.0, "*2": 0.5, "*3": 0.0, "*8": 0.5, "*11": 0.5},
        "CYP2C19": {"*1": 1.0, "*2": 0.0, "*3": 0.0, "*17": 1.5}}

#: drug -> (enzyme, kind, fm, base weekly dose in mg)
SIM_DRUGS = {
    "warfarin": ("CYP2C9", "iwpc", None, None),
    "phenytoin": ("CYP2C9", "substrate", 0.5, 2100.0),
    "celecoxib": ("CYP2C9", "substrate", 0.75, 2800.0),
    "clopidogrel": ("CYP2C19", "prodrug", 0.6, 525.0),
    "voriconazole": ("CYP2C19", "substrate", 0.75, 5600.0),
}


def _draw(rng, freqs: dict[str, float], n: int) -> np.ndarray:
    names = ["*1", *freqs]
    p = np.array([1 - sum(freqs.values()), *freqs.values()])
    return rng.choice(names, size=(n, 2), p=p)


def _patients(n: int, rng: np.random.Generator) -> pd.DataFrame:
    anc = rng.choice(["white", "asian", "black"], size=n, p=[0.55, 0.25, 0.20])
    df = pd.DataFrame({"ancestry": anc})
    df["age"] = rng.uniform(20, 90, n).round()
    df["age_decades"] = np.minimum(df["age"] // 10, 9)
    df["weight_kg"] = np.exp(rng.normal(np.log(np.where(anc == "asian", 65, 80)), 0.18)).round(1)
    df["height_cm"] = rng.normal(np.where(anc == "asian", 163, 172), 9).round(1)
    df["amiodarone"] = (rng.random(n) < 0.05).astype(float)
    df["inducer"] = (rng.random(n) < 0.03).astype(float)
    df["cyp2c19_inhibitor"] = (rng.random(n) < 0.05).astype(float)
    for gene in ("CYP2C9", "CYP2C19"):
        dips, acts = [], []
        for a in anc:
            pair = sorted(_draw(rng, ALLELE_FREQUENCIES[gene][a], 1)[0],
                          key=lambda s: int(s[1:]))
            dips.append("/".join(pair))
            acts.append(sum(_ACT[gene][x] for x in pair))
        df[gene.lower()] = dips
        df[f"true_{gene.lower()}_activity"] = acts
    for gene, allele, labels in (("VKORC1", "A", ("G/G", "A/G", "A/A")),
                                 ("CYP4F2", "T", ("C/C", "C/T", "T/T"))):
        p = np.array([ALLELE_FREQUENCIES[gene][a][allele] for a in anc])
        df[gene.lower()] = [labels[k] for k in rng.binomial(2, p)]
    return df


def _dose(df: pd.DataFrame, drug: str, rng: np.random.Generator) -> np.ndarray:
    from .iwpc import iwpc_pharmacogenetic_dose

    enzyme, kind, fm, base = SIM_DRUGS[drug]
    clinical = (df["weight_kg"] / 70) ** 0.75 * (1 - 0.008 * np.clip(df["age"] - 50, 0, None))
    if kind == "iwpc":
        dose = iwpc_pharmacogenetic_dose(df)
        return dose * np.exp(rng.normal(0, 0.25, len(df)))
    act = df[f"true_{enzyme.lower()}_activity"].to_numpy(float).copy()
    if enzyme == "CYP2C9":
        act = act * np.where(df["amiodarone"] > 0, 0.6, 1.0)
    else:
        act = act * np.where(df["cyp2c19_inhibitor"] > 0, 0.5, 1.0)
    act = act * np.where(df["inducer"] > 0, 1.5, 1.0)
    rel = 1 - fm + fm * act / 2
    factor = 1 / rel if kind == "prodrug" else rel
    return base * factor * clinical.to_numpy() * np.exp(rng.normal(0, 0.2, len(df)))


def simulate_cohort(n_per_drug: dict[str, int], *, seed: int = 0) -> pd.DataFrame:
    """Simulate a long (patient, drug, dose) table; each patient takes one drug.

    Parameters
    ----------
    n_per_drug
        ``{drug: number of patients}`` with drugs from :data:`SIM_DRUGS`.
    seed
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (see :mod:`bio_mtl.dosing.features`) with ``drug``, ``dose_mg_per_week`` and
        the true activity scores ``true_cyp2c9_activity`` / ``true_cyp2c19_activity``.

    Examples
    --------
    >>> sim = simulate_cohort({"celecoxib": 3}, seed=0)
    >>> list(sim["drug"])
    ['celecoxib', 'celecoxib', 'celecoxib']
    """
    rng = np.random.default_rng(seed)
    parts = []
    for drug, n in n_per_drug.items():
        df = _patients(n, rng)
        df["drug"] = drug
        df["dose_mg_per_week"] = _dose(df, drug, rng)
        parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "patient_id", [f"sim{seed}_{i}" for i in range(len(out))])
    out["site"] = "simulated"
    out["stable"] = True
    return out


def learning_curve(*, poor_drug: str = "celecoxib", sizes=(25, 50, 100, 200, 400),
                   n_rich: int = 1500, n_test: int = 2000, seeds=(0, 1, 2),
                   model_params: dict | None = None) -> pd.DataFrame:
    """Shared pathway model vs independent models on the data-poor drug.

    Parameters
    ----------
    poor_drug
        The drug with few patients.
    sizes
        Numbers of its training patients.
    n_rich
        Training patients of every other drug in :data:`SIM_DRUGS`.
    n_test
        Test patients of the poor drug.
    seeds
        Simulation and model seeds.
    model_params
        Extra :class:`~bio_mtl.dosing.model.DosingModel` parameters.

    Returns
    -------
    pandas.DataFrame
        One row per (seed, n): test MAE (mg/week) of the shared model, an independent
        DosingModel and ridge trained on the poor drug only, and the Spearman correlation of
        the shared model's learned CYP2C9 / CYP2C19 clearance with the true activity score.
    """
    from scipy.stats import spearmanr

    from .evaluate import SklearnDoseModel
    from .metrics import mae
    from .model import DosingModel

    rows = []
    params = {"calibration_fraction": 0.0, **(model_params or {})}
    for seed in seeds:
        rich = simulate_cohort({d: n_rich for d in SIM_DRUGS if d != poor_drug}, seed=seed)
        test = simulate_cohort({poor_drug: n_test}, seed=seed + 1000)
        pool = simulate_cohort({poor_drug: max(sizes)}, seed=seed + 2000)
        plain = test[(test[["amiodarone", "inducer", "cyp2c19_inhibitor"]] == 0).all(axis=1)]
        for n in sizes:
            poor = pool.iloc[:n]
            shared = DosingModel(seed=seed, **params).fit(pd.concat([rich, poor]))
            alone = DosingModel(seed=seed, **params).fit(poor)
            ridge = SklearnDoseModel("ridge").fit(poor)
            y = test["dose_mg_per_week"]
            act = shared.pathway_activity(plain)
            rows.append({
                "seed": seed, "n_poor": n,
                "shared_mae": mae(y, shared.predict(test)),
                "independent_mae": mae(y, alone.predict(test)),
                "ridge_mae": mae(y, ridge.predict(test)),
                "spearman_cyp2c9": float(spearmanr(act["CYP2C9 clearance"],
                                                   plain["true_cyp2c9_activity"])[0]),
                "spearman_cyp2c19": float(spearmanr(act["CYP2C19 clearance"],
                                                    plain["true_cyp2c19_activity"])[0])})
    return pd.DataFrame(rows)
