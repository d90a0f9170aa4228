import math

import numpy as np
import pytest

from bio_mtl.dosing.conformal import conformal_interval, conformal_quantile
from bio_mtl.dosing.metrics import (
    coverage,
    dose_metrics,
    grouped_metrics,
    mae,
    pw20,
    r2,
    range_metrics,
)


def test_pw20_five_patients():
    # |err| / true: 2/10=0.2 (in), 5/20=0.25 (out), 0 (in), 9/40=0.225 (out), 10/50=0.2 (in)
    assert pw20([10, 20, 30, 40, 50], [12, 25, 30, 31, 60]) == pytest.approx(3 / 5)


def test_mae_r2_by_hand():
    assert mae([10, 20, 30], [12, 20, 27]) == pytest.approx(5 / 3)
    # SS_res = 1, SS_tot = 2 -> 0.5
    assert r2([1, 2, 3], [1, 2, 4]) == pytest.approx(0.5)
    assert math.isnan(mae([], []))


def test_dose_metrics_ignore_nan_and_groups():
    m = dose_metrics([10, 20, np.nan], [11, 18, 5])
    assert m["n"] == 2 and m["mae"] == pytest.approx(1.5) and m["pw20"] == 1.0
    g = grouped_metrics([10, 20, 30], [10, 25, 30], ["a", "b", "a"])
    assert g["a"]["mae"] == 0 and g["b"]["mae"] == 5


def test_dose_ranges_use_actual_dose():
    r = range_metrics([14, 21, 35, 49, 70], [14, 30, 35, 40, 70])
    assert r["low (<=21)"]["n"] == 2 and r["low (<=21)"]["mae"] == pytest.approx(4.5)
    assert r["high (>=49)"]["n"] == 2 and r["high (>=49)"]["mae"] == pytest.approx(4.5)
    assert r["intermediate"]["n"] == 1


def test_coverage_and_conformal_quantile():
    assert coverage([1, 2, 3, 4], [0, 2.5, 2, 3], [2, 3, 4, 5]) == 0.75
    # n=9, alpha=0.2: k = ceil(10 * 0.8) = 8 -> 8th smallest = 0.8
    assert conformal_quantile(np.arange(1, 10) / 10, 0.2) == pytest.approx(0.8)
    assert conformal_quantile([0.1, 0.2], 0.1) == math.inf
    lo, hi = conformal_interval([35.0], math.log(1.25), transform="log")
    assert lo[0] == pytest.approx(28.0) and hi[0] == pytest.approx(43.75)
