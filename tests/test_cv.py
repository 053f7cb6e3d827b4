"""`tfdl cv`: k-fold cross-validation against the baselines on identical folds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.apps.test_tabular_app import customers
from tfdl.cli import main
from tfdl.cv import CvResult


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["data.folds=1"], "data.folds must be 0 (one train/val/test split) or at least 2"),
        (["data.folds=3", "data.fold=3"], "data.fold must be below data.folds (3); got 3"),
    ],
)
def test_bad_fold_settings_are_one_line_errors(workdir: Path, capsys, sets, message):
    assert main(["train", "text", "--no-export", *[a for s in sets for a in ("--set", s)]]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_apps_with_a_fixed_test_split_refuse_folds_and_leave_no_run(workdir: Path, capsys):
    assert main(["cv", "vision", "--folds", "3"]) == 2  # Fashion-MNIST keeps its official test split
    err = capsys.readouterr().err
    assert "data.folds is not available for vision" in err and err.count("\n") == 1
    assert not (workdir / "runs").exists()
    assert main(["cv", "text", "--set", "data.fold=1"]) == 2
    assert "tfdl cv sets data.folds and data.fold itself" in capsys.readouterr().err


def test_cv_runs_every_fold_against_the_baselines(workdir: Path, capsys):
    customers(300).to_csv(workdir / "churn.csv", index=False)
    args = ["cv", "tabular", "--data", "churn.csv", "--folds", "3", "--metric", "roc_auc"]
    assert main([*args, "--set", "data.target=churn", "--set", "train.epochs=4"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(next((workdir / "runs" / "tabular").glob("cv-*/cv.json")).read_text())
    assert summary["folds"] == 3 and summary["metric"] == "roc_auc" and len(summary["per_fold"]) == 3
    assert set(summary["baselines"]) == {"linear", "hist_gradient_boosting"}
    n_test = 0
    for k, fold in enumerate(summary["per_fold"]):
        m = json.loads((Path(fold["run_dir"]) / "metrics.json").read_text())
        assert m["dataset"]["cv"] == {"folds": 3, "fold": k} and m["test"]["roc_auc"] == fold["model"]
        n_test += m["dataset"]["n_test"]
    assert n_test == 300  # every row tested once
    assert summary["model_stats"]["mean"] > 0.8  # churn is learnable from tenure, plan and autopay
    assert summary["verdict"] in out and "mean +/- sd" in out


def test_paired_verdict_says_when_nobody_wins_clearly():
    r = CvResult("x", "mlp", "accuracy", True, 3)
    r.per_fold = [{"fold": k, "model": m, "baselines": {"lr": b}} for k, (m, b) in
                  enumerate([(0.80, 0.79), (0.78, 0.79), (0.81, 0.80)])]  # fmt: skip
    assert r.paired("lr")["model_wins"] == 2 and "neither wins clearly" in r.verdict()
    r.per_fold = [{"fold": k, "model": m, "baselines": {"lr": b}} for k, (m, b) in
                  enumerate([(0.75, 0.79), (0.74, 0.79), (0.76, 0.80)])]  # fmt: skip
    assert r.verdict().endswith("the baseline lr wins.")
    r.higher_is_better = False  # an error metric: lower wins
    assert r.verdict().endswith("the mlp model wins.")


def test_a_killed_cross_validation_resumes_without_retraining_finished_folds(workdir: Path, monkeypatch):
    import tfdl.pipeline
    from apps.tabular import APP
    from tfdl.cv import cross_validate

    customers(160).to_csv(workdir / "churn.csv", index=False)
    sets = ["data.path=churn.csv", "data.target=churn", "train.epochs=2", "model.name=mlp"]  # tests resume
    real, trained = tfdl.pipeline.train, []

    def killed_in_fold_2(app, cfg, **kw):
        if cfg.data.fold == 1 and "killed" not in trained:
            trained.append("killed")
            raise KeyboardInterrupt
        trained.append(cfg.data.fold)
        return real(app, cfg, **kw)

    monkeypatch.setattr(tfdl.pipeline, "train", killed_in_fold_2)
    with pytest.raises(KeyboardInterrupt):
        cross_validate(APP, {}, sets, folds=2, log=lambda *_: None)
    r = cross_validate(APP, {}, sets, folds=2, log=lambda *_: None)
    assert trained == [0, "killed", 1]  # fold 0 was read back, not trained again
    assert len(list((workdir / "runs" / "tabular").glob("cv-*"))) == 1
    first_run = json.loads((r.summary_dir / "progress.json").read_text())["runs"]["0"]
    assert r.per_fold[0]["run_dir"] == first_run and [f["fold"] for f in r.per_fold] == [0, 1]
    assert (r.summary_dir / "cv.json").is_file()
    again = cross_validate(APP, {}, sets, folds=2, log=lambda *_: None)  # finished: a new cross-validation
    assert again.summary_dir != r.summary_dir and trained[-2:] == [0, 1]


def test_a_baseline_missing_on_one_fold_is_left_out_of_the_summary():
    r = CvResult("x", "mlp", "roc_auc", True, 2)
    r.per_fold = [{"fold": 0, "model": 0.8, "baselines": {"lr": 0.7, "hgb": 0.9}},
                  {"fold": 1, "model": 0.8, "baselines": {"lr": 0.7}}]  # fmt: skip
    assert r.baseline_names == ["lr"] and "lr" in r.verdict() and set(r.to_json()["baselines"]) == {"lr"}
