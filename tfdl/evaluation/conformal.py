"""Forecast intervals by split conformal prediction, per horizon step.

The model's absolute errors on the VALIDATION windows, step by step, give the interval half-width for a
level ``a``: the ``ceil((n + 1) a)``-th smallest of the ``n`` validation errors at that step. The interval
``forecast ± half-width`` then holds the truth with probability at least ``a`` when validation and test
errors are exchangeable (Vovk et al., 2005; Lei et al., 2018). Time series are not exchangeable (demand
drifts with the season), so the report measures what matters: the empirical coverage of each level on
the test windows, per horizon step. The half-widths ship in the model card (``prediction_intervals``)
and the upload route answers ``lower`` / ``upper`` beside each forecast value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def _key(level: float) -> str:
    return f"{level:g}"


def conformal_radii(y_val: Any, pred_val: Any, levels: list[float]) -> dict[str, list[float]]:
    """{"0.8": [h half-widths], "0.95": [...]} from validation windows (n, h) and their forecasts."""
    y = np.asarray(y_val, dtype=np.float64)
    y = y.reshape(len(y), -1)
    p = np.asarray(pred_val, dtype=np.float64).reshape(y.shape)
    err = np.sort(np.abs(y - p), axis=0)
    n = len(err)
    if n == 0:
        raise ValueError("conformal intervals need validation windows; the validation part has none")
    out = {}
    for a in levels:
        k = min(n, math.ceil((n + 1) * a))  # the k-th smallest error (1-based)
        out[_key(a)] = [round(float(v), 6) for v in err[k - 1]]
    return out


def bands(pred: Any, radii: dict[str, list[float]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{level: (lower, upper)} arrays shaped like ``pred`` (n, h)."""
    p = np.asarray(pred, dtype=np.float64)
    p = p.reshape(len(p), -1)
    return {lv: (p - np.asarray(r), p + np.asarray(r)) for lv, r in radii.items()}


def coverage(y_test: Any, pred_test: Any, radii: dict[str, list[float]]) -> dict[str, dict]:
    """Empirical coverage on test per level: {level: {nominal, coverage, per_horizon: [h], mean_width}}."""
    y = np.asarray(y_test, dtype=np.float64)
    y = y.reshape(len(y), -1)
    out = {}
    for lv, (lo, hi) in bands(pred_test, radii).items():
        inside = (y >= lo) & (y <= hi)
        out[lv] = {
            "nominal": float(lv),
            "coverage": round(float(inside.mean()), 4),
            "per_horizon": [round(float(v), 4) for v in inside.mean(axis=0)],
            "mean_width": round(float(2 * np.mean(radii[lv])), 4),
        }
    return out


def interval_fields(values: list[float], meta: dict) -> list[dict]:
    """For the upload route: ``[{lower_80, upper_80, lower_95, upper_95}]`` per forecast step from the
    model card's ``prediction_intervals`` (empty dicts when the card has none)."""
    radii = meta.get("prediction_intervals") or {}
    rows = []
    for j, v in enumerate(values):
        row = {}
        for lv, r in radii.items():
            if j < len(r):
                pct = f"{round(float(lv) * 100):d}"
                row[f"lower_{pct}"] = float(v - r[j])
                row[f"upper_{pct}"] = float(v + r[j])
        rows.append(row)
    return rows


def band_plot(times_or_steps: Any, y_test: Any, pred_test: Any, radii: dict[str, list[float]],
              out_path: Path, windows: int = 3) -> Path:  # fmt: skip
    """A few test windows: actual, forecast and the conformal bands (widest first, lighter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.asarray(y_test, dtype=np.float64)
    y = y.reshape(len(y), -1)
    p = np.asarray(pred_test, dtype=np.float64).reshape(y.shape)
    picks = np.linspace(0, len(y) - 1, windows).astype(int)
    fig, axes = plt.subplots(windows, 1, figsize=(8, 2.2 * windows), squeeze=False)
    steps = np.arange(1, y.shape[1] + 1)
    order = sorted(radii, key=float, reverse=True)
    for ax, i in zip(axes[:, 0], picks, strict=False):
        for shade, lv in zip((0.15, 0.3, 0.45), order, strict=False):
            r = np.asarray(radii[lv])
            ax.fill_between(steps, p[i] - r, p[i] + r, color="tab:blue", alpha=shade, lw=0,
                            label=f"{float(lv):.0%} interval")  # fmt: skip
        ax.plot(steps, y[i], color="k", lw=1.3, label="actual")
        ax.plot(steps, p[i], color="tab:blue", lw=1.2, label="forecast")
        ax.set_title(f"test window {i}", fontsize=9)
        ax.set_xlabel("horizon step", fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=4)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return out_path
