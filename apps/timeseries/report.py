"""Time series: the report's extras (error by horizon for every forecaster, forecast days, the linear
start)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from apps.timeseries.models import _horizon, best_start
from tfdl.data.splits import Splits


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
    sections = [("MAE in target units and standardized", text)]
    if splits.info.preprocessing and splits.info.preprocessing.get("forecaster"):
        name, _, val_mae = best_start(splits)
        metrics["linear_start"] = {"chosen": name, "val_mae": {k: round(v, 6) for k, v in val_mae.items()}}
        metrics["forecaster_choice"] = splits.info.preprocessing["forecaster"]
        sections.append(("Linear start (chosen on validation)", (
            f"The linear skip started at **{name}**, the linear forecaster with the lowest validation MAE ("
            + ", ".join(f"{k} {v:.4g}" for k, v in val_mae.items()) + "). A frozen copy of it is one of "
            "the candidates of the forecaster choice (section \"Forecaster choice\")."
        )))  # fmt: skip
    return plots, sections


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
