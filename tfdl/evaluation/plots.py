"""Report figures: PNGs written with matplotlib's Agg backend (no display needed), one function each.

Every function saves one figure, closes it (a training run draws many: open figures leak memory)
and returns the ``Path`` written. Parent folders are created as needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: servers and CI have no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from tfdl.figures import save_figure

MAX_ROC_CLASSES = 10
MAX_SCATTER_POINTS = 5000  # a denser scatter only adds drawing time, not information
_NOT_METRICS = {"epoch", "loss", "lr", "learning_rate"}


def _main_metric(columns: list[str]) -> str | None:
    """The first logged metric (Keras CSVLogger column) other than loss, preferring one with a val_ twin."""
    train_cols = [c for c in columns if not c.startswith("val_") and c not in _NOT_METRICS]
    paired = [c for c in train_cols if f"val_{c}" in columns]
    return (paired or train_cols or [None])[0]


def learning_curves(history_csv_path: Path | str, out_path: Path | str) -> Path:
    """Loss and the main metric per epoch, train vs validation, from a Keras ``CSVLogger`` file."""
    hist = pd.read_csv(history_csv_path)
    x = hist["epoch"] + 1 if "epoch" in hist else np.arange(1, len(hist) + 1)
    metric = _main_metric(list(hist.columns))
    panels = ["loss"] + ([metric] if metric else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        for col, label, style in ((name, "train", "-o"), (f"val_{name}", "val", "-s")):
            if col in hist:
                ax.plot(x, hist[col], style, label=label, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, out_path)


def confusion_matrix(y_true: Any, pred_labels: Any, labels: list[str], out_path: Path | str) -> Path:
    """Row-normalised confusion matrix (each true class sums to 1), annotated when it stays readable.

    ``y_true``, ``pred_labels``: (n,) class ids in ``[0, len(labels))``.
    """
    k = len(labels)
    size = min(4 + 0.45 * k, 16)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(y_true).reshape(-1),
        np.asarray(pred_labels).reshape(-1),
        labels=list(range(k)),
        display_labels=[str(x) for x in labels],
        normalize="true",
        include_values=k <= 20,  # beyond ~20 classes the numbers overlap
        values_format=".2f",
        cmap="Blues",
        colorbar=False,
        xticks_rotation=45 if k > 4 else "horizontal",
        ax=ax,
    )
    ax.set_title("confusion matrix (row-normalised)")
    return save_figure(fig, out_path)


def roc_curves(y_true: Any, proba: Any, labels: list[str], out_path: Path | str) -> Path:
    """ROC curves: one for a binary task, one-vs-rest per class otherwise (at most 10 present classes).

    ``proba``: (n, k) probabilities, or (n,) / (n, 1) positive-class probability.
    """
    y = np.asarray(y_true).reshape(-1).astype(int)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if p.ndim == 1 or p.shape[1] == 2:
        score = p if p.ndim == 1 else p[:, 1]
        if len(np.unique(y)) == 2:
            RocCurveDisplay.from_predictions(y, score, pos_label=1, name=str(labels[-1]), ax=ax)
    else:
        present = [c for c in np.unique(y) if 0 <= c < p.shape[1]][:MAX_ROC_CLASSES]
        for c in present:
            if 0 < (y == c).sum() < len(y):
                RocCurveDisplay.from_predictions(y == c, p[:, c], name=str(labels[c]), ax=ax)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    # sklearn's default axis labels name the encoded positive label ("1", "True"): say it in words
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC (one-vs-rest)" if p.ndim == 2 and p.shape[1] > 2 else "ROC")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, out_path)


def pred_vs_actual(y_true: Any, pred: Any, out_path: Path | str) -> Path:
    """Predicted vs actual scatter with the y = x line (values flattened; at most 5,000 points drawn)."""
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    if len(y) > MAX_SCATTER_POINTS:
        idx = np.random.default_rng(0).choice(len(y), MAX_SCATTER_POINTS, replace=False)
        y, p = y[idx], p[idx]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y, p, s=6, alpha=0.4)
    lo = float(np.nanmin([y.min(), p.min()])) if len(y) else 0.0
    hi = float(np.nanmax([y.max(), p.max()])) if len(y) else 1.0
    ax.plot([lo, hi], [lo, hi], "r--", lw=1, label="y = x")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("predicted vs actual (test)")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, out_path)


def error_by_horizon(
    per_horizon_dict_by_model: dict[str, list[float]], out_path: Path | str, *, metric: str = "MAE"
) -> Path:
    """Error per forecast step, one line per model (or baseline): ``{name: [h values]}``."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, values in per_horizon_dict_by_model.items():
        v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
        ax.plot(np.arange(1, len(v) + 1), v, "-o", markersize=3 if len(v) < 60 else 0, label=name)
    ax.set_xlabel("steps ahead")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by forecast horizon (test)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, out_path)


def score_histogram(scores: Any, y_true_or_None: Any, threshold: float | None, out_path: Path | str) -> Path:
    """Histogram of anomaly scores (normals vs anomalies when labels are given) and the threshold line."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.histogram_bin_edges(s[np.isfinite(s)], bins=50)
    if y_true_or_None is None:
        ax.hist(s, bins=bins, alpha=0.7, label="all")
    else:
        y = np.asarray(y_true_or_None).reshape(-1).astype(int)
        ax.hist(s[y == 0], bins=bins, alpha=0.6, label=f"normal ({(y == 0).sum()})")
        ax.hist(s[y == 1], bins=bins, alpha=0.6, label=f"anomaly ({(y == 1).sum()})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.4g}")
    ax.set_yscale("log")  # anomalies are rare: a linear axis hides them
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("count")
    ax.set_title("anomaly scores (test)")
    ax.legend()
    return save_figure(fig, out_path)


def task_plots(
    task: str,
    y_true: Any,
    pred: Any,
    info: Any,
    out_dir: Path,
    history_csv: Path | None = None,
    *,
    threshold: float | None = None,
    per_horizon_by_model: dict[str, list[float]] | None = None,
    model_name: str = "model",
) -> list[Path]:
    """Learning curves (when ``history_csv`` exists) and the task's own figures
    (:meth:`tfdl.tasks.Task.plots`) written into ``out_dir``; returns their paths.

    classification: confusion matrix, ROC curves. regression: predicted vs actual. forecast: MAE by
    horizon (``per_horizon_by_model`` to draw baselines too), predicted vs actual. anomaly: score
    histogram (``threshold`` or ``info.threshold``).
    """
    out_dir = Path(out_dir)
    paths: list[Path] = []
    if history_csv is not None and Path(history_csv).exists():
        paths.append(learning_curves(history_csv, out_dir / "learning_curves.png"))
    from tfdl.tasks import TASKS

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; received {task!r}")
    paths += TASKS[task].plots(
        y_true, pred, info, out_dir, threshold=threshold, per_horizon_by_model=per_horizon_by_model,
        model_name=model_name,
    )  # fmt: skip
    return paths
