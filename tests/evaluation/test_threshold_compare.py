"""Threshold choice on validation data only, and the model-vs-baseline verdict."""

import numpy as np
import pytest

from tfdl.evaluation.metrics import choose_threshold, compare

Y = np.array([0, 0, 0, 1, 1])
S = np.array([0.1, 0.2, 0.6, 0.5, 0.9])


def test_f1_rule_picks_best_f1_by_hand():
    # thresholds 0.1/0.2/0.5/0.6/0.9 give F1 0.571/0.667/0.800/0.500/0.667
    assert choose_threshold(Y, S, rule="f1") == 0.5


def test_fpr_rule_by_hand():
    # normals 0.1, 0.2, 0.6: a 34% budget allows one of three flagged -> threshold at 0.6
    assert choose_threshold(Y, S, rule="fpr", fpr_budget=0.34) == 0.6
    # a 0% budget must flag no normal: just above the highest normal score
    t = choose_threshold(Y, S, rule="fpr", fpr_budget=0.0)
    assert 0.6 < t < 0.6 + 1e-12


def test_fpr_rule_without_labels_treats_all_as_normal():
    scores = np.arange(1.0, 101.0)
    assert choose_threshold(None, scores, rule="fpr", fpr_budget=0.05) == 96.0  # 96..100 = 5 of 100


@pytest.mark.parametrize("budget", [0.001, 0.01, 0.05, 0.2])
def test_fpr_budget_respected_and_tight(budget):
    rng = np.random.default_rng(1)
    normals = np.round(rng.normal(size=2000), 2)  # rounded: ties must not break the budget
    t = choose_threshold(None, normals, rule="fpr", fpr_budget=budget)
    assert np.mean(normals >= t) <= budget
    lower = normals[normals < t]
    if len(lower):  # the next lower observed score would exceed the budget
        assert np.mean(normals >= lower.max()) > budget


def test_uses_only_what_it_is_given():
    y, s = Y.copy(), S.copy()
    t1 = choose_threshold(y, s, rule="fpr", fpr_budget=0.34)
    assert np.array_equal(y, Y) and np.array_equal(s, S)  # inputs untouched
    perm = np.array([4, 2, 0, 3, 1])
    assert choose_threshold(y[perm], s[perm], rule="fpr", fpr_budget=0.34) == t1  # order-free
    assert choose_threshold(y[perm], s[perm], rule="f1") == choose_threshold(y, s, rule="f1")
    # the fpr rule depends on validation normals only: moving anomaly scores changes nothing
    s2 = s.copy()
    s2[y == 1] = [100.0, -100.0]
    assert choose_threshold(y, s2, rule="fpr", fpr_budget=0.34) == t1
    # repeated calls agree (no hidden state)
    assert choose_threshold(y, s, rule="f1") == choose_threshold(y, s, rule="f1")


def test_threshold_errors():
    with pytest.raises(ValueError, match="both"):
        choose_threshold(None, S, rule="f1")
    with pytest.raises(ValueError, match="rule"):
        choose_threshold(Y, S, rule="median")


def test_compare_baseline_wins():
    c = compare(
        "classification",
        {"accuracy": 0.812},
        {"logistic_regression": {"accuracy": 0.835}, "majority_class": {"accuracy": 0.1}},
        model_name="cnn",
    )
    assert c["winner"] == "logistic_regression" and c["best_baseline"] == "logistic_regression"
    assert (c["metric"], c["model"], c["baseline"]) == ("accuracy", 0.812, 0.835)
    assert c["sentence"].startswith(
        "The baseline logistic_regression wins: accuracy 0.835 vs 0.812 for the cnn"
    )
    assert "0.023" in c["sentence"]


def test_compare_model_wins_lower_is_better_and_metrics_json_shape():
    model = {"model": "mlp", "test": {"rmse": 0.119}}  # metrics.json shape: name read from it
    c = compare("regression", model, {"ridge": {"test": {"rmse": 0.168}}, "mean": {"rmse": 1.0}})
    assert c["winner"] == "model" and c["best_baseline"] == "ridge"
    assert c["sentence"].startswith("The mlp model wins: rmse 0.119 vs 0.168 for the baseline ridge")
    assert "lower is better" in c["sentence"]


def test_compare_tie_goes_to_baseline_and_no_baseline():
    c = compare("anomaly", {"roc_auc": 0.835}, {"pca": {"roc_auc": 0.835}})
    assert c["winner"] == "pca" and "ties" in c["sentence"]
    none = compare("forecast", {"mae": 1.0}, {})
    assert none["winner"] is None and "No baseline" in none["sentence"]


def test_compare_calls_a_small_accuracy_margin_noise_only_on_a_small_test_set():
    base = {"tfidf_logistic_regression": {"accuracy": 0.781}}
    small = compare("classification", {"accuracy": 0.7778}, base, model_name="bow", n_test=1922)
    assert small["winner"] == "tfidf_logistic_regression" and small["within_noise"] is True
    expected = "within two standard errors of accuracy on 1,922 test examples (+/-0.009433 each)"
    assert expected in small["sentence"]
    assert "`tfdl cv`" in small["sentence"]
    large = compare("classification", {"accuracy": 0.7778}, base, model_name="bow", n_test=200_000)
    assert large["within_noise"] is False and "standard error" not in large["sentence"]
    assert "within_noise" not in compare("classification", {"accuracy": 0.7778}, base)
