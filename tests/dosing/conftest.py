"""Fixtures for the dosing tests.

``genotype_layer``: the real ``bio_mtl.dosing.genotypes`` when it is importable; otherwise a
tiny stand-in with the same API (CPIC CYP2C9 activity values *1 = 1, *2 = 0.5, *3 = 0) so the
model/CLI tests can run while the genotype layer is being written.
"""

from __future__ import annotations

import math
import sys
import types

import pytest


def _stand_in() -> types.ModuleType:
    from bio_mtl.errors import UnknownAlleleError

    mod = types.ModuleType("bio_mtl.dosing.genotypes")
    table = {"CYP2C9": {"*1": 1.0, "*2": 0.5, "*3": 0.0, "*5": 0.0, "*6": 0.0, "*8": 0.5,
                        "*11": 0.5, "*13": 0.0},
             "CYP2C19": {"*1": 1.0, "*2": 0.0, "*3": 0.0, "*17": 1.5}}

    def activity_score(gene, diplotype):
        alleles = diplotype.replace(" ", "").split("/")
        for a in alleles:
            if a not in table.get(gene, {}):
                raise UnknownAlleleError(f"{gene} allele {a!r} is not defined")
        return sum(table[gene][a] for a in alleles)

    def phenotype(gene, score):
        return "normal metabolizer" if score >= 2 else "intermediate metabolizer" \
            if score >= 1 else "poor metabolizer"

    class PatientGenotype:
        def __init__(self):
            self.diplotypes, self.variants, self.activity, self.phenotypes = {}, {}, {}, {}
            self.warnings = []
            self._f = dict.fromkeys(["CYP2C9_activity", "CYP2C9_star2_count",
                                     "CYP2C9_star3_count", "CYP2C19_activity",
                                     "VKORC1_1639A_count", "CYP4F2_rs2108622_T_count"], math.nan)

        def features(self):
            return dict(self._f)

    def parse_genotype_string(text):
        g = PatientGenotype()
        for part in filter(None, (p.strip() for p in text.split(";"))):
            gene, _, value = part.partition("=")
            if gene in table:
                score = activity_score(gene, value)
                g.diplotypes[gene], g.activity[gene] = value, score
                g.phenotypes[gene] = phenotype(gene, score)
                g._f[f"{gene}_activity"] = score
                if gene == "CYP2C9":
                    g._f["CYP2C9_star2_count"] = value.split("/").count("*2")
                    g._f["CYP2C9_star3_count"] = value.split("/").count("*3")
            elif gene == "VKORC1":
                g._f["VKORC1_1639A_count"] = value.split(":")[-1].count("A")
            else:
                raise UnknownAlleleError(f"unknown gene {gene!r}")
        return g

    mod.activity_score, mod.phenotype = activity_score, phenotype
    mod.parse_genotype_string, mod.PatientGenotype = parse_genotype_string, PatientGenotype
    return mod


@pytest.fixture(autouse=True)
def genotype_layer(monkeypatch):
    try:
        import bio_mtl.dosing.genotypes as real
        return real
    except ImportError:
        import bio_mtl.dosing

        mod = _stand_in()
        monkeypatch.setitem(sys.modules, "bio_mtl.dosing.genotypes", mod)
        monkeypatch.setattr(bio_mtl.dosing, "genotypes", mod, raising=False)
        return mod
