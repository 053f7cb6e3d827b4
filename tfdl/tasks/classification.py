"""Single-label classification: softmax (or sigmoid) class probabilities, one label per example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfdl.tasks.base import Task

# Binary classification whose minority class is rarer than this is judged on ROC-AUC, not accuracy.
IMBALANCE_SHARE = 0.35


class Classification(Task):
    name = "classification"
    metrics = ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1", "mcc",
               "roc_auc", "pr_auc")  # fmt: skip
    headline = "accuracy"
    objective = "val_accuracy"
    classifier = True

    def loss(self, cfg: Any, splits: Any) -> Any:
        import keras

        return keras.losses.SparseCategoricalCrossentropy()

    def keras_metrics(self) -> list:
        return ["accuracy"]

    def evaluation_kwargs(self, info: Any) -> dict[str, Any]:
        """Labels, and the binary decision threshold chosen on validation (``eval.threshold``) when there
        is one (the pipeline evaluates baselines at their own 0.5: the model's threshold is its own)."""
        out: dict[str, Any] = {"labels": info.labels}
        if getattr(info, "decision_threshold", None) is not None:
            out["decision_threshold"] = info.decision_threshold
        return out

    def evaluate(self, y_true: Any, pred: Any, info: Any = None, **kw: Any) -> dict:
        from tfdl.evaluation.metrics import classification_metrics

        labels = kw.get("labels") or list(getattr(info, "labels", None) or [])
        if not labels:
            p = np.asarray(pred)
            labels = [str(i) for i in range(2 if p.ndim == 1 or p.shape[1] == 1 else p.shape[1])]
        return classification_metrics(y_true, pred, labels, kw.get("decision_threshold"))

    def choose_headline(self, y_train: Any = None, labels: list[str] | None = None) -> dict:
        """Binary with a minority class under 35 % of the training labels is judged on ROC-AUC, with
        PR-AUC beside it: accuracy there rewards predicting the majority (lesson 5's "99 % accuracy" on a
        rare disease)."""
        out = super().choose_headline()
        if y_train is None:
            return out
        yy = np.asarray(y_train).ravel()
        n_classes = len(labels) if labels else len(np.unique(yy))
        if n_classes == 2 and len(yy):
            share = float(np.min(np.bincount(yy.astype(int), minlength=2)) / len(yy))
            if share < IMBALANCE_SHARE:
                out.update(metric="roc_auc", higher_is_better=True, reason=(
                    f"binary with a minority class of {share:.1%} (< {IMBALANCE_SHARE:.0%}): accuracy would "
                    "reward predicting the majority; PR-AUC is reported beside it"))  # fmt: skip
            else:
                out["reason"] = (
                    f"binary with a minority class of {share:.1%} (>= {IMBALANCE_SHARE:.0%}): balanced enough"
                )
        return out

    def summary(self, y_true: Any, pred: Any, info: Any) -> dict:
        from tfdl.evaluation.metrics import per_class_table

        thr = getattr(info, "decision_threshold", None)
        return {"per_class": per_class_table(y_true, pred, info.labels, thr)}

    def plots(self, y_true, pred, info, out_dir: Path, **kw) -> list[Path]:
        from tfdl.evaluation.metrics import class_ids
        from tfdl.evaluation.plots import confusion_matrix, roc_curves

        p = np.asarray(pred, dtype=np.float64)
        labels = list(getattr(info, "labels", None) or [])
        thr = getattr(info, "decision_threshold", None)
        pred_ids = class_ids(p, thr)
        if p.ndim == 2 and p.shape[1] > 1:
            labels = labels or [str(i) for i in range(p.shape[1])]
        else:
            labels = labels or ["0", "1"]
        return [
            confusion_matrix(y_true, pred_ids, labels, out_dir / "confusion_matrix.png"),
            roc_curves(y_true, p, labels, out_dir / "roc_curves.png"),
        ]

    def served_output(self, pred: Any, info: Any) -> Any:
        """The probabilities divided by the calibration temperature in logit space (as served)."""
        from tfdl.evaluation.calibration import apply_temperature

        return apply_temperature(pred, getattr(info, "temperature", None))

    def serving_model(self, model: Any, info: Any) -> Any:
        """With a calibration temperature (fitted on validation), the served probabilities are
        ``softmax(log p / T)``: the calibrated ones. Without one, the model as it is."""
        t = getattr(info, "temperature", None)
        if t is None or t == 1.0:
            return model
        import keras

        from tfdl.evaluation.calibration import temperature_layer_output

        out = temperature_layer_output(model.output, t)
        return keras.Model(model.input, out, name=f"{model.name}_calibrated")  # .input keeps a dict a dict

    def card(self, info: Any) -> dict[str, Any]:
        """The calibration temperature and the decision threshold, as the server applies them."""
        out: dict[str, Any] = {}
        if getattr(info, "temperature", None) is not None:
            out["temperature"] = float(info.temperature)
        if getattr(info, "decision_threshold", None) is not None:
            out["decision_threshold"] = float(info.decision_threshold)
        return out

    def decide(self, row: np.ndarray, meta: dict) -> int:
        """The predicted class id of one row of served probabilities: the positive class (1) of a binary
        model when its probability reaches the card's ``decision_threshold``, else the argmax."""
        from tfdl.evaluation.metrics import class_ids

        p = np.asarray(row, dtype=np.float64).reshape(1, -1)
        return int(class_ids(p, meta.get("decision_threshold"))[0])

    def describe(self, row: np.ndarray, meta: dict) -> dict:
        """One row of class probabilities -> {label, confidence, scores} (labels from the model card);
        the label follows the card's decision threshold (binary)."""
        row = np.asarray(row, dtype=np.float64).reshape(-1)
        if row.size == 1:
            row = np.array([1.0 - row[0], row[0]])
        labels = meta.get("labels") or [str(i) for i in range(len(row))]
        k = self.decide(row, meta)
        out = {
            "label": labels[k],
            "confidence": float(row[k]),
            "scores": {lab: float(p) for lab, p in zip(labels, row, strict=False)},
        }
        if meta.get("decision_threshold") is not None and len(row) == 2:
            out["threshold"] = float(meta["decision_threshold"])
        return out
