"""Time-series data rules: chronological split without leakage, window shapes, gap rules, baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tfdl.data import timeseries as ts
from tfdl.errors import TfdlError


def _frame(n: int = 200, step: str = "30min") -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=n, freq=step)
    return pd.DataFrame({"when": t, "load": np.arange(n, dtype=float), "temp": np.arange(n) * 0.5})


def test_windows_cut_the_right_values_with_shapes():
    values = np.stack([np.arange(100.0), np.arange(100.0) * 10], axis=1)  # value = its own index
    origins = np.array([5, 40, 90])
    x, y = ts.make_windows(values, origins, lookback=5, horizon=10)
    assert x.shape == (3, 5, 2) and y.shape == (3, 10)
    np.testing.assert_array_equal(x[1, :, 0], np.arange(35, 40))
    np.testing.assert_array_equal(x[1, :, 1], np.arange(35, 40) * 10)
    np.testing.assert_array_equal(y[2], np.arange(90, 100))
    with pytest.raises(ValueError):
        ts.make_windows(values, np.array([91]), lookback=5, horizon=10)


def test_no_window_straddles_a_split_and_no_test_time_is_in_training():
    n, lookback, horizon = 1000, 48, 24
    w = ts.split_windows(
        np.arange(n, dtype=np.float32), lookback, horizon, val_fraction=0.15, test_fraction=0.15
    )
    train_end, val_end = w.bounds
    assert (train_end, val_end) == (700, 850)
    covered = {}
    for part, (lo, hi) in {
        "train": (0, train_end),
        "val": (train_end, val_end),
        "test": (val_end, n),
    }.items():
        x, y = w.x[part], w.y[part]
        assert x.shape == (len(w.origins[part]), lookback, 1) and y.shape == (len(x), horizon)
        # values equal their time index, so the window contents ARE the time steps they cover
        steps = np.concatenate([x[..., 0].ravel(), y.ravel()])
        assert steps.min() >= lo and steps.max() < hi, part
        covered[part] = set(steps.astype(int))
    assert not covered["train"] & covered["test"] and not covered["train"] & covered["val"]
    # every admissible test origin is used (stride 1): the last one forecasts the final step
    assert w.origins["test"][0] == val_end + lookback and w.origins["test"][-1] == n - horizon


def test_train_stride_and_statistics_use_training_part_only():
    values = np.concatenate([np.zeros(700), np.full(300, 100.0)])[:, None]
    mean, std = ts.train_statistics(values, 700)
    assert mean[0] == 0 and std[0] == 1.0  # constant training feature: std 1, and the test jump is unseen
    w = ts.split_windows(values, 10, 5, val_fraction=0.15, test_fraction=0.15, stride=4)
    assert np.all(np.diff(w.origins["train"]) == 4) and np.all(np.diff(w.origins["test"]) == 1)


def test_too_short_series_is_a_clear_error():
    with pytest.raises(TfdlError, match="lookback \\+ horizon = 96"):
        ts.split_windows(np.zeros((300, 1)), 48, 48, val_fraction=0.15, test_fraction=0.15)


@pytest.mark.parametrize("folds, stride", [(3, 1), (5, 2)])
def test_rolling_origin_folds_are_chronological_disjoint_and_test_every_origin_once(folds, stride):
    """tfdl cv timeseries: fold k trains on everything before its validation block, which ends where its
    test block begins; the test blocks are contiguous, disjoint, at least one horizon long, in time order,
    and together test every forecast origin of the last test_fraction exactly once. Windows hold the
    values at their indices (value = index), so no training or validation target reaches the test block."""
    n, lookback, horizon = 600, 24, 12
    values = np.stack([np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32) * 2], axis=1)
    first = round(n * 0.85)
    tested, last_test = [], -1
    for k in range(folds):
        w = ts.rolling_windows(values, lookback, horizon, folds=folds, fold=k, val_fraction=0.15,
                               test_fraction=0.15, stride=stride)  # fmt: skip
        train_end, val_end = w.bounds
        o = w.origins
        assert train_end == val_end - round(n * 0.15) and val_end == o["test"][0] > last_test
        assert len(o["test"]) >= horizon and np.all(np.diff(o["test"]) == 1)
        # training targets end before validation starts; validation targets end before the test block
        assert o["train"].max() + horizon <= train_end and o["train"].min() - lookback >= 0
        assert o["val"].min() == train_end and o["val"].max() + horizon <= val_end
        assert np.all(np.diff(o["train"]) == stride)
        for part in ("train", "val", "test"):
            np.testing.assert_array_equal(w.y[part][:, 0], o[part])  # the target at the origin
            np.testing.assert_array_equal(w.x[part][:, -1, 0], o[part] - 1)  # input up to the origin
            np.testing.assert_array_equal(w.x[part][:, 0, 1], (o[part] - lookback) * 2)
        assert w.y["train"].max() < train_end and w.y["val"].max() < val_end
        tested.extend(o["test"].tolist())
        last_test = o["test"][-1]
    assert sorted(tested) == tested == list(range(first, n - horizon + 1))  # each origin tested once


def test_rolling_origin_too_short_series_names_the_fix():
    values = np.arange(300, dtype=np.float32)
    # the last 45 steps hold 34 origins: fewer than 5 folds x 12
    with pytest.raises(
        TfdlError, match=r"too short for 5 rolling folds.*fewer than folds x horizon = 60.*fewer --folds"
    ):
        ts.rolling_windows(values, 24, 12, folds=5, fold=0, val_fraction=0.15, test_fraction=0.15)
    # room for the test blocks, none for the first fold's training part
    with pytest.raises(TfdlError, match=r"too short for 2 rolling folds: the first fold would train on"):
        ts.rolling_windows(values, 200, 12, folds=2, fold=1, val_fraction=0.15, test_fraction=0.15)


def test_seasonal_naive_is_exact_on_a_periodic_series_and_never_looks_ahead():
    t = np.arange(2000)
    sine = np.sin(2 * np.pi * t / 48)
    origins = np.arange(400, 1900, 7)
    pred = ts.seasonal_naive_forecast(sine, origins, 48, season=48)
    truth = sine[origins[:, None] + np.arange(48)]
    np.testing.assert_allclose(pred, truth, atol=1e-12)
    # a longer horizon than the season wraps back whole seasons: still only past values
    marker = np.arange(2000, dtype=float)
    pred = ts.seasonal_naive_forecast(marker, origins, 100, season=48)
    assert np.all(pred < origins[:, None])
    np.testing.assert_array_equal(pred[0, :3], [400 - 48, 401 - 48, 402 - 48])
    np.testing.assert_array_equal(pred[0, 48:51], [400 - 48, 401 - 48, 402 - 48])
    # too little history for the season: the last value stands in
    np.testing.assert_array_equal(ts.seasonal_naive_forecast(marker, np.array([10]), 3, 336)[0], [9, 9, 9])


def test_naive_repeats_the_last_value():
    s = np.arange(50.0)
    np.testing.assert_array_equal(ts.naive_forecast(s, np.array([10, 20]), 3), [[9, 9, 9], [19, 19, 19]])


def test_regular_frame_passes_through_with_target_first():
    s = ts.frame_to_series(_frame(), "when", "temp", ["load"])
    assert s.columns == ["temp", "load"] and s.values.shape == (200, 2) and s.notes == []
    assert s.step == pd.Timedelta("30min")
    np.testing.assert_allclose(s.target, np.arange(200) * 0.5)


@pytest.mark.parametrize("fill, expected", [("interpolate", 10.0), ("ffill", 9.0)])
def test_gaps_are_filled_by_the_stated_rule_and_reported(fill, expected):
    df = _frame().drop(index=[10, 11]).reset_index(drop=True)
    df.loc[50, "temp"] = np.nan
    s = ts.frame_to_series(df, "when", "load", ["temp"], fill)
    assert len(s.times) == 200 and s.values[10, 0] == expected
    assert "2 missing time steps" in s.notes[0] and "1 empty cells" in s.notes[0] and fill in s.notes[0]


def test_gaps_with_fill_error_stop_the_run():
    df = _frame().drop(index=[10]).reset_index(drop=True)
    with pytest.raises(TfdlError, match="1 missing time steps.*data.fill=interpolate"):
        ts.frame_to_series(df, "when", "load", [], "error")


def test_off_grid_timestamps_are_put_on_the_grid():
    df = _frame(100)
    df.loc[30, "when"] = df.loc[30, "when"] + pd.Timedelta("5min")  # irregular stamp
    s = ts.frame_to_series(df, "when", "load", [], "interpolate")
    assert len(s.times) == 100 and "1 off-grid" in s.notes[0]
    assert s.values[30, 0] == pytest.approx(30.0, abs=1.0)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.assign(when=d["when"].where(d.index != 5, d["when"][4])), "duplicate timestamp"),
        (lambda d: d.iloc[[*range(10), 12, 11, *range(13, 200)]], "must increase"),
        (lambda d: d.assign(load=d["load"].astype(object).where(d.index != 7, "n/a")), "must be numeric"),
        (lambda d: d.assign(when=d["when"].astype(str).where(d.index != 3, "yesterday")), "dates/times"),
    ],
)
def test_bad_frames_are_clear_errors(mutate, message):
    with pytest.raises(TfdlError, match=message):
        ts.frame_to_series(mutate(_frame()), "when", "load", [])


def test_missing_columns_name_the_fix():
    with pytest.raises(TfdlError, match="data.target=COLUMN; the file has columns: when, load, temp"):
        ts.frame_to_series(_frame(), "when", None)
    with pytest.raises(TfdlError, match="'nope' is not a column"):
        ts.frame_to_series(_frame(), "when", "load", ["nope"])


@pytest.mark.parametrize(
    "freq, kind, lags",
    [
        ("MS", pd.offsets.MonthBegin, {"year": 12}),
        ("ME", pd.offsets.MonthEnd, {"year": 12}),
        ("QS", pd.offsets.MonthBegin, {"year": 4}),
        ("W", pd.Timedelta, {"year": 52}),
        ("D", pd.Timedelta, {"week": 7, "year": 365}),
        ("30min", pd.Timedelta, {"day": 48, "week": 336, "year": 17520}),
    ],
)
def test_calendar_steps_keep_their_grid_and_name_their_seasons(freq, kind, lags):
    """Monthly data is whole months (not a 31-day grid that interpolates a point into every short month)."""
    df = _frame(60, freq)
    s = ts.frame_to_series(df, "when", "load")
    assert isinstance(s.step, kind) and s.notes == [] and len(s.times) == 60
    np.testing.assert_array_equal(s.target, np.arange(60.0))
    assert ts.seasonal_lags(s.step) == lags
    assert ts.step_str(ts.parse_step(ts.step_str(s.step))) == ts.step_str(s.step)


def test_monthly_series_on_the_15th_with_a_missing_month_is_repaired_on_whole_months():
    t = [pd.Timestamp("2001-01-15") + pd.DateOffset(months=k) for k in range(36)]
    df = pd.DataFrame({"when": t, "load": np.arange(36.0)}).drop(index=[7]).reset_index(drop=True)
    s = ts.frame_to_series(df, "when", "load")
    assert len(s.times) == 36 and all(pd.DatetimeIndex(s.times).day == 15)
    assert s.target[7] == pytest.approx(7.0, abs=0.1) and "1 missing time steps" in s.notes[0]


def test_data_limit_cuts_the_training_windows_and_their_origins_together():
    """`--set data.limit=N` keeps N training windows; the forecast origins the lag baselines read are cut to
    the same windows (they were not: hgb_lags stopped on arrays of different lengths)."""
    from apps.timeseries import APP
    from tfdl.evaluation.forecast_baselines import lag_features
    from tfdl.pipeline import load_splits, resolve_config

    splits = load_splits(APP, resolve_config(APP, {}, ["data.limit=300"]))
    e = splits.info.extra
    origins = e["origins"]["train"]
    assert len(splits.x_train) == len(origins) == 300
    # each window ends just before its origin: its last target value is the series' value there
    np.testing.assert_allclose(splits.x_train[:, -1, 0], e["series"][origins - 1], rtol=1e-6)
    horizon = splits.y_train.shape[1]
    assert len(lag_features(splits.x_train, origins, horizon, [48])) == 300 * horizon
