"""The classical baselines fit, return the documented shapes and beat chance on easy data."""

import numpy as np

from tfdl.evaluation.baselines import (
    isolation_forest,
    logistic_regression,
    majority_class,
    pca_reconstruction,
    ridge,
)
from tfdl.evaluation.metrics import anomaly_metrics, classification_metrics


def _blobs(n=300, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, 4, 4)).astype(np.float32)  # image-like: flattened inside
    x[:, 0, 0] += 4 * y
    return x, y


def test_logistic_regression_probabilities():
    x, y = _blobs()
    proba = logistic_regression(x[:200], y[:200], x[200:])
    assert proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    assert classification_metrics(y[200:], proba, ["a", "b", "c"])["accuracy"] > 0.9


def test_logistic_regression_keeps_columns_for_unseen_classes():
    x, y = _blobs()
    keep = y != 1  # class 1 never seen in training
    proba = logistic_regression(x[keep], y[keep], x[:10], num_classes=4)
    assert proba.shape == (10, 4)
    assert np.all(proba[:, 1] == 0) and np.all(proba[:, 3] == 0)


def test_ridge_single_and_multi_output():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    w = rng.normal(size=(5, 3))
    y = x @ w + 0.5
    pred = ridge(x[:150], y[:150], x[150:], alpha=1e-3)
    assert pred.shape == (50, 3)
    np.testing.assert_allclose(pred, y[150:], atol=0.01)
    pred1 = ridge(x[:150], y[:150, 0], x[150:])
    assert pred1.shape == (50,)


def test_majority_class():
    proba = majority_class(np.array([2, 2, 0, 2, 1]), np.zeros((3, 7)), num_classes=4)
    np.testing.assert_array_equal(proba, np.tile([0.0, 0.0, 1.0, 0.0], (3, 1)))


def test_anomaly_baselines_rank_outliers_high():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 8))
    normal = rng.normal(size=(400, 2)) @ basis  # normals live on a 2-D plane in 8-D
    test = np.vstack([rng.normal(size=(50, 2)) @ basis, rng.normal(scale=3, size=(10, 8))])
    y = np.r_[np.zeros(50), np.ones(10)]
    for score in (pca_reconstruction(normal, test, n_components=2), isolation_forest(normal, test)):
        assert score.shape == (60,)
        assert anomaly_metrics(y, score, threshold=float(np.median(score)))["roc_auc"] > 0.9
