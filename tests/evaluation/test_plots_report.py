"""Figures are valid PNGs; report.md carries the metrics table, the verdict and the inline images."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tfdl.evaluation import plots
from tfdl.evaluation.report import write_report

RNG = np.random.default_rng(0)


def _is_png(path):
    assert path.exists() and path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] > 100 and im.size[1] > 100
    return True


def _history(tmp_path):
    path = tmp_path / "history.csv"  # Keras CSVLogger layout
    rows = ["epoch,accuracy,learning_rate,loss,val_accuracy,val_loss"]
    rows += [f"{e},{0.5 + e / 10},0.001,{1 - e / 10},{0.45 + e / 10},{1.1 - e / 10}" for e in range(4)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _multiclass(n=60, k=4):
    y = RNG.integers(0, k, n)
    logits = RNG.normal(size=(n, k)) + 2 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, proba


def test_each_plot_is_a_png(tmp_path):
    y, proba = _multiclass()
    labels = ["a", "b", "c", "d"]
    written = [
        plots.learning_curves(_history(tmp_path), tmp_path / "p" / "lc.png"),
        plots.confusion_matrix(y, proba.argmax(1), labels, tmp_path / "cm.png"),
        plots.roc_curves(y, proba, labels, tmp_path / "roc.png"),
        plots.roc_curves((y > 1).astype(int), proba[:, 2] + proba[:, 3], ["lo", "hi"], tmp_path / "roc2.png"),
        plots.pred_vs_actual(RNG.normal(size=50), RNG.normal(size=(50, 1)), tmp_path / "pva.png"),
        plots.error_by_horizon({"lstm": [0.1, 0.2, 0.3], "naive": [0.2, None, 0.4]}, tmp_path / "h.png"),
        plots.score_histogram(RNG.random(100), RNG.integers(0, 2, 100), 0.8, tmp_path / "s.png"),
        plots.score_histogram(RNG.random(100), None, None, tmp_path / "s2.png"),
    ]
    assert all(_is_png(p) for p in written)
    assert written[0] == tmp_path / "p" / "lc.png"


def test_roc_with_many_and_absent_classes(tmp_path):
    y = np.repeat(np.arange(12), 5)
    y[y == 3] = 4  # class 3 absent: skipped, not a crash
    proba = RNG.dirichlet(np.ones(14), size=len(y))
    assert _is_png(plots.roc_curves(y, proba, [str(i) for i in range(14)], tmp_path / "roc.png"))


@pytest.mark.parametrize(
    "task,y,pred,expected",
    [
        ("classification", *_multiclass(), {"learning_curves", "confusion_matrix", "roc_curves"}),
        ("regression", RNG.normal(size=40), RNG.normal(size=40), {"learning_curves", "pred_vs_actual"}),
        (
            "forecast",
            RNG.normal(size=(20, 6)),
            RNG.normal(size=(20, 6)),
            {"learning_curves", "error_by_horizon", "pred_vs_actual"},
        ),
        ("anomaly", RNG.integers(0, 2, 80), RNG.random(80), {"learning_curves", "score_histogram"}),
    ],
)
def test_task_plots(tmp_path, task, y, pred, expected):
    info = SimpleNamespace(
        labels=["a", "b", "c", "d"] if task == "classification" else [], extra={"threshold": 0.7}
    )
    paths = plots.task_plots(
        task,
        y,
        pred,
        info,
        tmp_path / "plots",
        _history(tmp_path),
        per_horizon_by_model={"naive": [1.0] * 6} if task == "forecast" else None,
    )
    assert {p.stem for p in paths} == expected
    assert all(p.parent == tmp_path / "plots" and _is_png(p) for p in paths)


def test_task_plots_without_history_and_bad_task(tmp_path):
    y = RNG.integers(0, 2, 30)
    paths = plots.task_plots("classification", y, RNG.random(30), None, tmp_path, None)
    assert {p.stem for p in paths} == {"confusion_matrix", "roc_curves"}
    with pytest.raises(ValueError):
        plots.task_plots("clustering", y, y, None, tmp_path, None)


def _metrics():
    return {
        "app": "vision",
        "model": "cnn",
        "task": "classification",
        "run_id": "20260101-120000",
        "dataset": {
            "name": "fashion_mnist",
            "source": "Debian package dataset-fashion-mnist",
            "fingerprint": "sha256:abc123",
            "n_train": 20000,
            "n_val": 5000,
            "n_test": 10000,
        },
        "precision_policy": "mixed_bfloat16",
        "epochs_run": 5,
        "train_seconds": 41.5,
        "samples_per_second": 9912.3,
        "test": {"accuracy": 0.812, "macro_f1": 0.81, "roc_auc": 0.97},
        "baseline": {
            "name": "logistic_regression",
            "test": {"accuracy": 0.835, "macro_f1": 0.83, "roc_auc": 0.98},
        },
        "baselines": {
            "logistic_regression": {"accuracy": 0.835, "macro_f1": 0.83, "roc_auc": 0.98},
            "majority_class": {"accuracy": 0.1, "macro_f1": 0.018, "roc_auc": 0.5},
        },
        "per_class": [{"label": "T-shirt", "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 1000}],
    }


def test_write_report(tmp_path):
    plot = plots.pred_vs_actual([1.0, 2.0], [1.0, 2.5], tmp_path / "plots" / "confusion_matrix.png")
    out = write_report(tmp_path, _metrics(), [plot], [("Explanations", "Grad-CAM shows *edges*.")])
    assert out == tmp_path / "report.md"
    text = out.read_text()
    assert text.startswith("# vision: cnn (run 20260101-120000)")
    assert "| metric | cnn (model) | logistic_regression (baseline) | majority_class (baseline) |" in text
    assert "| accuracy | 0.8120 | 0.8350 | 0.1000 |" in text
    assert "**The baseline logistic_regression wins: accuracy 0.835 vs 0.812 for the cnn model" in text
    assert "sha256:abc123" in text and "mixed_bfloat16" in text and "20,000" in text
    assert "| train seconds | 41.5 |" in text and "| samples per second | 9,912 |" in text
    assert "| T-shirt | 0.8000 | 0.7000 | 0.7500 | 1,000 |" in text
    assert "![confusion_matrix](plots/confusion_matrix.png)" in text
    assert text.index("## Explanations") > text.index("## Plots")
    assert "Grad-CAM shows *edges*." in text


def test_report_forecast_per_horizon_and_model_win(tmp_path):
    m = _metrics() | {"task": "forecast", "model": "lstm", "baselines": {}}
    m["test"] = {
        "mae": 0.05,
        "rmse": 0.07,
        "smape": 3.1,
        "mase": 0.4,
        "per_horizon": {"mae": [0.04, 0.06], "rmse": [0.05, 0.08], "smape": [3, 3.2], "mase": [0.3, 0.5]},
    }
    m["baseline"] = {"name": "naive", "test": {"mae": 0.093, "per_horizon": {"mae": [0.09, 0.096]}}}
    m.pop("per_class")
    text = write_report(tmp_path / "run", m, []).read_text()
    assert "**The lstm model wins: mae 0.05 vs 0.093 for the baseline naive" in text
    assert "| step | lstm MAE | naive MAE |" in text and "| 2 | 0.0600 | 0.0960 |" in text
    assert "per_horizon" not in text and "## Plots" not in text
