import numpy as np

from bio_mtl.dosing.metrics import coverage
from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.simulate import simulate_cohort


def test_conformal_coverage_on_simulated_patients():
    train = simulate_cohort({"phenytoin": 800}, seed=4)
    test = simulate_cohort({"phenytoin": 1000}, seed=5)
    model = DosingModel(seed=0, epochs=40, alpha=0.2, calibration_fraction=0.3).fit(train)
    _, lo, hi = model.predict_interval(test)
    cov = coverage(test["dose_mg_per_week"], lo, hi)
    # nominal 80 %; with ~240 calibration patients the coverage is 0.8 +- ~0.05
    assert 0.74 <= cov <= 0.88
    assert np.all(lo < hi)
