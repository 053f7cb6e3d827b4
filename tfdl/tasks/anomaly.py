"""Anomaly detection: the model scores each example (higher = more anomalous); a threshold chosen on the
validation split turns scores into flags. Served as ``[score, threshold, is_anomaly]`` per example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfdl.tasks.base import Task


class Anomaly(Task):
    name = "anomaly"
    metrics = ("roc_auc", "pr_auc", "precision", "recall", "f1")
    headline = "roc_auc"

    def evaluation_kwargs(self, info: Any) -> dict[str, Any]:
        thr = getattr(info, "threshold", None)
        return {} if thr is None else {"threshold": thr}

    def evaluate(self, y_true: Any, pred: Any, info: Any = None, **kw: Any) -> dict:
        from tfdl.evaluation.metrics import anomaly_metrics

        threshold = kw.get("threshold", getattr(info, "threshold", None))
        if threshold is None:
            raise ValueError(
                "anomaly evaluation needs threshold= (pick it with choose_threshold on validation)"
            )
        return anomaly_metrics(y_true, pred, float(threshold))

    def plots(self, y_true, pred, info, out_dir: Path, *, threshold=None, **kw) -> list[Path]:
        from tfdl.evaluation.plots import score_histogram

        thr = threshold if threshold is not None else getattr(info, "threshold", None)
        return [score_histogram(pred, y_true, thr, out_dir / "score_histogram.png")]

    def serving_model(self, model: Any, info: Any) -> Any:
        """A (N,) score model -> (N, 3) ``[score, threshold, is_anomaly (1.0 / 0.0)]``."""
        import keras

        if info.threshold is None:
            raise ValueError("an anomaly model is served with its validation threshold; none was chosen")
        score = model.output
        t = keras.ops.full_like(score, float(info.threshold))
        flag = keras.ops.cast(keras.ops.greater_equal(score, t), "float32")
        out = keras.ops.stack([score, t, flag], axis=-1)
        return keras.Model(model.inputs, out, name="anomaly_detector")

    def describe(self, row: np.ndarray, meta: dict) -> dict:
        return {"score": float(row[0]), "threshold": float(row[1]), "is_anomaly": bool(row[2] >= 0.5)}
