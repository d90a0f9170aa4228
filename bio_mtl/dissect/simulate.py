"""A planted-truth expression simulator for testing latent dissection.

Three hidden factors, each with its own gene program, and known links to the labels:

- ``age`` (20-80 years) drives an aging program (genes ``AGEPROG01``...) and disease risk;
- ``ifn_activity`` (standard normal, independent of age) drives interferon-response genes (real
  symbols from the shipped HALLMARK_INTERFERON_ALPHA_RESPONSE set, so enrichment can find
  them), disease risk, and treatment response;
- ``batch`` (equal-sized groups, independent of both) shifts only technical genes (the
  mitochondrially encoded ``MT-`` genes and a few ``TECH..`` genes).

The rest are background genes (cell-cycle and ribosomal symbols plus ``BG....`` names) with no
signal. Counts are Poisson draws around ``size_factor * exp(log_mean)``. Response is only
defined for diseased samples (``NaN`` for the healthy), which exercises label masking.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IFN_GENES", "simulate_expression"]

IFN_GENES = ["ISG15", "MX1", "IFI44L", "IFI44", "RSAD2", "OASL", "OAS1", "IFIT3", "IFIT2", "IFI27",
             "IFITM1", "IFITM3", "IRF7", "IRF9", "STAT2", "USP18", "CMPK2", "EPSTI1", "HERC6",
             "LY6E", "LGALS3BP", "BST2", "PARP9", "PARP14", "SAMD9L", "DDX60", "EIF2AK2", "PLSCR1",
             "TRIM21", "XAF1"]
_BACKGROUND_REAL = ["MCM5", "PCNA", "TYMS", "FEN1", "MCM2", "MCM4", "RRM1", "UNG", "TOP2A",
                    "MKI67", "CDK1", "BIRC5", "TPX2", "NUSAP1", "RPL3", "RPL4", "RPL5", "RPS3",
                    "RPS6", "RPS8", "RPS12", "RPLP0", "RPLP1", "IL1B", "CXCL8", "TNF", "CCL2",
                    "NFKBIA", "ICAM1", "ACTB", "GAPDH"]
_MT = ["MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3", "MT-ND3", "MT-ND4L",
       "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB"]


def simulate_expression(n_samples: int = 1200, *, n_background: int = 120, n_aging: int = 30,
                        n_batches: int = 2, effect: float = 0.8, seed: int = 0,
                        gene_seed: int = 0):
    """Simulate a counts AnnData with planted age, interferon and batch programs.

    Parameters
    ----------
    n_samples
        Number of samples (cells or patients).
    n_background
        Number of synthetic background genes (``BG0001``...), on top of the real-symbol
        background genes.
    n_aging
        Number of aging-program genes.
    n_batches
        Number of batches.
    effect
        Log-fold change per standard deviation of a factor, for its program's genes.
    seed
        Seed of the sample-level draws (factors, labels, noise, counts).
    gene_seed
        Seed of the gene-level parameters (baseline expression, aging-gene signs, batch
        shifts), kept apart so a held-out cohort (another ``seed``) shares the same biology.

    Returns
    -------
    anndata.AnnData
        ``X``: integer counts (float32); ``obs``: ``age``, ``ifn_activity`` (hidden truth),
        ``disease`` (``"healthy"``/``"case"``), ``response`` (``"non-responder"``/
        ``"responder"``/NaN), ``batch``; ``var["program"]``: ``aging``/``interferon``/
        ``technical``/``background``; ``uns["simulation"]``: the parameters.

    Examples
    --------
    >>> ad = simulate_expression(50, seed=1)
    >>> ad.shape[0], sorted(ad.var["program"].unique())
    (50, ['aging', 'background', 'interferon', 'technical'])
    """
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n_samples)
    a = (age - 50) / np.sqrt(300.0)  # standardised (uniform sd = 60 / sqrt(12))
    ifn = rng.standard_normal(n_samples)
    batch = rng.permutation(np.arange(n_samples) % n_batches)
    disease = rng.random(n_samples) < 1 / (1 + np.exp(-(1.5 * a + 1.5 * ifn)))
    responder = rng.random(n_samples) < 1 / (1 + np.exp(-2.0 * ifn))
    tech = _MT + [f"TECH{i:02d}" for i in range(1, 8)]
    aging = [f"AGEPROG{i:02d}" for i in range(1, n_aging + 1)]
    background = _BACKGROUND_REAL + [f"BG{i:04d}" for i in range(1, n_background + 1)]
    genes = aging + IFN_GENES + tech + background
    program = (["aging"] * len(aging) + ["interferon"] * len(IFN_GENES)
               + ["technical"] * len(tech) + ["background"] * len(background))
    grng = np.random.default_rng(gene_seed)
    base = grng.normal(1.0, 0.7, len(genes))
    log_mean = np.tile(base, (n_samples, 1))
    cols = {p: np.array([q == p for q in program]) for p in ("aging", "interferon", "technical")}
    sign_age = grng.choice([-1.0, 1.0], cols["aging"].sum(), p=[0.3, 0.7])
    log_mean[:, cols["aging"]] += effect * a[:, None] * sign_age[None, :]
    log_mean[:, cols["interferon"]] += effect * ifn[:, None]
    shifts = grng.normal(0.0, 1.5, (n_batches, cols["technical"].sum()))
    log_mean[:, cols["technical"]] += shifts[batch]
    log_mean += rng.normal(0.0, 0.15, log_mean.shape)  # biological noise
    size = rng.lognormal(0.0, 0.25, n_samples)
    counts = rng.poisson(size[:, None] * np.exp(log_mean)).astype(np.float32)
    obs = pd.DataFrame({
        "age": age,
        "ifn_activity": ifn,
        "disease": pd.Categorical(np.where(disease, "case", "healthy"),
                                  categories=["healthy", "case"]),
        "response": pd.Categorical(np.where(disease, np.where(responder, "responder",
                                                                "non-responder"), None),
                                   categories=["non-responder", "responder"]),
        "batch": pd.Categorical([f"b{b}" for b in batch]),
    }, index=[f"s{i:05d}" for i in range(n_samples)])
    var = pd.DataFrame({"program": program}, index=genes)
    adata = ad.AnnData(X=counts, obs=obs, var=var)
    adata.uns["simulation"] = {"seed": seed, "gene_seed": gene_seed, "effect": effect,
                               "n_batches": n_batches,
                               "disease_logit": "1.5*age_std + 1.5*ifn",
                               "response_logit": "2.0*ifn (diseased only)"}
    return adata
