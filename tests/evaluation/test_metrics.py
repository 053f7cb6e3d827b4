"""Metric values on tiny examples whose numbers are derived by hand (comments show the arithmetic)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tfdl.evaluation.metrics import (
    anomaly_metrics,
    classification_metrics,
    evaluate,
    forecast_metrics,
    headline,
    per_class_table,
    regression_metrics,
    seasonal_naive_scale,
)

CLASS_KEYS = {
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "mcc",
    "roc_auc",
}


def test_binary_sigmoid_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])  # predicted [0, 1, 0, 1]: TP = TN = FP = FN = 1
    m = classification_metrics(y, p, ["neg", "pos"])
    assert set(m) == CLASS_KEYS | {"pr_auc"}
    assert m["accuracy"] == 0.5 and m["balanced_accuracy"] == 0.5
    assert m["macro_precision"] == 0.5 and m["macro_recall"] == 0.5 and m["macro_f1"] == 0.5
    assert m["mcc"] == 0.0  # (TP*TN - FP*FN) = 0
    assert m["roc_auc"] == 0.75  # pos/neg pairs ranked right: (0.4>0.1), (0.9>0.1), (0.9>0.6) = 3 of 4
    assert m["pr_auc"] == 0.8333  # AP = (1/1 + 2/3) / 2


def test_binary_two_columns_and_column_vector_agree_with_sigmoid():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.6, 0.4, 0.9])
    a = classification_metrics(y, s, ["n", "p"])
    assert classification_metrics(y, np.stack([1 - s, s], axis=1), ["n", "p"]) == a
    assert classification_metrics(y, s[:, None], ["n", "p"]) == a


def test_multiclass_by_hand():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])  # pred [0, 1, 1, 2]
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert set(m) == CLASS_KEYS  # no pr_auc for multi-class
    assert m["accuracy"] == 0.75
    assert m["macro_precision"] == 0.8333  # (1 + 1/2 + 1) / 3
    assert m["macro_recall"] == 0.8333 and m["balanced_accuracy"] == 0.8333  # (1 + 1 + 1/2) / 3
    assert m["macro_f1"] == 0.7778  # (1 + 2/3 + 2/3) / 3
    assert m["mcc"] == 0.7  # (c*s - sum p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)) = (12-5)/10
    assert m["roc_auc"] == 0.8472  # OvR AUCs 1, 2/3, 3.5/4
    # the same number through sklearn's own multi-class path
    assert m["roc_auc"] == round(roc_auc_score(y, p, multi_class="ovr", average="macro"), 4)


def test_absent_class_is_handled():
    y = np.array([0, 0, 1, 1])  # class 2 never occurs in y_true
    p = np.array([[0.6, 0.3, 0.1], [0.5, 0.2, 0.3], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])  # pred [0, 0, 1, 2]
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert m["accuracy"] == 0.75
    assert m["roc_auc"] == 0.9375  # mean of OvR AUC for present classes: 1 and 3.5/4
    assert all(v is not None for v in m.values())
    table = per_class_table(y, p, ["a", "b", "c"])
    assert [r["label"] for r in table] == ["a", "b", "c"]
    assert [r["support"] for r in table] == [2, 2, 0]
    assert table[0] == {"label": "a", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert table[2]["precision"] == 0.0  # predicted once, never right


def test_single_class_gives_none_not_nan():
    m = classification_metrics(np.array([1, 1, 1]), np.array([0.2, 0.8, 0.9]), ["n", "p"])
    assert m["roc_auc"] is None and m["pr_auc"] is None
    m3 = classification_metrics(np.array([2, 2]), np.eye(3)[[2, 0]], ["a", "b", "c"])
    assert m3["roc_auc"] is None and m3["accuracy"] == 0.5


def test_classification_shape_errors():
    with pytest.raises(ValueError, match="proba must be"):
        classification_metrics(np.array([0, 1]), np.ones((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="class ids"):
        classification_metrics(np.array([0, 2]), np.array([0.2, 0.9]), ["a", "b"])
    with pytest.raises(ValueError, match="rows"):
        classification_metrics(np.array([0, 1, 1]), np.ones((2, 2)) / 2, ["a", "b"])


def test_regression_by_hand_flattens():
    y, p = np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 3, 6])  # errors 0, 0, 0, 2
    expect = {"mae": 0.5, "mse": 1.0, "rmse": 1.0, "r2": 0.2}  # r2 = 1 - 4 / 5
    assert regression_metrics(y, p) == expect
    assert regression_metrics(y[:, None], p[:, None]) == expect


def test_forecast_by_hand():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    p = np.array([[1.0, 3.0], [5.0, 4.0]])  # abs errors [[0, 1], [2, 0]]
    m = forecast_metrics(y, p, scale=0.5)
    assert m["mae"] == 0.75 and m["rmse"] == 1.118  # sqrt(5/4)
    assert m["smape"] == 22.5  # point terms 0, 1/2.5, 2/4, 0 -> mean 0.225
    assert m["mase"] == 1.5  # 0.75 / 0.5
    ph = m["per_horizon"]
    assert ph["mae"] == [1.0, 0.5]
    assert ph["rmse"] == [1.4142, 0.7071]
    assert ph["smape"] == [25.0, 20.0]
    assert ph["mase"] == [2.0, 1.0]
    assert all(len(v) == 2 for v in ph.values())


def test_forecast_smape_skips_zero_over_zero_and_bad_scale():
    m = forecast_metrics(np.array([0.0, 2.0]), np.array([0.0, 1.0]), scale=0.0)
    assert m["smape"] == 66.6667  # only |2-1| / 1.5 counts
    assert m["mase"] is None and m["per_horizon"]["mase"] == [None]
    assert forecast_metrics(np.zeros((3, 1)), np.zeros((3, 1)), 1.0)["smape"] is None


def test_forecast_per_horizon_shapes():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(30, 7)), rng.normal(size=(30, 7))
    m = forecast_metrics(y, p, scale=1.0)
    assert {k: len(v) for k, v in m["per_horizon"].items()} == {"mae": 7, "rmse": 7, "smape": 7, "mase": 7}
    assert 0 <= m["smape"] <= 200
    assert m["mae"] == pytest.approx(np.mean(m["per_horizon"]["mae"]), abs=1e-3)


def test_seasonal_naive_scale():
    s = [1.0, 3.0, 2.0, 4.0, 3.0, 5.0]
    assert seasonal_naive_scale(s, 2) == 1.0  # every y[t] - y[t-2] is 1
    assert seasonal_naive_scale(s, 1) == pytest.approx(1.6)  # (2+1+2+1+2) / 5
    with pytest.raises(ValueError):
        seasonal_naive_scale([1.0, 2.0], 2)


def test_anomaly_by_hand():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.6, 0.5, 0.9])  # >= 0.5 flags 0.6 (FP), 0.5 and 0.9 (TP)
    m = anomaly_metrics(y, s, 0.5)
    assert m == {
        "roc_auc": 0.8333,
        "pr_auc": 0.8333,
        "precision": 0.6667,
        "recall": 1.0,
        "f1": 0.8,
        "threshold": 0.5,
    }


def test_evaluate_dispatch_and_unknown_task():
    y = np.array([0, 1, 1])
    p = np.array([0.2, 0.7, 0.4])
    assert evaluate("classification", y, p, labels=["n", "p"]) == classification_metrics(y, p, ["n", "p"])
    assert set(evaluate("classification", y, p)) == CLASS_KEYS | {"pr_auc"}  # labels inferred: binary
    assert evaluate("regression", [1.0, 2.0], [1.0, 3.0])["mae"] == 0.5
    assert evaluate("forecast", np.ones((2, 3)), np.zeros((2, 3)), scale=2.0)["mase"] == 0.5
    assert evaluate("anomaly", y, p, threshold=0.5)["recall"] == 0.5
    with pytest.raises(ValueError, match="threshold"):
        evaluate("anomaly", y, p)
    with pytest.raises(ValueError, match="task must be one of"):
        evaluate("clustering", y, p)


def test_headline():
    assert headline("classification", {"roc_auc": 0.9, "accuracy": 0.8}) == ("accuracy", True)
    assert headline("regression", {}) == ("rmse", False)
    assert headline("forecast", {}) == ("mae", False)
    assert headline("anomaly", {}) == ("roc_auc", True)
    with pytest.raises(ValueError):
        headline("nope", {})
