"""scikit-learn-style common checks over every estimator kind of the engine's registry.

Every key of :data:`bio_mtl.mtl.estimator.ESTIMATORS` must be made by one application's
``tests/<app>/estimator_factory.py``: ``KINDS`` names the kinds it makes and
``make(kind, seed) -> (unfitted estimator, fit keyword arguments, predict(fitted))`` builds a
tiny one (in the spirit of scikit-learn's ``check_estimator``). A kind without a factory fails
here, so a new estimator cannot be registered without passing these checks.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bio_mtl.errors import NotFittedError
from bio_mtl.mtl.estimator import ESTIMATORS, Estimator, load_estimator

TESTS = Path(__file__).parent


@functools.cache
def _factories() -> dict[str, object]:
    """``{kind: factory module}`` from every ``tests/*/estimator_factory.py``."""
    found = {}
    for path in sorted(TESTS.glob("*/estimator_factory.py")):
        spec = importlib.util.spec_from_file_location(
            f"_estimator_factory_{path.parent.name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for kind in module.KINDS:
            assert kind not in found, f"{path}: kind {kind!r} is also made by {found[kind]}"
            found[kind] = module
    return found


def _factory(kind: str):
    factories = _factories()
    if kind not in factories:
        pytest.fail(f"no tests/<app>/estimator_factory.py lists kind {kind!r} in its KINDS; "
                    f"every kind of ESTIMATORS needs one (factories found for "
                    f"{', '.join(sorted(factories)) or 'no kind'})", pytrace=False)
    return factories[kind]


def _make(kind: str, seed: int = 0):
    est, fit, predict = _factory(kind).make(kind, seed)
    assert isinstance(est, Estimator) and est.kind == kind
    return est, fit, predict


@functools.cache
def _fitted(kind: str):
    """One fitted estimator per kind, shared by the checks (fitting is the slow part)."""
    est, fit, predict = _make(kind)
    params = est.get_params()
    returned = est.fit(**fit)
    return est, returned, params, predict, predict(est)


def _assert_same_predictions(a, b, what: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), what
        for key in a:
            _assert_same_predictions(a[key], b[key], f"{what}[{key!r}]")
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, what
    assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), what


def _params_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert np.array_equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


KINDS = sorted(ESTIMATORS)


def test_every_factory_kind_is_registered():
    stray = sorted(set(_factories()) - set(ESTIMATORS))
    assert not stray, f"factories make kinds that ESTIMATORS does not know: {stray}"


@pytest.mark.parametrize("kind", KINDS)
def test_get_params_set_params_round_trip(kind):
    est, _, _ = _make(kind)
    params = est.get_params()
    assert est.set_params(**params) is est
    _params_equal(est.get_params(), params)
    assert repr(est).startswith(type(est).__name__ + "(")


@pytest.mark.parametrize("kind", KINDS)
def test_fit_returns_self(kind):
    est, returned, params, _, _ = _fitted(kind)
    assert returned is est
    assert est.is_fitted()
    _params_equal(est.get_params(), params)  # fit does not change the hyperparameters


@pytest.mark.parametrize("kind", KINDS)
def test_not_fitted_errors(kind, tmp_path):
    est, _, predict = _make(kind)
    with pytest.raises(NotFittedError):
        predict(est)
    with pytest.raises(NotFittedError):
        est.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind, tmp_path):
    est, _, params, predict, expected = _fitted(kind)
    est.save(tmp_path / "m")
    back = load_estimator(tmp_path / "m")  # through the registry, by the saved kind
    assert type(back) is type(est)
    _params_equal(back.get_params(), params)
    _assert_same_predictions(predict(back), expected, f"{kind}: predictions after load")
    again = type(est).load(tmp_path / "m")
    _assert_same_predictions(predict(again), expected, f"{kind}: {type(est).__name__}.load")


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_predictions(kind):
    _, _, _, predict, expected = _fitted(kind)
    est, fit, _ = _make(kind, seed=0)
    _assert_same_predictions(predict(est.fit(**fit)), expected, f"{kind}: refit, seed 0")
