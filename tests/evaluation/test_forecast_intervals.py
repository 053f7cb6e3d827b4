"""Forecast intervals and the stronger time-series baselines: split-conformal coverage on data with known
Gaussian noise is within a few points of nominal at every horizon step; the served answer carries the
bounds; MSTL+ETS and gradient boosting on lags beat the naive forecast on a seasonal series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tfdl.evaluation.conformal import conformal_radii, coverage, interval_fields


def test_conformal_coverage_is_near_nominal_per_step_with_known_noise():
    rng = np.random.default_rng(0)
    h = 6
    sd = np.linspace(0.5, 3.0, h)  # the noise grows with the horizon, as forecasts' errors do

    def windows(n):
        signal = rng.normal(size=(n, 1)) + np.arange(h)
        return signal + rng.normal(size=(n, h)) * sd, signal + np.zeros((n, h))

    y_val, p_val = windows(3000)
    y_test, p_test = windows(3000)
    radii = conformal_radii(y_val, p_val, [0.8, 0.95])
    # The half-widths are the Gaussian quantiles of |noise|: 1.2816 sd and 1.96 sd.
    assert np.allclose(radii["0.8"], 1.2816 * sd, rtol=0.08)
    assert np.allclose(radii["0.95"], 1.96 * sd, rtol=0.08)
    cov = coverage(y_test, p_test, radii)
    for lv, c in cov.items():
        assert abs(c["coverage"] - float(lv)) < 0.02
        assert all(abs(v - float(lv)) < 0.03 for v in c["per_horizon"]), c["per_horizon"]


def test_served_answer_has_lower_and_upper_beside_each_value():
    meta = {"prediction_intervals": {"0.8": [1.0, 2.0], "0.95": [3.0, 4.0]}}
    rows = interval_fields([10.0, 20.0], meta)
    assert rows[1] == {"lower_80": 18.0, "upper_80": 22.0, "lower_95": 16.0, "upper_95": 24.0}
    assert interval_fields([1.0], {}) == [{}]


def _seasonal_splits(days: int = 70):
    from apps.timeseries import TimeseriesData, windows_to_splits
    from tfdl.data import timeseries as ts

    rng = np.random.default_rng(0)
    n = 48 * days
    t = np.arange(n)
    level = 10 + np.cumsum(rng.normal(scale=0.05, size=n))
    y = (
        level
        + 3 * np.sin(2 * np.pi * t / 48)
        + 1.5 * np.sin(2 * np.pi * t / 336)
        + rng.normal(scale=0.3, size=n)
    )
    df = pd.DataFrame({"time": pd.date_range("2020-01-01", periods=n, freq="30min"), "value": y})
    series = ts.frame_to_series(df, "time", "value", [], "interpolate")
    d = TimeseriesData(time_column="time", target="value", lookback=336, horizon=48, stride=4)
    return windows_to_splits(series, d, "synthetic", "test")


@pytest.mark.slow
def test_mstl_ets_and_hgb_on_lags_beat_naive_on_a_seasonal_series():
    from apps.timeseries import hgb_lags, mstl_ets, naive
    from tfdl.evaluation.metrics import forecast_metrics

    splits = _seasonal_splits()
    y = splits.y_test
    mae = {f.__name__: forecast_metrics(y, f(splits), None)["mae"] for f in (naive, mstl_ets, hgb_lags)}
    assert mae["mstl_ets"] < 0.6 * mae["naive"], mae
    assert mae["hgb_lags"] < 0.6 * mae["naive"], mae


def test_mstl_fits_are_shared_by_value_and_equal_a_fresh_fit(monkeypatch):
    """The seasonal member and the mstl_ets baseline ask for the same MSTL fits: the second ask of the same
    values and periods is served from the kept fit (one MSTL fit), a different end fits again, and the
    components equal a fresh statsmodels fit."""
    import statsmodels.tsa.seasonal as sm

    from tfdl.evaluation import forecast_baselines as fb

    t = np.arange(24 * 30)
    series = 10 + np.sin(2 * np.pi * t / 24) + 0.3 * np.sin(2 * np.pi * t / 168) + 0.01 * t
    fits, real = [], sm.MSTL.fit
    monkeypatch.setattr(sm.MSTL, "fit", lambda self, *a, **k: fits.append(1) or real(self, *a, **k))
    monkeypatch.setattr(fb, "_MSTL_FITS", {})
    a = fb.mstl_seasonal(series, 24 * 24, [24, 168])
    b = fb.mstl_seasonal(series.copy(), 24 * 24, [24, 168])
    assert len(fits) == 1 and np.array_equal(a, b)
    a[:] = 0  # callers own their copy: the kept fit is not changed through it
    assert np.array_equal(fb.mstl_seasonal(series, 24 * 24, [24, 168]), b) and len(fits) == 1
    c = fb.mstl_seasonal(series, 24 * 26, [24, 168])
    assert len(fits) == 2
    fresh = np.asarray(real(sm.MSTL(series[: 24 * 26], periods=[24, 168])).seasonal).sum(axis=1)
    np.testing.assert_allclose(c[: 24 * 26], fresh)
