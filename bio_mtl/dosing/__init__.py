"""Pharmacogenomic dosing: genotypes, the IWPC cohort and algorithms, and DosingModel.

Names are resolved lazily (PEP 562) so ``import bio_mtl.dosing`` does not import torch.

References
----------
Klein TE et al. (IWPC). Estimation of the warfarin dose with clinical and pharmacogenetic
data. N Engl J Med 2009;360:753-64. CPIC guidelines, https://cpicpgx.org.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    # genotype layer
    "parse_genotype_string": "genotypes", "activity_score": "genotypes",
    "phenotype": "genotypes", "diplotype_phenotype": "genotypes",
    "PatientGenotype": "genotypes", "genotype_from_vcf": "vcf",
    "allele_table": "alleles",
    # cohort, features and published algorithms
    "read_iwpc": "iwpc", "IWPCCohort": "iwpc", "iwpc_pharmacogenetic_dose": "iwpc",
    "iwpc_clinical_dose": "iwpc", "impute_vkorc1": "iwpc", "tidy_patients": "features",
    "feature_table": "features", "read_dose_table": "features",
    "read_training_table": "features",
    # models, intervals, evaluation
    "DosingModel": "model", "PATHWAYS": "pathway", "conformal_quantile": "conformal",
    "conformal_interval": "conformal", "cross_validate": "evaluate",
    "evaluate_cohort": "evaluate", "simulate_cohort": "simulate", "SIM_DRUGS": "simulate",
    "load_pretrained": "pretrained", "warfarin_iwpc_v1": "pretrained",
    "add_drugs": "continual", "predict_patient": "predict", "predict_table": "predict",
    "warfarin_warnings": "advice",
    "read_params": "params",
    # metrics
    "mae": "metrics", "pw20": "metrics", "r2": "metrics", "dose_metrics": "metrics",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
