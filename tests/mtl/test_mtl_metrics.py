"""The engine's metrics against scikit-learn and SciPy."""

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn import metrics as skm

from bio_mtl.mtl import metrics as M

RNG = np.random.default_rng(0)
Y3 = RNG.integers(0, 3, 300)
P3 = np.where(RNG.random(300) < 0.6, Y3, RNG.integers(0, 3, 300))
YB = RNG.integers(0, 2, 300)
SCORE = YB + RNG.normal(size=300)
YR = RNG.normal(size=300)
PR = YR + RNG.normal(scale=0.7, size=300)


def test_classification_metrics_equal_scikit_learn():
    assert M.accuracy(Y3, P3) == pytest.approx(skm.accuracy_score(Y3, P3), abs=1e-12)
    assert M.macro_f1(Y3, P3) == pytest.approx(skm.f1_score(Y3, P3, average="macro"),
                                               abs=1e-12)
    assert M.mcc(YB, SCORE > 0.5) == pytest.approx(skm.matthews_corrcoef(YB, SCORE > 0.5),
                                                   abs=1e-12)
    assert M.auroc(YB, SCORE) == pytest.approx(skm.roc_auc_score(YB, SCORE), abs=1e-12)
    ties = np.round(SCORE)  # ties count one half, as in scikit-learn
    assert M.auroc(YB, ties) == pytest.approx(skm.roc_auc_score(YB, ties), abs=1e-12)


def test_regression_metrics_equal_references():
    assert M.pearson(YR, PR) == pytest.approx(pearsonr(YR, PR)[0], abs=1e-12)
    assert M.mae(YR, PR) == pytest.approx(skm.mean_absolute_error(YR, PR), abs=1e-12)
    assert M.mse(YR, PR) == pytest.approx(skm.mean_squared_error(YR, PR), abs=1e-12)
    assert M.r2(YR, PR) == pytest.approx(skm.r2_score(YR, PR), abs=1e-12)


@pytest.mark.parametrize(("fn", "args"), [
    (M.pearson, ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])),
    (M.pearson, ([1.0], [2.0])),
    (M.auroc, ([1, 1], [0.2, 0.3])),
    (M.mcc, ([1, 1, 1], [1, 1, 1])),
    (M.r2, ([2.0, 2.0], [1.0, 3.0])),
    (M.accuracy, ([], [])),
])
def test_undefined_values_are_nan_without_warnings(fn, args):
    assert np.isnan(fn(*args))
