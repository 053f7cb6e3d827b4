"""The Task contract: everything the library does differently per kind of prediction lives here.

A task owns the training loss and Keras metrics, the tuner objective, the test metrics (with the headline
metric chosen for the task and the data), the standard plots, the transform that turns a model's output
into what is served, and the shape of one served answer. The pipeline, tuner, report, export and server
ask ``get_task(cfg.task)`` and never compare task names. A new task (multi-label, multi-output) subclasses
:class:`Task`, overrides what differs and calls :func:`tfdl.tasks.register_task`.

Modules here must not import TensorFlow at import time (``tfdl apps`` and config checks import them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tfdl.evaluation.metrics import higher_is_better


class Task:
    """The base task: a regression-like default (mean squared error, MAE, ``val_loss``) to override.

    Class attributes, read by the library:

    - ``name``: the ``task`` value in configs, metrics.json and the model card.
    - ``metrics``: the scalar test metrics :meth:`evaluate` reports (``eval.headline`` names one).
    - ``headline``: the default metric that decides model vs baseline (its direction comes from
      :func:`tfdl.evaluation.metrics.higher_is_better`, the one definition of metric direction).
    - ``objective``: the Keras history key early stopping and the tuner watch (``val_loss``,
      ``val_accuracy``, ...); its direction comes from the same function.
    - ``classifier``: outputs are class scores with labels (the server's ``:classify``, per-class tables).
    """

    name: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ()
    headline: ClassVar[str] = ""
    objective: ClassVar[str] = "val_loss"
    classifier: ClassVar[bool] = False

    # ------------------------------------------------------------------ training
    def loss(self, cfg: Any, splits: Any) -> Any:
        """The Keras loss a model of this task trains with (a model may declare its own on its builder)."""
        import keras

        return keras.losses.MeanSquaredError()

    def keras_metrics(self) -> list:
        """Metrics compiled into the model (shown per epoch, in history.csv and to the tuner)."""
        return ["mae"]

    def tuner_objective(self) -> tuple[str, str]:
        """(history key, "max" | "min") for the tuner and early stopping."""
        return self.objective, "max" if higher_is_better(self.objective) else "min"

    # ------------------------------------------------------------------ evaluation
    def evaluation_kwargs(self, info: Any) -> dict[str, Any]:
        """Keyword arguments :meth:`evaluate` needs from the data info (labels, MASE scale, threshold)."""
        return {}

    def evaluate(self, y_true: Any, pred: Any, info: Any = None, **kw: Any) -> dict:
        """Test metrics of predictions ``pred`` (model outputs) against ``y_true``: a JSON-able dict."""
        raise NotImplementedError(f"task {self.name!r} does not define evaluate()")

    def choose_headline(self, y_train: Any = None, labels: list[str] | None = None) -> dict:
        """``{metric, higher_is_better, reason}``: the headline for this task and this data (training
        labels ``y_train``); ``eval.headline`` overrides it (see ``metrics.choose_headline``)."""
        return {
            "metric": self.headline,
            "higher_is_better": higher_is_better(self.headline),
            "reason": f"the {self.name} default",
        }

    def summary(self, y_true: Any, pred: Any, info: Any) -> dict:
        """More metrics.json entries beside ``test`` (classification: the per-class table)."""
        return {}

    def plots(
        self, y_true: Any, pred: Any, info: Any, out_dir: Path, *, threshold: float | None = None,
        per_horizon_by_model: dict | None = None, model_name: str = "model",
    ) -> list[Path]:  # fmt: skip
        """The task's standard figures (learning curves are drawn by the caller)."""
        return []

    # ------------------------------------------------------------------ serving
    def served_output(self, pred: Any, info: Any) -> Any:
        """NumPy: the model's outputs turned into what :meth:`serving_model` serves, so the test metrics
        judge what users get (classification: the calibration temperature). Identity by default."""
        return pred

    def serving_model(self, model: Any, info: Any) -> Any:
        """The model as served: its outputs turned into the served answer (identity by default)."""
        return model

    def card(self, info: Any) -> dict[str, Any]:
        """Task facts for the model card (e.g. the anomaly threshold)."""
        return {}

    def describe(self, row: np.ndarray, meta: dict) -> dict:
        """One served output row -> the JSON answer of the upload route (``{"value": ...}`` here)."""
        row = np.asarray(row, dtype=float).reshape(-1)
        return {"value": float(row[0])} if row.size == 1 else {"values": row.tolist()}

    def __repr__(self) -> str:
        return f"<task {self.name}>"
