"""The headline metric is chosen by task AND data: ROC-AUC for an imbalanced binary target."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfdl.cli import main
from tfdl.evaluation.metrics import choose_headline, compare


def test_imbalanced_binary_is_judged_on_roc_auc():
    y = np.array([0] * 80 + [1] * 20)
    h = choose_headline("classification", y, ["no", "yes"])
    assert h["metric"] == "roc_auc" and h["higher_is_better"] is True
    assert "20.0%" in h["reason"] and "PR-AUC" in h["reason"]


@pytest.mark.parametrize(
    "task, y, labels, metric",
    [
        ("classification", np.array([0] * 60 + [1] * 40), ["a", "b"], "accuracy"),  # 40 %: balanced enough
        (
            "classification",
            np.array([0] * 90 + [1] * 5 + [2] * 5),
            ["a", "b", "c"],
            "accuracy",
        ),  # multi-class
        ("regression", None, None, "rmse"),
        ("forecast", None, None, "mae"),
    ],
)
def test_other_cases_keep_the_task_default(task, y, labels, metric):
    assert choose_headline(task, y, labels)["metric"] == metric


def test_override_and_its_direction():
    h = choose_headline("classification", np.array([0] * 99 + [1]), ["a", "b"], override="mcc")
    assert (h["metric"], h["higher_is_better"], h["reason"]) == ("mcc", True, "set by eval.headline")
    assert choose_headline("regression", None, None, override="mae")["higher_is_better"] is False


def test_compare_decides_on_the_chosen_metric():
    # The model loses on accuracy (the majority-class trick) but ranks far better: ROC-AUC decides.
    model = {"accuracy": 0.80, "roc_auc": 0.90}
    base = {"majority": {"accuracy": 0.82, "roc_auc": 0.50}}
    assert compare("classification", model, base)["winner"] == "majority"
    c = compare("classification", model, base, metric="roc_auc", higher_is_better=True)
    assert c["metric"] == "roc_auc" and c["winner"] == "model"


def test_a_run_on_imbalanced_data_records_and_uses_roc_auc(workdir):
    rng = np.random.default_rng(0)
    n = 400
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = (x1 + 0.5 * x2 > 1.0).astype(int)  # ~20 % positives
    rows = [f"{a:.4f},{b:.4f},{t}" for a, b, t in zip(x1, x2, y)]
    (workdir / "rare.csv").write_text("\n".join(["x1,x2,label", *rows]) + "\n")
    args = [
        "train",
        "tabular",
        "--data",
        "rare.csv",
        "--epochs",
        "3",
        "--no-export",
        "--set",
        "data.target=label",
    ]
    assert main(args) == 0
    (run,) = [p for p in (workdir / "runs" / "tabular").iterdir() if (p / "metrics.json").is_file()]
    m = json.loads((run / "metrics.json").read_text())
    assert m["headline"]["metric"] == "roc_auc" and "minority class" in m["headline"]["reason"]
    assert m["comparison"]["metric"] == "roc_auc"
    report = (run / "report.md").read_text()
    assert "Headline metric: **roc_auc**" in report and "minority class" in report


def test_unknown_headline_is_a_one_line_error_before_training(workdir, capsys):
    assert main(["train", "tabular", "--set", "eval.headline=accuracyy"]) == 2
    err = capsys.readouterr().err.strip()
    assert "eval.headline 'accuracyy'" in err and "\n" not in err
    assert not (workdir / "runs").exists()
