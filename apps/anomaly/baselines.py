"""Anomaly: the model's input scaling in NumPy, the threshold rule, and the classical baselines (PCA
reconstruction error, IsolationForest), each thresholded by the same rule on the same validation split."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfdl.data.splits import Splits


def scale(x: Any, info) -> np.ndarray:
    """The model's own input scaling in NumPy (the reconstruction target): /255 or standardization."""
    if info.extra["image"]:
        return np.asarray(x, dtype=np.float32) / 255.0
    return ((np.asarray(x, np.float32) - info.extra["mean"]) / np.sqrt(info.extra["var"])).astype(np.float32)


def pick_threshold(y_val, score_val, info) -> tuple[float, str]:
    """The stated rule on VALIDATION scores; without both classes in y_val, F1 is undefined -> fpr rule."""
    from tfdl.evaluation.metrics import choose_threshold

    rule, budget = info.extra["threshold_rule"], info.extra["fpr_budget"]
    if rule == "f1" and (y_val is None or len(np.unique(y_val)) < 2):
        rule = "fpr"
    thr = choose_threshold(y_val, score_val, rule=rule, fpr_budget=budget)
    return thr, (
        "best validation F1" if rule == "f1" else f"at most {budget:.1%} of validation normals flagged"
    )


def _flat(x, info) -> np.ndarray:
    s = scale(x, info)
    return s.reshape(len(s), -1)


def _pca(splits: Splits, k: int | None = None):
    from sklearn.decomposition import PCA

    k = k or splits.info.extra["latent_dim"]
    cache = splits.info.extra.setdefault("_pca", {})
    if k not in cache:
        x = _flat(splits.x_train, splits.info)
        cache[k] = PCA(n_components=min(k, *x.shape), random_state=0).fit(x)
    return cache[k]


def _pca_scores(pca, x, info) -> np.ndarray:
    f = _flat(x, info)
    return ((f - pca.inverse_transform(pca.transform(f))) ** 2).mean(axis=1)


def _calibrated(splits: Splits, val_scores: np.ndarray, test_scores: np.ndarray) -> tuple[np.ndarray, dict]:
    """(test scores, {"threshold": the baseline's own threshold by the same rule on validation})."""
    thr, _ = pick_threshold(splits.y_val, val_scores, splits.info)
    return test_scores, {"threshold": thr}


def pca_reconstruction(splits: Splits) -> tuple[np.ndarray, dict]:
    """PCA (the autoencoder's latent size) fitted on the normal training rows; score = reconstruction MSE."""
    pca = _pca(splits)
    return _calibrated(
        splits,
        _pca_scores(pca, splits.x_val, splits.info),
        _pca_scores(pca, splits.x_test, splits.info),
    )


def isolation_forest(splits: Splits) -> tuple[np.ndarray, dict]:
    """IsolationForest (200 trees) on the normal training rows (at most 20,000); score = -score_samples."""
    from sklearn.ensemble import IsolationForest

    x = _flat(splits.x_train, splits.info)
    rng = np.random.default_rng(0)
    x = x[np.sort(rng.choice(len(x), min(len(x), 20_000), replace=False))]
    forest = IsolationForest(n_estimators=200, random_state=splits.info.extra["seed"], n_jobs=1).fit(x)
    s = lambda a: -forest.score_samples(_flat(a, splits.info))  # noqa: E731
    return _calibrated(splits, s(splits.x_val), s(splits.x_test))
