"""Anomaly app: threshold from validation only, VAE loss terms, CLI errors, serving output, Shuttle floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfdl.cli import main


def _rows(n: int, anomaly_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Normals lie on a 2-D plane inside 6-D (plus small noise); anomalies are off the plane."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).normal(size=(2, 6))
    y = (rng.random(n) < anomaly_rate).astype(int)
    x = rng.normal(size=(n, 2)) @ basis + 0.05 * rng.normal(size=(n, 6)) + 10.0
    x[y == 1] += rng.normal(scale=2.0, size=(int(y.sum()), 6))
    return x, y


def _write(path: Path, x: np.ndarray, y: np.ndarray | None = None) -> Path:
    cols = [f"f{i}" for i in range(x.shape[1])]
    lines = [",".join(cols + (["label"] if y is not None else []))]
    for i, row in enumerate(x):
        lines.append(",".join(f"{v:.5f}" for v in row) + (f",{y[i]}" if y is not None else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def rows_csv(tmp_path) -> Path:
    return _write(tmp_path / "rows.csv", *_rows(800, 0.1, 0))


def _trained(rows_csv: Path, model: str = "dense_ae"):
    from apps.anomaly import APP
    from tfdl.app import model_hooks
    from tfdl.pipeline import build_model, make_dataset, resolve_config

    cfg = resolve_config(APP, {}, [f"data.path={rows_csv}", "data.label_column=label", f"model.name={model}"])
    splits = APP.load_data(cfg)
    y_train, y_val = model_hooks(APP, cfg).targets(splits)
    net = build_model(APP, cfg, splits)
    net.compile(optimizer="adam", loss="mse")
    net.fit(
        make_dataset(splits.x_train, y_train, 64, shuffle=True, seed=0), epochs=3, verbose=0, shuffle=False
    )
    return APP, cfg, splits, net


def test_threshold_and_baseline_thresholds_never_touch_test(rows_csv, tmp_path):
    from apps import anomaly
    from tfdl.evaluation.metrics import choose_threshold

    app, cfg, splits, net = _trained(rows_csv)
    assert (splits.y_train == 0).all() and splits.y_val.sum() > 0 and splits.y_test.sum() > 0
    kw = app.fit_state(net, splits, cfg)
    expected = choose_threshold(splits.y_val, anomaly.predict(net, splits.x_val), rule="f1")
    assert kw["threshold"] == pytest.approx(expected)
    base = {name: fn(splits) for name, fn in app.baselines.items()}
    base = {name: (pred, bkw["threshold"]) for name, (pred, bkw) in base.items()}
    # Scramble the test split (values and labels): every threshold must stay exactly the same.
    rng = np.random.default_rng(5)
    splits.x_test = rng.normal(scale=50, size=splits.x_test.shape).astype(np.float32)
    splits.y_test = 1 - splits.y_test
    assert app.fit_state(net, splits, cfg)["threshold"] == kw["threshold"]
    for name, fn in app.baselines.items():
        assert fn(splits)[1]["threshold"] == base[name][1]
    # The fpr rule flags at most the budget of validation normals.
    splits.info.extra.update(threshold_rule="fpr", fpr_budget=0.05)
    thr = app.fit_state(net, splits, cfg)["threshold"]
    val = anomaly.predict(net, splits.x_val)
    assert (val[splits.y_val == 0] >= thr).mean() <= 0.05
    # Without labels (all rows "normal"), the F1 rule is undefined: the budget rule is used and said so.
    splits.info.extra.update(threshold_rule="f1", labelled=False)
    _, why = anomaly.pick_threshold(np.zeros(len(val), int), val, splits.info)
    assert why.startswith("at most 5.0%")
    splits.info.update(app.fit_state(net, splits, cfg))
    titles = [t for t, _ in app.report(net, splits, {}, {}, tmp_path)[1]]
    assert "Rows above the threshold (test, no labels)" in titles


def test_score_is_chosen_on_validation_and_each_served_score_matches_its_numpy_form(rows_csv):
    """The score is chosen on validation (never looking at test): the neighbours default unless another
    is clearly better there; predict and the exported score model give it; the neighbours and
    code-distance scores computed in Keras (what is served) equal their NumPy forms."""
    from sklearn.metrics import roc_auc_score

    from apps import anomaly
    from apps.anomaly import scoring as S

    app, cfg, splits, net = _trained(rows_csv)
    kw = app.fit_state(net, splits, cfg)
    state = S.state_of(net)
    aucs = state["val_roc_auc"]
    assert set(aucs) == set(S.MODES) and kw["preprocessing"]["score_mode"] == state["mode"]
    if state["mode"] == S.DEFAULT_MODE:
        assert "the default" in state["why"]
    else:
        assert aucs[state["mode"]] == max(aucs.values()) and "clearly above the default" in state["why"]
    served = anomaly.serving_model(net, splits, {}).predict(splits.x_test, verbose=0)
    np.testing.assert_allclose(served, anomaly.predict(net, splits.x_test), rtol=1e-6)
    assert roc_auc_score(splits.y_test, served) > 0.9

    x = S._scaled(splits, splits.x_test)
    knn = S.score_model(net, {**state, "mode": "neighbours"}).predict(splits.x_test, verbose=0)
    np.testing.assert_allclose(knn, S._neighbours(state["reference"], state["k"], x), rtol=1e-3, atol=1e-4)
    code = S.parts_model(net).predict(splits.x_test, verbose=0)[1] - state["code_mean"]
    latent = np.einsum("ij,jk,ik->i", code, state["precision"], code) * state["latent_weight"]
    got = S.score_model(net, {**state, "mode": "latent"}).predict(splits.x_test, verbose=0)
    np.testing.assert_allclose(got, latent, rtol=1e-3, atol=1e-5)

    splits.x_test = np.random.default_rng(2).normal(size=splits.x_test.shape).astype(np.float32)
    splits.y_test = 1 - splits.y_test
    assert app.fit_state(net, splits, cfg)["threshold"] == kw["threshold"]
    assert S.state_of(net)["val_roc_auc"] == aucs


def test_choice_keeps_the_neighbours_default_without_clear_validation_evidence():
    """Fewer than MIN_VAL_ANOMALIES labelled validation anomalies, or none: the default (neighbours),
    said so. Enough of them: another score replaces it only when its validation ROC-AUC is better by more
    than two bootstrap standard errors, not when it is ahead by noise."""
    from apps.anomaly import scoring as S

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300, int), np.ones(40, int)]
    knn = rng.normal(size=340) + 1.0 * y  # ROC-AUC ~0.76
    cands = {"neighbours": knn, "reconstruction": rng.normal(size=340) + 3.0 * y}  # ~0.98
    cands["latent"] = knn + 0.05 * rng.normal(size=340)  # the default's score plus noise
    assert S.DEFAULT_MODE == "neighbours"
    few = np.r_[np.zeros(300, int), np.ones(S.MIN_VAL_ANOMALIES - 1, int)]
    mode, why, aucs = S.choose_mode(few, {m: s[: len(few)] for m, s in cands.items()})
    assert (mode, aucs) == ("neighbours", {}) and "no evidence to choose on" in why
    assert S.choose_mode(np.zeros(340, int), cands)[0] == "neighbours"  # unlabelled rows
    mode, why, aucs = S.choose_mode(y, cands)
    assert mode == "reconstruction" and "clearly above the default" in why
    assert aucs["reconstruction"] > aucs["neighbours"] + 0.1
    close = {"neighbours": knn, "latent": cands["latent"]}
    mode, why, aucs = S.choose_mode(y, close)
    assert abs(aucs["latent"] - aucs["neighbours"]) < 0.02 and mode == "neighbours" and "the default" in why


def test_rows_with_few_validation_anomalies_score_by_neighbours_on_real_data(tmp_path):
    """Real rows no default was tuned on at first (the suite's wdbc-malignant: 357 benign + 21 malignant
    breast-cancer rows, 3 labelled anomalies on validation): the score falls back to the neighbours
    default, computed by the served Keras model, and its test ROC-AUC clears a floor and the
    IsolationForest baseline's less 0.03 (measured on this 70/15/15 split: 0.975, IsolationForest 0.988)."""
    import sys

    from sklearn.metrics import roc_auc_score

    from apps import anomaly
    from apps.anomaly import APP
    from apps.anomaly import scoring as S
    from tfdl.pipeline import build_model, resolve_config

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import generalize_data as G

    meta = G.prepare(next(d for d in G.DATASETS if d.name == "wdbc-malignant"), tmp_path)
    cfg = resolve_config(APP, {}, [f"data.path={meta['path']}", "data.label_column=label"])
    splits = APP.load_data(cfg)
    assert 0 < splits.y_val.sum() < S.MIN_VAL_ANOMALIES
    net = build_model(APP, cfg, splits)  # the neighbours score uses the model's scaling only
    APP.fit_state(net, splits, cfg)
    assert S.state_of(net)["mode"] == "neighbours"
    auc = roc_auc_score(splits.y_test, anomaly.predict(net, splits.x_test))
    forest = roc_auc_score(splits.y_test, APP.baselines["isolation_forest"](splits)[0])
    assert auc >= 0.93 and auc >= forest - 0.03, (auc, forest)


def test_vae_adds_kl_term_to_reconstruction_loss(rows_csv):
    import keras

    from tfdl.app import model_hooks

    app, cfg, splits, net = _trained(rows_csv, "vae")
    x = splits.x_val[:64]
    target = model_hooks(app, cfg).targets(splits)[1][:64]
    net(x, training=False)
    assert len(net.losses) == 1  # the Sampling layer's KL term
    kl = float(sum(keras.ops.convert_to_numpy(t) for t in net.losses))
    assert kl > 0
    mse = float(np.mean((np.asarray(net.predict(x, verbose=0)) - target) ** 2))
    total = net.evaluate(x, target, batch_size=64, verbose=0)
    total = total[0] if isinstance(total, list) else total
    assert total == pytest.approx(mse + kl, rel=1e-3)


def test_cli_train_export_serve_and_predict(rows_csv, workdir, capsys):
    import tensorflow as tf

    args = ["train", "anomaly", "--data", str(rows_csv), "--epochs", "8", "--set", "data.label_column=label"]
    args += ["--set", "train.batch_size=32", "--set", "train.learning_rate=0.003"]
    assert main(args) == 0
    run = next((workdir / "runs" / "anomaly").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    assert test["roc_auc"] > 0.95, test
    assert set(metrics["baselines"]) == {"pca", "isolation_forest"}
    assert metrics["baselines"]["pca"]["threshold"] != test["threshold"]  # own validation threshold
    report = (run / "report.md").read_text()
    assert "## Threshold" in report and "plots/reconstruction_error.png" in report
    assert (run / "plots" / "score_histogram.png").is_file()

    version = workdir / "saved_models" / "anomaly" / "1"
    assert json.loads((version / "assets" / "threshold.json").read_text())["threshold"] == test["threshold"]
    card = json.loads((version / "metadata.json").read_text())
    assert card["preprocessing"]["threshold"] == test["threshold"]
    # here the neighbours default (no other score clearly better on validation): the SavedModel computes
    # the distances to its stored training normals itself
    assert card["preprocessing"]["score_mode"] == "neighbours", card["preprocessing"]["score_choice"]
    x, _ = _rows(20, 0.5, 3)
    fn = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = next(
        iter(fn(**{next(iter(fn.structured_input_signature[1])): tf.constant(x, tf.float32)}).values())
    )
    out = out.numpy()
    assert out.shape == (20, 3)
    np.testing.assert_allclose(out[:, 1], test["threshold"], rtol=1e-6)
    assert ((out[:, 0] >= out[:, 1]) == (out[:, 2] == 1.0)).all()

    capsys.readouterr()
    good = _write(workdir / "new.csv", x)
    assert main(["predict", "anomaly", "--input", str(good), "--model", str(version)]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(answers) == 20 and set(answers[0]) == {"score", "threshold", "is_anomaly"}
    short = _write(workdir / "short.csv", x[:, :5])
    assert main(["predict", "anomaly", "--input", str(short), "--model", str(version)]) == 2
    assert "expected 6 columns" in capsys.readouterr().err

    # a later `tfdl export` of the run carries the same validation threshold
    assert main(["export", "anomaly"]) == 0
    again = workdir / "saved_models" / "anomaly" / "2" / "assets" / "threshold.json"
    assert json.loads(again.read_text())["threshold"] == test["threshold"]


def test_cli_bad_inputs_exit_2(tmp_path, rows_csv, workdir, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,x\n4,5\n")
    assert main(["train", "anomaly", "--data", str(bad)]) == 2
    assert "column 'b' must be numeric" in capsys.readouterr().err
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    assert main(["train", "anomaly", "--data", str(ragged)]) == 2
    assert "same number of columns" in capsys.readouterr().err
    assert main(["train", "anomaly", "--set", "data.source=nope"]) == 2
    assert "unknown data.source 'nope'" in capsys.readouterr().err
    assert main(["train", "anomaly", "--model", "conv_ae", "--data", str(rows_csv)]) == 2
    assert "conv_ae needs images" in capsys.readouterr().err


@pytest.mark.slow
def test_shuttle_roc_auc_floor(workdir):
    """Real data: 8 epochs on the normal Shuttle training rows must reach test ROC-AUC >= 0.99."""
    from apps.anomaly import APP
    from tfdl.pipeline import resolve_config, train

    cfg = resolve_config(APP, {}, ["train.epochs=8"])
    result = train(APP, cfg, export=False, log=lambda *_: None)
    assert result.metrics["test"]["roc_auc"] >= 0.99, result.metrics["test"]
    assert result.metrics["baselines"]["isolation_forest"]["roc_auc"] > 0.9


def _mini_fashion(folder: Path, n_train: int = 400, n_test: int = 200) -> Path:
    """Fashion-MNIST-format .gz files: class c is a bright bar at row 2c (so classes differ)."""
    import gzip

    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, 2 * c + 4 : 2 * c + 8, 4:24] = 230
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(b"\0" * 16 + x.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(b"\0" * 8 + y.tobytes())
    return folder


def test_oneclass_conv_ae_report_has_latent_and_reconstructions(tmp_path, workdir, monkeypatch):
    from apps.anomaly import APP
    from tfdl.pipeline import resolve_config, train

    monkeypatch.setenv("TFDL_DATA_DIR", str(_mini_fashion(tmp_path)))
    sets = ["data.source=fashion_mnist_oneclass", "data.normal_class=3", "model.name=conv_ae",
            "model.latent_dim=2", "train.epochs=2", "train.batch_size=16"]  # fmt: skip
    result = train(APP, resolve_config(APP, {}, sets), export=False, log=lambda *_: None)
    assert result.splits.x_train.shape[1:] == (28, 28, 1) and (result.splits.y_train == 0).all()
    assert result.metrics["dataset"]["name"] == "fashion_mnist_oneclass_3"
    assert result.metrics["test"]["roc_auc"] is not None
    report = (result.run_dir / "report.md").read_text()
    for png in ("latent_2d.png", "reconstructions.png", "reconstruction_error.png", "score_histogram.png"):
        assert f"plots/{png}" in report and (result.run_dir / "plots" / png).is_file()


@pytest.mark.slow
def test_unseen_credit_rows_match_isolation_forest(workdir, capsys):
    """A real set no default was tuned on, through the user's path (a CSV and its label column): ISLR's
    Default as rows (student, balance, income; 3.3% defaults = anomalies). The old score (reconstruction
    error of a 4-wide code over 3 columns) reached ROC-AUC 0.71 +/- 0.06 here against IsolationForest's
    0.86 (BENCHMARKS.md, generalization suite); the defaulters sit far out in the balance tail, which the
    validation-chosen score sees."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import generalize_data as G

    ds = next(d for d in G.DATASETS if d.name == "credit-default-rows")
    meta = G.prepare(ds, workdir / "cache")
    args = ["train", "anomaly", "--data", meta["path"], "--no-export", "--set", "data.label_column=label"]
    assert main(args) == 0
    run = next((workdir / "runs" / "anomaly").iterdir())
    m = json.loads((run / "metrics.json").read_text())
    auc, forest = m["test"]["roc_auc"], m["baselines"]["isolation_forest"]["roc_auc"]
    # measured (one split, seed 42): 0.899 vs IsolationForest 0.886; the old score gave 0.797 here
    assert auc >= 0.85 and auc >= forest - 0.02, (auc, forest)
    report = (run / "report.md").read_text()
    assert "chosen by" in report and "validation ROC-AUC" in report
