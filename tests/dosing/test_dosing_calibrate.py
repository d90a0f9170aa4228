"""Few-shot site calibration (bio_mtl.dosing.calibrate, ``biomtl calibrate-dose``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli
from bio_mtl.dosing.calibrate import (
    _head_inputs,
    calibrate_site,
    read_calibration_table,
    select_offset,
)
from bio_mtl.dosing.conformal import TRANSFORMS, conformal_quantile
from bio_mtl.dosing.metrics import mae
from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.pretrained import load_pretrained
from bio_mtl.dosing.simulate import simulate_cohort
from bio_mtl.errors import ConfigError, MissingColumnError
from bio_mtl.mtl.estimator import load_estimator


@pytest.fixture(scope="module")
def shipped():
    return load_pretrained("warfarin_iwpc_v1")


@pytest.fixture(scope="module")
def site():
    """A new site whose stable doses run 30 % above the IWPC equation."""
    rows = simulate_cohort({"warfarin": 400}, seed=7)
    rows["dose_mg_per_week"] *= 1.3
    return rows


def _brute_loo(x, r, lam):
    out = []
    for i in range(len(r)):
        keep = np.arange(len(r)) != i
        coef = np.linalg.solve(x[keep].T @ x[keep] + lam * np.eye(x.shape[1]),
                               x[keep].T @ r[keep])
        out.append(r[i] - x[i] @ coef)
    return np.array(out)


def test_leave_one_out_equals_refitting_without_each_patient():
    rng = np.random.default_rng(0)
    t = rng.normal(6, 1, 30)
    z = rng.normal(size=(30, 3))
    obs = t + 0.4 + 0.2 * (t - 6) + 0.3 * z[:, 1] + rng.normal(0, 0.2, 30)
    for level in ("intercept", "scale", "head"):
        fit = select_offset(t, obs, features=z, levels=(level,), penalties=(3.0,))
        assert fit.level == level
        x = (np.column_stack([np.ones(30) if c == "intercept" else
                              t if c == "scale" else z[:, int(c[1:])] for c in fit.columns])
             - fit.center) / fit.spread
        np.testing.assert_allclose(fit.loo_residuals, _brute_loo(x, obs - t, 3.0),
                                   rtol=1e-10)


def test_intercept_is_shrunk_toward_the_global_head():
    # residuals 1, 2, 3 -> a = 6 / (3 + lam)
    fit = select_offset([5.0, 5.0, 5.0], [6.0, 7.0, 8.0], levels=("intercept",),
                        penalties=(3.0,))
    assert fit.coef[0] == pytest.approx(1.0)
    # one patient: no level is tried, the global head stays
    assert select_offset([5.0], [9.0]).level == "none"
    # pure noise around the global head: leave-one-out keeps it, or shrinks hard
    rng = np.random.default_rng(1)
    t = rng.normal(6, 1, 10)
    noise = select_offset(t, t + rng.normal(0, 0.5, 10), features=rng.normal(size=(10, 5)))
    assert noise.level in ("none", "intercept")
    assert abs(noise.offset(t, None).mean()) < 0.2


def test_bad_levels_or_penalties_are_config_errors():
    with pytest.raises(ConfigError, match="levels must be among"):
        select_offset([1.0, 2.0], [1.0, 2.0], levels=("slope",))
    with pytest.raises(ConfigError, match="penalties > 0"):
        select_offset([1.0, 2.0], [1.0, 2.0], penalties=(0.0,))


def test_calibrated_head_equals_the_closed_form_offset(shipped, site):
    first = site.iloc[:60]
    model, report = calibrate_site(shipped, first, levels=("scale", "head"),
                                   penalties=(1.0,))
    assert report["level"] in ("scale", "head")
    assert report["n_patients"] == 60
    t_g, z = _head_inputs(shipped, first, "warfarin")
    fit = select_offset(t_g, TRANSFORMS["sqrt"][0](first["dose_mg_per_week"].to_numpy()),
                        features=z, levels=("scale", "head"), penalties=(1.0,))
    rest = site.iloc[60:]
    t_rest, z_rest = _head_inputs(shipped, rest, "warfarin")
    expected = TRANSFORMS["sqrt"][1](t_rest + fit.offset(t_rest, z_rest))
    np.testing.assert_allclose(model.predict(rest), expected, rtol=2e-5)
    # the pathway layer is frozen and the input model untouched
    for (name, a), b in zip(shipped.module_.encoder.state_dict().items(),
                            model.module_.encoder.state_dict().values(), strict=True):
        assert bool((a == b).all()), name
    assert not np.allclose(shipped.predict(rest), model.predict(rest))


def test_mlp_head_is_scaled_with_the_linear_part():
    train = simulate_cohort({"warfarin": 150}, seed=3)
    model = DosingModel(hidden=4, epochs=3, batch_size=64, target="sqrt", seed=0).fit(train)
    site = simulate_cohort({"warfarin": 40}, seed=4)
    site["dose_mg_per_week"] *= 1.5
    calibrated, _ = calibrate_site(model, site, levels=("scale",), penalties=(1.0,))
    t_g, _ = _head_inputs(model, site, "warfarin")
    fit = select_offset(t_g, np.sqrt(site["dose_mg_per_week"].to_numpy()),
                        levels=("scale",), penalties=(1.0,))
    np.testing.assert_allclose(calibrated.predict(site),
                               np.square(t_g + fit.offset(t_g, None)), rtol=2e-5)


def test_a_shifted_site_is_corrected_and_five_patients_cannot_wreck_it(shipped, site):
    rest = site.iloc[100:]
    y = rest["dose_mg_per_week"]
    before = mae(y, shipped.predict(rest))
    after25 = mae(y, calibrate_site(shipped, site.iloc[:25])[0].predict(rest))
    assert after25 < 0.85 * before
    # an unshifted site: five patients (one with a 4x dose) barely move the model
    plain = simulate_cohort({"warfarin": 300}, seed=8)
    few = plain.iloc[:5].copy()
    few.iloc[0, few.columns.get_loc("dose_mg_per_week")] *= 4
    y = plain.iloc[5:]["dose_mg_per_week"]
    base = mae(y, shipped.predict(plain.iloc[5:]))
    moved = mae(y, calibrate_site(shipped, few)[0].predict(plain.iloc[5:]))
    assert moved < 1.05 * base


def test_interval_is_recalibrated_only_with_enough_patients(shipped, site):
    few, report = calibrate_site(shipped, site.iloc[:10], min_interval_patients=20)
    assert not report["interval"]["recalibrated"]
    assert few.conformal_q_["warfarin"] == shipped.conformal_q_["warfarin"]
    many, report = calibrate_site(shipped, site.iloc[:50], min_interval_patients=20)
    t_g, z = _head_inputs(shipped, site.iloc[:50], "warfarin")
    fit = select_offset(t_g, np.sqrt(site.iloc[:50]["dose_mg_per_week"].to_numpy()),
                        features=z)
    assert report["interval"]["recalibrated"]
    assert many.conformal_q_["warfarin"] == conformal_quantile(np.abs(fit.loo_residuals), 0.1)


def test_other_drugs_are_unchanged():
    train = simulate_cohort({"warfarin": 120, "phenytoin": 80}, seed=0)
    model = DosingModel(epochs=3, batch_size=64, seed=0).fit(train)
    site = simulate_cohort({"warfarin": 30, "phenytoin": 10}, seed=5)
    calibrated, report = calibrate_site(model, site[site["drug"] == "warfarin"])
    phen = site[site["drug"] == "phenytoin"]
    assert report["drug"] == "warfarin"
    np.testing.assert_array_equal(calibrated.predict(phen), model.predict(phen))


def _site_csv(tmp_path, rows, name="site.csv"):
    path = tmp_path / name
    rows.drop(columns=["stable"]).to_csv(path, index=False)
    return path


def test_cli_calibrates_saves_a_normal_model_and_dose_reads_it(tmp_path, shipped, site):
    data = _site_csv(tmp_path, site.iloc[:25])
    out = tmp_path / "cal"
    result = CliRunner().invoke(cli, ["calibrate-dose", "--model", "warfarin_iwpc_v1",
                                      "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "calibrated warfarin on 25 patients" in result.output
    assert "interval re-calibrated on 25 leave-one-out residuals" in result.output
    loaded = load_estimator(out)
    assert type(loaded) is DosingModel
    assert loaded.metadata_["calibration"]["n_patients"] == 25
    lib, _ = calibrate_site(shipped, read_calibration_table(data)[0])
    rest = _site_csv(tmp_path, site.iloc[25:60], "rest.csv")
    pred = tmp_path / "pred.csv"
    result = CliRunner().invoke(cli, ["dose", "--model", str(out), "--input", str(rest),
                                      "-o", str(pred)])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_csv(pred)["dose_mg_per_week"],
                               lib.predict(site.iloc[25:60]), atol=0.0051)  # 2 decimals


def test_cli_requires_the_outcome_column(tmp_path, site):
    data = _site_csv(tmp_path, site.iloc[:10].drop(columns=["dose_mg_per_week"]))
    out = tmp_path / "cal"
    result = CliRunner().invoke(cli, ["calibrate-dose", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 3
    assert "needs each patient's observed stable dose: no 'dose_mg_per_week' column" \
        in result.output
    assert not out.exists()
    with pytest.raises(MissingColumnError):
        read_calibration_table(data)


def test_cli_reports_bad_levels_as_config_errors(tmp_path, site):
    data = _site_csv(tmp_path, site.iloc[:10])
    result = CliRunner().invoke(cli, ["calibrate-dose", "--data", str(data), "--out",
                                      str(tmp_path / "cal"), "--levels", "intercept,slope"])
    assert result.exit_code == 4
    assert "levels must be among none, intercept, scale, head" in result.output
