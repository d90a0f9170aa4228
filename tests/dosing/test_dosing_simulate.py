import pytest

from bio_mtl.dosing.simulate import ALLELE_FREQUENCIES, learning_curve, simulate_cohort


def test_simulator_frequencies_and_direction():
    sim = simulate_cohort({"celecoxib": 4000, "clopidogrel": 4000}, seed=0)
    white = sim[(sim["ancestry"] == "white") & (sim["drug"] == "celecoxib")]
    star2 = white["cyp2c9"].str.count(r"\*2\b").sum() / (2 * len(white))
    assert star2 == pytest.approx(ALLELE_FREQUENCIES["CYP2C9"]["white"]["*2"], abs=0.02)
    cel = sim[sim["drug"] == "celecoxib"]
    clo = sim[sim["drug"] == "clopidogrel"]
    # substrate: poor CYP2C9 function -> lower dose; prodrug: poor CYP2C19 -> higher dose
    assert cel[cel["true_cyp2c9_activity"] == 0]["dose_mg_per_week"].median() < \
        cel[cel["true_cyp2c9_activity"] == 2]["dose_mg_per_week"].median()
    assert clo[clo["true_cyp2c19_activity"] == 0]["dose_mg_per_week"].median() > \
        clo[clo["true_cyp2c19_activity"] == 2]["dose_mg_per_week"].median()


def test_shared_pathways_beat_independent_on_data_poor_drug():
    curve = learning_curve(sizes=(25,), n_rich=400, n_test=800, seeds=(0,),
                           model_params={"epochs": 60})
    row = curve.iloc[0]
    assert row["shared_mae"] < row["independent_mae"]
    assert row["shared_mae"] < row["ridge_mae"]
    assert row["spearman_cyp2c9"] > 0.9
