"""Stronger classical forecasters for the time-series app, on the same chronological windows.

- :func:`mstl_ets`: MSTL (statsmodels; Bandara et al., 2021) splits the series before the forecast part into
  a trend and one seasonal component per season (day, week; those that fit twice in the training part). Each
  seasonal component is carried forward from its last period; the seasonally adjusted series is forecast by
  simple exponential smoothing (ETS(A,N,N)) whose smoothing weight is chosen on the validation windows
  (MSTL fitted on the training part); for the test windows MSTL is refitted on training + validation.
  The level at each forecast origin uses only values before it (the filter is causal), so no window sees
  its own future. This is statsforecast's MSTL recipe (seasonal components + an ETS on the rest).
- :func:`hgb_lags`: scikit-learn's HistGradientBoostingRegressor on lag features of the window, one model
  for every horizon step (the step is a feature): the last 24 values, the same phase one and two seasons
  back, the window's mean, the covariates' last values and the phase of the forecast time in the shortest
  season. Trained on a random subsample of (window, step) rows.

Both read the series and the window origins the time-series loader keeps in ``info.extra`` and return
``(n_test, horizon)`` forecasts, or ``None`` where they do not apply (no season fits the training part).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_LAG_FEATURES = 24
MAX_HGB_ROWS = 60_000
ALPHAS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def _parts(splits: Any) -> tuple[np.ndarray, dict, int, int, int]:
    e = splits.info.extra
    lookback = int(np.asarray(splits.x_train).shape[1])
    horizon = int(np.asarray(splits.y_train).reshape(len(splits.y_train), -1).shape[1])
    # The loader's part boundaries (a rolling-origin fold's validation windows read inputs from before
    # their part, so they cannot be told from the origins); older callers: val windows start inside val.
    train_end = int(e["bounds"][0]) if "bounds" in e else int(np.min(e["origins"]["val"])) - lookback
    return np.asarray(e["series"], dtype=np.float64), e, lookback, horizon, train_end


def _windows(series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    idx = np.asarray(origins)[:, None] + np.arange(horizon)[None, :]
    return series[idx]


_MSTL_FITS: dict = {}  # (digest of the fitted values, periods) -> seasonal components; a few recent fits


def _mstl_components(head: np.ndarray, periods: list[int]) -> np.ndarray:
    """MSTL's seasonal components ``(len(head), len(periods))`` of ``head``. The fit is deterministic and
    costs seconds on a long series (5 s on 17,520 half-hours), and a time-series run asks for the same one
    twice (the seasonal-profile member and the ``mstl_ets`` baseline both fit the training part, then
    training + validation): the last few fits are kept, keyed by the values themselves."""
    import hashlib

    from statsmodels.tsa.seasonal import MSTL

    head = np.ascontiguousarray(head, dtype=np.float64)
    key = (hashlib.sha1(head.tobytes()).hexdigest(), tuple(int(p) for p in periods))
    if key not in _MSTL_FITS:
        fit = MSTL(head, periods=periods).fit()
        while len(_MSTL_FITS) >= 4:
            _MSTL_FITS.pop(next(iter(_MSTL_FITS)))
        _MSTL_FITS[key] = np.asarray(fit.seasonal, dtype=np.float64).reshape(len(head), -1)
    return _MSTL_FITS[key].copy()


def mstl_seasonal(series: np.ndarray, train_end: int, periods: list[int]) -> np.ndarray:
    """The summed MSTL seasonal components over the whole series: fitted on ``series[:train_end]``, then
    each component repeats its last training period (nothing after ``train_end`` is looked at)."""
    comps = _mstl_components(series[:train_end], periods)
    out = np.zeros(len(series))
    out[:train_end] = comps.sum(axis=1)
    t = np.arange(train_end, len(series))
    for k, p in enumerate(periods):
        last = comps[train_end - p :, k]
        out[train_end:] += last[(t - train_end) % p]
    return out


def _ses_levels(x: np.ndarray, alpha: float) -> np.ndarray:
    """Simple exponential smoothing level after each point: l_t = a x_t + (1 - a) l_{t-1}, l_0 = x_0."""
    from scipy.signal import lfilter

    if alpha >= 1.0:
        return x.copy()
    y, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], x[1:], zi=[(1.0 - alpha) * x[0]])
    return np.concatenate([[x[0]], y])


def mstl_ets(splits: Any) -> np.ndarray | None:
    """MSTL seasonal components + exponential smoothing of the adjusted series (see the module doc)."""
    series, e, _, horizon, train_end = _parts(splits)
    periods = sorted(lag for lag in e["seasons"].values() if 1 < lag and 2 * lag <= train_end)
    if not periods:
        return None

    def forecast(origins: np.ndarray, seasonal: np.ndarray, alpha: float) -> np.ndarray:
        o = np.asarray(origins)
        levels = _ses_levels(series - seasonal, alpha)
        return levels[o - 1][:, None] + _windows(seasonal, o, horizon)

    # The smoothing weight is chosen on the validation windows with MSTL fitted on the training part; the
    # test forecasts refit MSTL on training + validation (everything before the test part), so the seasonal
    # shapes carried forward are the most recent ones (no test value is read).
    val_o, test_o = e["origins"]["val"], e["origins"]["test"]
    seasonal = mstl_seasonal(series, train_end, periods)
    y_val = _windows(series, val_o, horizon)
    scores = {a: float(np.mean(np.abs(forecast(val_o, seasonal, a) - y_val))) for a in ALPHAS}
    best = min(scores, key=scores.get)
    lookback = int(np.asarray(splits.x_test).shape[1])
    val_end = int(e["bounds"][1]) if "bounds" in e else int(np.min(test_o)) - lookback
    return forecast(test_o, mstl_seasonal(series, val_end, periods), best)


def lag_features(x: np.ndarray, origins: np.ndarray, horizon: int, seasons: list[int]) -> np.ndarray:
    """(n windows, lookback, F) -> (n * horizon, features) rows, window-major (row i * horizon + j)."""
    x = np.asarray(x, dtype=np.float64)
    n, lookback, _ = x.shape
    target = x[:, :, 0]
    last = target[:, -min(MAX_LAG_FEATURES, lookback) :]
    j = np.arange(horizon)
    cols = [np.repeat(last, horizon, axis=0), np.repeat(target.mean(axis=1, keepdims=True), horizon, axis=0)]
    if x.shape[2] > 1:
        cols.append(np.repeat(x[:, -1, 1:], horizon, axis=0))
    for lag in seasons:
        for back in (1, 2):
            k = (j // lag + 1) + (back - 1)  # seasons back so that the value is before the origin
            idx = lookback - k * lag + j
            ok = idx >= 0
            if not ok.any():
                continue  # the window does not reach that far back for any step
            vals = np.where(ok[None, :], target[:, np.clip(idx, 0, lookback - 1)], np.nan)
            cols.append(vals.reshape(-1, 1))
    cols.append(np.tile(j, n).reshape(-1, 1).astype(np.float64))
    if seasons:
        phase = (np.asarray(origins)[:, None] + j[None, :]) % min(seasons)
        cols.append(phase.reshape(-1, 1).astype(np.float64))
    return np.concatenate(cols, axis=1)


def hgb_lags(splits: Any, seed: int = 0) -> np.ndarray:
    """Gradient boosting on lag features, every horizon step in one model (see the module doc)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    _, e, lookback, horizon, _ = _parts(splits)
    seasons = sorted(lag for lag in e["seasons"].values() if 1 < lag <= lookback)
    x_tr = lag_features(splits.x_train, e["origins"]["train"], horizon, seasons)
    y_tr = np.asarray(splits.y_train, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    if len(y_tr) > MAX_HGB_ROWS:
        keep = rng.choice(len(y_tr), MAX_HGB_ROWS, replace=False)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    x_val = lag_features(splits.x_val, e["origins"]["val"], horizon, seasons)
    y_val = np.asarray(splits.y_val, dtype=np.float64).reshape(-1)
    model = HistGradientBoostingRegressor(
        loss="absolute_error", max_iter=300, learning_rate=0.1, max_leaf_nodes=31, random_state=seed,
        early_stopping=True, n_iter_no_change=20,
    )  # fmt: skip
    # Early stopping on the validation windows (the split the deep model stops on), not a random share.
    if len(y_val) > MAX_HGB_ROWS // 4:
        keep = rng.choice(len(y_val), MAX_HGB_ROWS // 4, replace=False)
        x_val, y_val = x_val[keep], y_val[keep]
    model.fit(x_tr, y_tr, X_val=x_val, y_val=y_val)
    x_te = lag_features(splits.x_test, e["origins"]["test"], horizon, seasons)
    return model.predict(x_te).reshape(-1, horizon)
