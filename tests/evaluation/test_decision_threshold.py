"""Decision thresholds for binary classifiers: each eval.threshold rule meets its goal on validation, bad
rules are one-line errors, and a served model's :classify decides with the card's threshold."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from sklearn import metrics as skm

from tfdl.evaluation.metrics import choose_threshold, classification_metrics, parse_threshold_rule


def _scores(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = 1 / (1 + np.exp(-(2.0 * y - 1.0 + rng.normal(scale=1.2, size=n))))
    return y, s


def test_each_rule_meets_its_goal_on_validation():
    y, s = _scores()
    t = choose_threshold(y, s, "precision@0.9")
    assert skm.precision_score(y, s >= t) >= 0.9
    assert skm.precision_score(y, s >= t - 0.02) < 0.9 or t <= s.min()  # the lowest such threshold
    t = choose_threshold(y, s, "recall@0.9")
    assert skm.recall_score(y, s >= t) >= 0.9
    assert skm.recall_score(y, s >= t + 0.02) < 0.9  # the highest such threshold
    t_f1 = choose_threshold(y, s, "f1")
    grid = np.linspace(0.05, 0.95, 91)
    assert skm.f1_score(y, s >= t_f1) >= max(skm.f1_score(y, s >= g) for g in grid) - 1e-9
    t_j = choose_threshold(y, s, "youden")
    fpr, tpr, thr = skm.roc_curve(y, s)
    assert t_j == pytest.approx(thr[1:][np.argmax((tpr - fpr)[1:])])
    assert choose_threshold(y, s, "fixed:0.3") == 0.3


def test_the_threshold_changes_the_test_metrics_of_a_binary_model():
    y, s = _scores(seed=1)
    p = np.stack([1 - s, s], 1)
    at_half = classification_metrics(y, p, ["no", "yes"])
    at_low = classification_metrics(y, p, ["no", "yes"], threshold=0.2)
    assert at_low["macro_recall"] != at_half["macro_recall"]
    assert at_low["roc_auc"] == at_half["roc_auc"]  # ranking metrics do not move


@pytest.mark.parametrize("bad", ["precision@1.5", "recall@", "fixed:2", "best", "precision0.9"])
def test_bad_rules_are_refused(bad):
    with pytest.raises(ValueError, match="not one of"):
        parse_threshold_rule(bad)


@pytest.mark.parametrize(
    ("value", "message"),
    [("precision@1.5", "eval.threshold"), ("fpr", "anomaly"), ("nonsense", "eval.threshold")],
)
def test_bad_eval_threshold_is_a_one_line_exit_2(workdir, capsys, value, message):
    from tfdl.cli import main

    assert main(["train", "tabular", "--set", f"eval.threshold={value}", "--no-export"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_served_classify_applies_the_card_threshold(tmp_path):
    import keras

    from tests.serving.helpers import running
    from tfdl.export.savedmodel import signature_in_words, write_version
    from tfdl.serving.server import create_app

    a = keras.Input((1,), name="a")
    out = keras.layers.Dense(2, activation="softmax", name="p")(a)
    model = keras.Model({"a": a}, out)
    model.get_layer("p").set_weights([np.array([[-1.0, 1.0]], np.float32), np.zeros(2, np.float32)])
    # p(yes) = sigmoid(2a): a = -0.5 -> 0.27, a = 0.5 -> 0.73
    for name, thr in (("plain", None), ("strict", 0.8), ("lenient", 0.2)):
        card = {"app": "tabular", "model": "tiny", "task": "classification", "labels": ["no", "yes"],
                "signature": signature_in_words(model),
                **({"decision_threshold": thr} if thr is not None else {})}  # fmt: skip
        write_version(tmp_path, name, lambda p: model.export(str(p), format="tf_saved_model", verbose=False),
                      card)  # fmt: skip
    app = create_app(tmp_path, max_batch=8, batch_wait_ms=5, poll_seconds=5)
    body = {"examples": [{"a": -0.5}, {"a": 0.5}]}
    with running(app) as url, httpx.Client(timeout=30) as c:
        got = {}
        for name in ("plain", "strict", "lenient"):
            r = c.post(f"{url}/v1/models/{name}:classify", json=body)
            assert r.status_code == 200, r.text
            got[name] = r.json()
    assert got["plain"]["decisions"] == ["no", "yes"] and "threshold" not in got["plain"]
    assert got["strict"]["decisions"] == ["no", "no"] and got["strict"]["threshold"] == 0.8
    assert got["lenient"]["decisions"] == ["yes", "yes"]
    # TF Serving's own part of the answer is unchanged: the class scores.
    assert got["strict"]["results"] == got["plain"]["results"]


def test_one_decision_rule_for_metrics_bootstrap_and_serving():
    """class_ids is the rule everywhere: sigmoid column, two columns with / without a threshold, k classes;
    the served decide() of one row gives the same ids."""
    from tfdl.evaluation.metrics import class_ids
    from tfdl.tasks import get_task

    sig = np.array([0.2, 0.5, 0.7])
    assert class_ids(sig).tolist() == [0, 1, 1]
    assert class_ids(sig[:, None], 0.6).tolist() == [0, 0, 1]
    two = np.stack([1 - sig, sig], axis=1)
    assert class_ids(two).tolist() == [0, 0, 1]  # argmax: a 0.5 tie goes to the first class
    assert class_ids(two, 0.5).tolist() == [0, 1, 1]  # a threshold is "reaches it"
    three = np.array([[0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    assert class_ids(three, 0.2).tolist() == [2, 0]  # no threshold for more than two classes
    task = get_task("classification")
    for p, thr in ((two, 0.5), (two, None), (three, None), (sig[:, None], 0.6)):
        served = [task.decide(row, {"decision_threshold": thr}) for row in p]
        assert served == class_ids(p, thr).tolist()
