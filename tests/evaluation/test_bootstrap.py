"""Bootstrap intervals: the weighted metrics equal scikit-learn on the resampled rows, the intervals cover a
known value about 95 % of the time (iid and, for correlated windows, moving blocks), and the paired
difference decides wins / loses / within noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfdl.evaluation import bootstrap as B
from tfdl.evaluation.metrics import (
    anomaly_metrics,
    classification_metrics,
    compare,
    forecast_metrics,
    regression_metrics,
)


def _weights(idx_rows: list[np.ndarray], n: int) -> np.ndarray:
    return np.stack([np.bincount(i, minlength=n) for i in idx_rows]).astype(float)


@pytest.mark.parametrize("k", [2, 3])
def test_weighted_classification_metrics_equal_sklearn_on_the_resampled_rows(k):
    rng = np.random.default_rng(k)
    n = 300
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p[:20] = np.round(p[:20], 1)  # ties in the scores
    idx = [rng.integers(0, n, n) for _ in range(4)]
    stats = B.classification_stats(_weights(idx, n), y, p, k)
    labels = [str(i) for i in range(k)]
    for b, i in enumerate(idx):
        want = classification_metrics(y[i], p[i], labels)
        for name, v in want.items():
            assert stats[name][b] == pytest.approx(v, abs=1e-4), name


def test_weighted_regression_forecast_and_anomaly_metrics_equal_the_plain_ones():
    rng = np.random.default_rng(0)
    n = 200
    y = rng.normal(size=(n, 5)) + 3
    pred = y + rng.normal(scale=0.5, size=(n, 5))
    score = rng.normal(size=n)
    lab = (score + rng.normal(size=n) > 1).astype(int)
    idx = [rng.integers(0, n, n) for _ in range(3)]
    w = _weights(idx, n)
    fs, rs = B.forecast_stats(w, y, pred, 0.7), B.regression_stats(w, y[:, 0], pred[:, 0])
    an = B.anomaly_stats(w, lab, score, 0.8)
    for b, i in enumerate(idx):
        f = forecast_metrics(y[i], pred[i], 0.7)
        for name in ("mae", "rmse", "smape", "mase"):
            assert fs[name][b] == pytest.approx(f[name], abs=1e-4), name
        r = regression_metrics(y[i, 0], pred[i, 0])
        for name in ("mae", "mse", "rmse", "r2"):
            assert rs[name][b] == pytest.approx(r[name], abs=1e-4), name
        a = anomaly_metrics(lab[i], score[i], 0.8)
        for name in ("roc_auc", "pr_auc", "precision", "recall", "f1"):
            assert an[name][b] == pytest.approx(a[name], abs=1e-4), name


def test_stratified_resamples_keep_the_class_counts_and_blocks_are_consecutive():
    rng = np.random.default_rng(0)
    y = np.array([0] * 90 + [1] * 10)
    w = B.resample_weights(100, 50, rng, method="stratified", strata=y)
    assert np.all(w[:, y == 1].sum(1) == 10) and np.all(w.sum(1) == 100)
    wb = B.resample_weights(100, 20, rng, method="block", block=10)
    assert np.all(wb.sum(1) == 100)
    for row in wb:  # every maximal run of drawn rows is made of whole blocks of 10 consecutive rows
        drawn = np.r_[0, (row > 0).astype(int), 0]
        starts, ends = np.flatnonzero(np.diff(drawn) == 1), np.flatnonzero(np.diff(drawn) == -1)
        assert np.all(ends - starts >= 10)


def _coverage(draw, truth: float, reps: int, **kw) -> float:
    hits = 0
    for r in range(reps):
        y, pred = draw(np.random.default_rng(1000 + r))
        iv = B.bootstrap(kw["task"], y, {"model": pred}, resamples=400, seed=r, method=kw.get("method"),
                         block=kw.get("block"))  # fmt: skip
        lo, hi = iv["model"]["mae"]
        hits += lo <= truth <= hi
    return hits / reps


def test_iid_interval_covers_a_known_mean_about_95_percent():
    # MAE of N(0, 1) errors has the known mean sqrt(2 / pi).
    def draw(rng):
        e = rng.normal(size=200)
        return np.zeros(200), e

    cov = _coverage(draw, math.sqrt(2 / math.pi), 200, task="regression")
    assert 0.89 <= cov <= 0.99, cov


def test_moving_blocks_cover_correlated_errors_where_iid_does_not():
    # Forecast windows' errors follow an AR(1) with phi 0.9: the mean |e| is sd * sqrt(2 / pi) with
    # sd = 1 / sqrt(1 - phi^2). Blocks keep the correlation; an iid bootstrap is far too narrow.
    phi, n = 0.9, 600
    sd = 1 / math.sqrt(1 - phi**2)

    def draw(rng):
        e = np.empty(n)
        e[0] = rng.normal(scale=sd)
        for t in range(1, n):
            e[t] = phi * e[t - 1] + rng.normal()
        return np.zeros((n, 1)), e[:, None]

    truth = sd * math.sqrt(2 / math.pi)
    blocks = _coverage(draw, truth, 150, task="forecast", method="block", block=30)
    iid = _coverage(draw, truth, 150, task="forecast", method="iid")
    assert blocks >= 0.85, blocks
    assert iid < blocks - 0.15, (iid, blocks)


def _clf_case(seed: int, model_noise: float, base_noise: float, n: int = 600):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)

    def proba(noise):
        z = (2 * y - 1) * 1.0 + rng.normal(scale=noise, size=n)
        p1 = 1 / (1 + np.exp(-z))
        return np.stack([1 - p1, p1], 1)

    return y, proba(model_noise), proba(base_noise)


def _verdict(y, pm, pb, metric="roc_auc"):
    kw = {"labels": ["a", "b"]}
    iv = B.bootstrap("classification", y, {"model": pm, "base": pb}, {"model": kw, "base": kw}, seed=1)
    lab = ["a", "b"]
    out = compare("classification", classification_metrics(y, pm, lab),
                  {"base": classification_metrics(y, pb, lab)}, metric=metric, intervals=iv)  # fmt: skip
    return out


def test_a_clearly_better_model_wins_identical_predictions_are_within_noise_and_worse_loses():
    y, good, bad = _clf_case(0, 0.5, 3.0)
    won = _verdict(y, good, bad)
    assert won["verdict"] == "wins" and "wins" in won["sentence"]
    assert won["difference_interval"]["low"] > 0 and won["difference_interval"]["baseline"] == "base"
    same = _verdict(y, good, good.copy())
    assert same["verdict"] == "within noise" and same["difference_interval"]["low"] <= 0
    assert "within noise" in same["sentence"]
    lost = _verdict(y, bad, good)
    assert lost["verdict"] == "loses" and "loses" in lost["sentence"]


def test_lower_is_better_metrics_flip_the_sides():
    assert B.verdict(-2.0, -1.0, higher=False) == "wins"
    assert B.verdict(1.0, 2.0, higher=False) == "loses"
    assert B.verdict(-1.0, 1.0, higher=False) == "within noise"
    assert B.verdict(None, None, higher=True) == "within noise"


def test_ten_classes_and_10k_rows_stay_cheap():
    import time

    rng = np.random.default_rng(0)
    n, k = 10_000, 10
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    t0 = time.process_time()
    iv = B.bootstrap("classification", y, {"model": p, "b": p[::-1].copy()}, resamples=200)
    assert time.process_time() - t0 < 60  # CPU seconds, so a loaded machine does not fail it
    assert set(iv["model"]) >= {"accuracy", "macro_f1", "roc_auc"}
