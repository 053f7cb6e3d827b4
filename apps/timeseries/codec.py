"""Time series: the codec. A window CSV of exactly ``lookback`` rows in; the forecast out, stamped on the
steps after the window's last time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError


class _LazyModule:
    """tfdl.data.timeseries imports pandas (~0.3 s): load it on first use so `tfdl apps` stays fast."""

    def __getattr__(self, name: str):
        from tfdl.data import timeseries

        return getattr(timeseries, name)


ts = _LazyModule()


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
