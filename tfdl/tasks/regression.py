"""Regression (one value per example) and forecasting (a horizon of values per window)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfdl.tasks.base import Task


class Regression(Task):
    name = "regression"
    metrics = ("mae", "mse", "rmse", "r2")
    headline = "rmse"

    def evaluate(self, y_true: Any, pred: Any, info: Any = None, **kw: Any) -> dict:
        from tfdl.evaluation.metrics import regression_metrics

        return regression_metrics(y_true, pred)

    def plots(self, y_true, pred, info, out_dir: Path, **kw) -> list[Path]:
        from tfdl.evaluation.plots import pred_vs_actual

        return [pred_vs_actual(y_true, pred, out_dir / "pred_vs_actual.png")]


class Forecast(Task):
    """(n, horizon) values per window; MASE is scaled by the seasonal-naive in-sample MAE
    (``info.mase_scale``)."""

    name = "forecast"
    metrics = ("mae", "rmse", "smape", "mase")
    headline = "mae"

    def loss(self, cfg: Any, splits: Any) -> Any:
        """``train.loss`` (mae | mse | huber) when the app's config has it, else mean squared error."""
        import keras

        name = getattr(cfg.train, "loss", "mse")
        return {"mae": keras.losses.MeanAbsoluteError, "mse": keras.losses.MeanSquaredError,
                "huber": keras.losses.Huber}[name]()  # fmt: skip

    def evaluation_kwargs(self, info: Any) -> dict[str, Any]:
        scale = getattr(info, "mase_scale", None)
        return {} if scale is None else {"scale": scale}

    def card(self, info: Any) -> dict[str, Any]:
        """The split-conformal half-widths per horizon step ({"0.8": [h], "0.95": [h]}), so a served
        forecast carries ``lower`` / ``upper`` bounds (tfdl.evaluation.conformal.interval_fields)."""
        pi = getattr(info, "prediction_intervals", None)
        return {"prediction_intervals": pi} if pi else {}

    def evaluate(self, y_true: Any, pred: Any, info: Any = None, **kw: Any) -> dict:
        from tfdl.evaluation.metrics import forecast_metrics

        return forecast_metrics(y_true, pred, kw.get("scale", getattr(info, "mase_scale", None)))

    def plots(self, y_true, pred, info, out_dir: Path, *, per_horizon_by_model=None, model_name="model",
              **kw) -> list[Path]:  # fmt: skip
        from tfdl.evaluation.plots import error_by_horizon, pred_vs_actual

        y = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(pred, dtype=np.float64)
        y, p = y.reshape(len(y), -1), p.reshape(len(p), -1)
        curves = {model_name: list(np.abs(y - p).mean(axis=0))}
        curves.update(per_horizon_by_model or {})
        return [
            error_by_horizon(curves, out_dir / "error_by_horizon.png"),
            pred_vs_actual(y, p, out_dir / "pred_vs_actual.png"),
        ]
