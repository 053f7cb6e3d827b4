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
