"""Time series: read a frame, make its time axis regular, split it in time order, cut windows.

The rules that keep a forecast evaluation honest live here:

* the split is chronological (train, then val, then test) and a window never straddles two parts;
* every statistic used for scaling comes from the training part only (:func:`train_statistics`);
* baselines that look back (seasonal naive) read the full series by index, never past the forecast origin.

Shapes: a series of ``T`` steps with ``F`` features is ``values (T, F)``; windows are
``x (n, lookback, F)`` and ``y (n, horizon)``; ``origins (n,)`` is the index of each window's first
forecast step (``x`` covers ``[origin - lookback, origin)``, ``y`` covers ``[origin, origin + horizon)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfdl.errors import TfdlError

FILL_RULES = ("interpolate", "ffill", "error")


@dataclass
class Series:
    """A regular time series: ``times (T,)`` datetime64, ``values (T, F)`` float32, ``columns`` (F names).

    ``columns[0]`` is the target. ``step`` is the regular spacing (a ``pd.Timedelta``, or a calendar offset
    for monthly/quarterly/yearly data); ``notes`` tell what was repaired.
    """

    times: np.ndarray
    values: np.ndarray
    columns: list[str]
    step: pd.Timedelta | pd.DateOffset
    notes: list[str]

    @property
    def target(self) -> np.ndarray:
        return self.values[:, 0]


# --------------------------------------------------------------------------- reading


def read_csv(path: str | Path) -> pd.DataFrame:
    """A time series CSV, read strictly (:func:`tfdl.data.csvfile.read_csv`)."""
    from tfdl.data.csvfile import read_csv as read

    return read(path, "--data for timeseries expects a .csv file with a time column and value columns",
                suffixes=(".csv", ".txt"))  # fmt: skip


def _check_column(df: pd.DataFrame, name: str | None, key: str) -> str:
    cols = ", ".join(map(str, df.columns))
    if not name:
        raise TfdlError(f"timeseries CSV needs --set {key}=COLUMN; the file has columns: {cols}")
    if name not in df.columns:
        raise TfdlError(f"{key}='{name}' is not a column of the CSV; columns are: {cols}")
    return name


def _numeric(df: pd.DataFrame, col: str, key: str) -> np.ndarray:
    raw = df[col]
    vals = pd.to_numeric(raw, errors="coerce")
    bad = vals.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise TfdlError(
            f"{key} column '{col}' must be numeric; row {i + 1} holds {raw.iloc[i]!r} (clean the file "
            "or pick another column)"
        )
    return vals.to_numpy(dtype=np.float64)


def parse_times(raw: pd.Series, col: str) -> pd.DatetimeIndex:
    try:
        times = pd.to_datetime(raw, errors="raise")
    except (ValueError, TypeError) as exc:
        raise TfdlError(f"time column '{col}' must hold dates/times; {str(exc).splitlines()[0]}") from None
    if times.isna().any():
        i = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise TfdlError(f"time column '{col}' is empty in row {i + 1}; every row needs a timestamp")
    return pd.DatetimeIndex(times)


def frame_to_series(
    df: pd.DataFrame,
    time_column: str | None,
    target: str | None,
    covariates: list[str] | None = None,
    fill: str = "interpolate",
) -> Series:
    """Check and regularize a user frame: target first, then covariates, on a regular time grid.

    Duplicate or decreasing timestamps are errors (the user must decide what they mean). Missing
    grid points, off-grid timestamps and empty cells are repaired by ``fill`` (``interpolate``:
    linear in time; ``ffill``: carry the last value) or, with ``fill="error"``, stop the run.
    """
    if fill not in FILL_RULES:
        raise TfdlError(f"data.fill must be one of {', '.join(FILL_RULES)}; got {fill!r}")
    tcol = _check_column(df, time_column, "data.time_column")
    ycol = _check_column(df, target, "data.target")
    covs = [_check_column(df, c, "data.covariates") for c in (covariates or [])]
    if ycol in covs or tcol in [ycol, *covs]:
        raise TfdlError("data.target, data.covariates and data.time_column must name different columns")
    times = parse_times(df[tcol], tcol)
    dup = times.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise TfdlError(
            f"duplicate timestamp {times[i]} in column '{tcol}' (row {i + 1}); keep one row per time step "
            f"({int(dup.sum())} duplicates)"
        )
    if not times.is_monotonic_increasing:
        i = int(np.flatnonzero(np.diff(times.to_numpy()) < np.timedelta64(0))[0]) + 1
        raise TfdlError(
            f"timestamps in '{tcol}' must increase; row {i + 1} ({times[i]}) comes before row {i} "
            f"({times[i - 1]}): sort the file by time"
        )
    cols = [ycol, *covs]
    values = np.stack([_numeric(df, c, "data.target" if c == ycol else "data.covariates") for c in cols], 1)
    return regularize(times, values, cols, fill)


# Calendar steps: a most common gap in this many days means whole months (so monthly data is not put on a
# 31-day grid). (lowest, highest) days -> months per step.
_CALENDAR = (((28, 31), 1), ((89, 92), 3), ((181, 184), 6), ((365, 366), 12))


def infer_step(times: pd.DatetimeIndex) -> pd.Timedelta | pd.DateOffset:
    """The most common spacing between consecutive timestamps (robust to a few gaps).

    A fixed spacing (seconds to weeks) is a ``pd.Timedelta``; whole months, quarters, half-years and years are
    calendar offsets (``MonthBegin``/``MonthEnd`` when every stamp is the first/last day of its month), since
    their length in days varies.
    """
    if len(times) < 2:
        raise TfdlError(f"need at least 2 timestamps to infer the time step; got {len(times)}")
    # timedelta64 diffs keep their unit (pandas 3 may store datetimes in us, not ns).
    vals, counts = np.unique(np.diff(times.to_numpy()), return_counts=True)
    common = pd.Timedelta(vals[np.argmax(counts)])
    days = common / pd.Timedelta(days=1)
    for (lo, hi), months in _CALENDAR:
        if lo <= days <= hi:
            if (times.day == 1).all():
                return pd.offsets.MonthBegin(months)
            if times.is_month_end.all():
                return pd.offsets.MonthEnd(months)
            return pd.DateOffset(months=months)
    return common


def step_str(step: pd.Timedelta | pd.DateOffset) -> str:
    """A step as text that :func:`parse_step` reads back ("30min", "D", "MS", "3ME", "1months")."""
    if isinstance(step, pd.Timedelta):
        return pd.tseries.frequencies.to_offset(step).freqstr
    if type(step) is pd.DateOffset:
        return f"{step.months}months"
    return step.freqstr


def parse_step(text: str) -> pd.Timedelta | pd.DateOffset:
    if text.endswith("months"):
        return pd.DateOffset(months=int(text[: -len("months")]))
    off = pd.tseries.frequencies.to_offset(text)
    return off if isinstance(off, (pd.offsets.MonthBegin, pd.offsets.MonthEnd)) else pd.Timedelta(off)


def step_grid(start, periods: int, step: pd.Timedelta | pd.DateOffset) -> pd.DatetimeIndex:
    """``periods`` stamps ``start, start + step, ...`` (calendar steps keep the day of the month)."""
    if type(step) is pd.DateOffset:  # not anchored: start + k months, never drifting after a short month
        return pd.DatetimeIndex(
            [pd.Timestamp(start) + pd.DateOffset(months=step.months * k) for k in range(periods)]
        )
    return pd.date_range(start, periods=periods, freq=step)


def seasonal_lags(step: pd.Timedelta | pd.DateOffset) -> dict[str, int]:
    """The seasonal lags (in steps) that this step has: ``day``, ``week``, ``year``, each only where it is a
    whole number of steps above 1 (a lag of 1 is the naive forecast). Half-hourly: day 48, week 336, year
    17520; daily: week 7, year 365; weekly: year 52; monthly: year 12; quarterly: year 4; yearly: none."""
    out: dict[str, int] = {}
    if isinstance(step, pd.Timedelta):
        sec = step.total_seconds()
        for name, period in (("day", 86400.0), ("week", 7 * 86400.0)):
            lag = period / sec
            if lag > 1 and abs(lag - round(lag)) < 1e-9:
                out[name] = int(round(lag))
        year = round(365.25 * 86400 / sec) if sec >= 86400 else round(365 * 86400 / sec)
        if year > 1 and sec <= 7 * 86400:
            out["year"] = int(year)
    else:
        months = step.months if type(step) is pd.DateOffset else step.n
        if 12 % months == 0 and 12 // months > 1:
            out["year"] = 12 // months
    return out


def regularize(times: pd.DatetimeIndex, values: np.ndarray, columns: list[str], fill: str) -> Series:
    """Put ``values (T, F)`` on the grid ``times[0] + k * step``; report and repair what is off."""
    step = infer_step(times)
    if type(step) is pd.DateOffset:
        n = 1 + (times[-1].year - times[0].year) * 12 // step.months + 12  # enough, then cut at the end
        grid = step_grid(times[0], n, step)
        grid = grid[grid <= times[-1]]
    else:
        grid = pd.date_range(times[0], times[-1], freq=step)
    frame = pd.DataFrame(values, index=times, columns=columns)
    on_grid = frame.index.isin(grid)
    n_missing = int((~grid.isin(frame.index)).sum())
    n_off = int((~on_grid).sum())
    n_nan = int(np.isnan(values).sum())
    notes = []
    if n_missing or n_off or n_nan:
        what = (
            f"{n_missing} missing time steps, {n_off} off-grid timestamps, {n_nan} empty cells "
            f"(step {step_str(step)})"
        )
        if fill == "error":
            raise TfdlError(
                f"the series is not regular: {what}; set data.fill=interpolate or data.fill=ffill, "
                "or fix the file"
            )
        union = frame.reindex(frame.index.union(grid))
        union = (
            union.interpolate(method="time", limit_direction="both")
            if fill == "interpolate"
            else union.ffill()
        )
        frame = union.reindex(grid).bfill()  # bfill: a leading gap has nothing to carry forward
        notes.append(f"repaired {what} with data.fill={fill}")
    return Series(grid.to_numpy(), frame.to_numpy(np.float32), columns, step, notes)


# --------------------------------------------------------------------------- split + windows


def chronological_bounds(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """-> (train_end, val_end): train = [0, train_end), val = [train_end, val_end), test = [val_end, n)."""
    train_end = int(round(n * (1 - val_fraction - test_fraction)))
    val_end = int(round(n * (1 - test_fraction)))
    return train_end, val_end


def window_origins(start: int, end: int, lookback: int, horizon: int, stride: int = 1) -> np.ndarray:
    """Forecast origins ``t`` whose whole window ``[t - lookback, t + horizon)`` lies in ``[start, end)``."""
    return np.arange(start + lookback, end - horizon + 1, stride, dtype=np.int64)


def make_windows(
    values: np.ndarray, origins: np.ndarray, lookback: int, horizon: int, target_col: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``x (n, lookback, F)`` and ``y (n, horizon)`` at ``origins`` from ``values (T, F)``."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        values = values[:, None]
    if len(origins) == 0:
        return np.zeros((0, lookback, values.shape[1]), np.float32), np.zeros((0, horizon), np.float32)
    idx_x = origins[:, None] + np.arange(-lookback, 0)[None, :]
    idx_y = origins[:, None] + np.arange(horizon)[None, :]
    if idx_x.min() < 0 or idx_y.max() >= len(values):
        raise ValueError(f"origins need lookback {lookback} before and horizon {horizon} after; out of range")
    return values[idx_x], values[idx_y, target_col]


@dataclass
class Windows:
    """Windows of the three parts plus the origins (series indices) they forecast from."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    origins: dict[str, np.ndarray]
    bounds: tuple[int, int]


def split_windows(
    values: np.ndarray,
    lookback: int,
    horizon: int,
    *,
    val_fraction: float,
    test_fraction: float,
    stride: int = 1,
) -> Windows:
    """Chronological train/val/test windows; no window crosses a boundary (test windows use stride 1)."""
    n = len(values)
    train_end, val_end = chronological_bounds(n, val_fraction, test_fraction)
    need = lookback + horizon
    short = {k: s for k, s in (("train", train_end), ("val", val_end - train_end), ("test", n - val_end))
             if s < need}  # fmt: skip
    if short:
        parts = ", ".join(f"{k} has {s}" for k, s in short.items())
        raise TfdlError(
            f"each split needs at least lookback + horizon = {need} rows; {parts} of {n} rows. Use a longer "
            "series or smaller data.lookback / data.horizon"
        )
    ranges = {"train": (0, train_end, stride), "val": (train_end, val_end, 1), "test": (val_end, n, 1)}
    origins = {k: window_origins(a, b, lookback, horizon, s) for k, (a, b, s) in ranges.items()}
    xs, ys = {}, {}
    for k, o in origins.items():
        xs[k], ys[k] = make_windows(values, o, lookback, horizon)
    return Windows(xs, ys, origins, (train_end, val_end))


def rolling_windows(
    values: np.ndarray,
    lookback: int,
    horizon: int,
    *,
    folds: int,
    fold: int,
    val_fraction: float,
    test_fraction: float,
    stride: int = 1,
) -> Windows:
    """Fold ``fold`` of ``folds`` rolling forecast origins (expanding window; Hyndman's tsCV, statsforecast's
    ``cross_validation``).

    The forecast origins of the last ``test_fraction`` of the series (those whose horizon ends inside it)
    are cut into ``folds`` contiguous blocks of (nearly) equal size, each at least one horizon long: fold
    ``k`` tests block ``k``, so every origin there is tested exactly once over the folds. Its validation
    part is the ``val_fraction`` of the series just before the block's first origin, and it trains on
    everything before that (train, then val, then test in time order; no training or validation target
    reaches the test block). Unlike the single split, a validation or test window's input may reach back
    into the earlier parts: those values are known at its forecast origin.
    """
    n = len(values)
    first = int(round(n * (1 - test_fraction)))
    origins = np.arange(first, n - horizon + 1, dtype=np.int64)
    fix = f"use fewer --folds, a smaller data.horizon or a larger data.test_fraction (now {test_fraction})"
    if len(origins) < folds * horizon:
        raise TfdlError(
            f"the series is too short for {folds} rolling folds: its last {n - first} of {n} steps hold "
            f"{max(len(origins), 0)} forecast origins, fewer than folds x horizon = {folds * horizon}; {fix}"
        )
    blocks = np.array_split(origins, folds)
    n_val = int(round(n * val_fraction))
    earliest_train_end = int(blocks[0][0]) - n_val
    if n_val < horizon + 1 or earliest_train_end < lookback + horizon:
        raise TfdlError(
            f"the series is too short for {folds} rolling folds: the first fold would train on "
            f"{max(earliest_train_end, 0)} steps and validate on {n_val}, and needs at least lookback + "
            f"horizon = {lookback + horizon} and horizon + 1 = {horizon + 1}; {fix}, or a smaller "
            "data.lookback"
        )
    test = blocks[fold]
    val_end = int(test[0])
    train_end = val_end - n_val
    parts = {
        "train": window_origins(0, train_end, lookback, horizon, stride),
        "val": np.arange(train_end, val_end - horizon + 1, dtype=np.int64),
        "test": np.asarray(test, dtype=np.int64),
    }
    xs, ys = {}, {}
    for k, o in parts.items():
        xs[k], ys[k] = make_windows(values, o, lookback, horizon)
    return Windows(xs, ys, parts, (train_end, val_end))


def hold_out_last(origins: np.ndarray, horizon: int, blocks: int) -> int:
    """How many of the last validation origins are held out for the forecaster choice: ``blocks``
    horizon-sized blocks, at most half of them (0 when fewer than 4 origins)."""
    n = len(origins)
    return 0 if n < 4 else min(blocks * horizon, n // 2)


def train_statistics(values: np.ndarray, train_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training part only; a constant feature gets std 1."""
    part = np.asarray(values[:train_end], dtype=np.float64)
    mean, std = part.mean(axis=0), part.std(axis=0)
    return mean, np.where(std > 1e-12, std, 1.0)


# --------------------------------------------------------------------------- baselines by index


def naive_forecast(series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Last observed value repeated: ``pred[i, h] = series[origin_i - 1]`` -> (n, horizon)."""
    s = np.asarray(series, dtype=np.float64)
    return np.repeat(s[np.asarray(origins) - 1][:, None], horizon, axis=1)


def seasonal_naive_forecast(series: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Same phase one season back: ``pred[i, h] = series[origin_i + h - season * k]`` with the smallest
    ``k >= 1`` that lands before the origin (never a value at or after the forecast origin).

    Where the series does not reach back that far, the naive (last value) forecast stands in.
    """
    s = np.asarray(series, dtype=np.float64)
    o = np.asarray(origins)[:, None]
    h = np.arange(horizon)[None, :]
    k = h // season + 1  # smallest k with h - k * season < 0
    idx = o + h - k * season
    out = s[np.clip(idx, 0, None)]
    fallback = np.broadcast_to(s[o - 1], out.shape)
    return np.where(idx >= 0, out, fallback)
