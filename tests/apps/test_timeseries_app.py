"""Time-series app: an unseen CSV end to end (train, report, export, predict a window), raw-window
SavedModel in target units, leakage at the app level, bad inputs via the CLI, and a real-data floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfdl.cli import main


def sine_frame(n: int = 1400, seed: int = 0) -> pd.DataFrame:
    """Half-hourly load = 100 + 10 sin(day) + noise; a temperature covariate. Far from 0 on purpose:
    a model that forgot to de-standardize would answer around 0."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2023-03-01", periods=n, freq="30min")
    k = np.arange(n)
    load = 100 + 10 * np.sin(2 * np.pi * k / 48) + rng.normal(0, 0.3, n)
    temp = 15 + 5 * np.cos(2 * np.pi * k / 48) + rng.normal(0, 0.5, n)
    return pd.DataFrame({"stamp": t.strftime("%Y-%m-%d %H:%M"), "load": load.round(3), "temp": temp.round(2)})


@pytest.fixture
def load_csv(tmp_path: Path) -> Path:
    p = tmp_path / "load.csv"
    sine_frame().to_csv(p, index=False)
    return p


BASE = ["--set", "data.time_column=stamp", "--set", "data.target=load", "--set", "data.horizon=12"]


def test_unseen_csv_trains_exports_and_forecasts_a_window(workdir: Path, load_csv: Path, capsys):
    args = ["train", "timeseries", "--data", str(load_csv), "--model", "mlp", "--epochs", "3", *BASE,
            "--set", "data.covariates=[temp]", "--set", "train.batch_size=64"]  # fmt: skip
    assert main(args) == 0
    run = sorted((workdir / "runs" / "timeseries").iterdir())[-1]
    m = json.loads((run / "metrics.json").read_text())
    assert m["task"] == "forecast" and len(m["test"]["per_horizon"]["mae"]) == 12
    assert set(m["baselines"]) == {"ridge", "seasonal_naive_day", "seasonal_naive_week", "naive", "mstl_ets",
                                   "hgb_lags"}  # fmt: skip
    cov = m["forecast_intervals"]["coverage"]  # #20: split-conformal 80 % / 95 % with their test coverage
    assert set(cov) == {"0.8", "0.95"} and len(cov["0.95"]["per_horizon"]) == 12
    assert cov["0.8"]["mean_width"] < cov["0.95"]["mean_width"]
    # on a daily sine the seasonal naive error is the noise (~0.3 * sqrt(2) * 0.8), far below the naive one
    assert m["baselines"]["seasonal_naive_day"]["mae"] < 0.6 < m["baselines"]["naive"]["mae"]
    train_std = np.std(sine_frame()["load"][:980])
    assert m["mae_standardized"]["model"] == pytest.approx(m["test"]["mae"] / train_std, rel=0.05)
    report = (run / "report.md").read_text()
    assert "MAE (standardized)" in report and "Chronological split" in report
    assert (run / "plots" / "forecast_days.png").is_file() and (
        run / "plots" / "error_by_horizon_all.png"
    ).is_file()

    version = workdir / "saved_models" / "timeseries" / "1"
    window = version / "assets" / "example_window.csv"
    last = pd.read_csv(window)
    assert list(last.columns) == ["stamp", "load", "temp"] and len(last) == 48
    capsys.readouterr()
    assert main(["predict", "timeseries", "--input", str(window)]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    steps = answer["forecast"]
    assert answer["target"] == "load" and answer["step"] == "30min" and len(steps) == 12
    start = pd.Timestamp(last["stamp"].iloc[-1])
    assert [pd.Timestamp(s["time"]) for s in steps] == [
        start + pd.Timedelta(minutes=30 * (k + 1)) for k in range(12)
    ]
    assert all(85 < s["value"] < 115 for s in steps)  # target units, not standardized
    assert all(s["lower_95"] < s["lower_80"] < s["value"] < s["upper_80"] < s["upper_95"] for s in steps)

    last.iloc[1:].to_csv(workdir / "short.csv", index=False)
    assert main(["predict", "timeseries", "--input", str(workdir / "short.csv")]) == 2
    assert "exactly lookback = 48 rows" in capsys.readouterr().err


def test_app_windows_do_not_leak_across_the_split(load_csv: Path):
    import keras

    from apps.timeseries import APP
    from tfdl.pipeline import resolve_config

    keras.mixed_precision.set_global_policy("float32")  # an earlier pipeline run may have left bf16 on
    cfg = resolve_config(APP, {"data": {"path": str(load_csv)}}, BASE[1::2])
    s = APP.load_data(cfg)
    times, o, lb, h = s.info.extra["times"], s.info.extra["origins"], 48, 12
    assert s.x_train.shape[1:] == (48, 1) and s.y_test.shape[1] == 12
    last_train = times[o["train"].max() + h - 1]
    first_test = times[o["test"].min() - lb]
    assert last_train < first_test
    # the windows hold the series values at exactly those indices
    np.testing.assert_allclose(
        s.y_test[0], s.info.extra["series"][o["test"][0] : o["test"][0] + h], rtol=1e-6
    )


@pytest.mark.parametrize(
    "frame, sets, message",
    [
        (lambda d: pd.concat([d.iloc[:5], d.iloc[4:]]), BASE, "duplicate timestamp"),
        (lambda d: d.iloc[::-1], BASE, "must increase"),
        (lambda d: d.assign(load=d["load"].astype(str).where(d.index != 3, "high")), BASE, "must be numeric"),
        (lambda d: d.iloc[:150], BASE, "at least lookback \\+ horizon"),
        (lambda d: d, ["--set", "data.time_column=stamp"], "data.target=COLUMN"),
        (lambda d: d.drop(index=[20]), [*BASE, "--set", "data.fill=error"], "not regular"),
        (lambda d: d, [*BASE, "--set", "data.fill=bfill"], "data.fill"),
    ],
)
def test_bad_inputs_exit_2_with_a_clear_line(workdir: Path, frame, sets, message, capsys):
    p = workdir / "bad.csv"
    frame(sine_frame()).to_csv(p, index=False)
    assert main(["train", "timeseries", "--data", str(p), "--model", "mlp", "--epochs", "1", *sets]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(message, err)


@pytest.mark.slow
def test_elecdemand_mlp_beats_seasonal_naive(workdir: Path):
    """Real data floor: 4 epochs of the MLP (from its ridge start) beat 'same time yesterday' on day-ahead
    MAE."""
    args = ["train", "timeseries", "--model", "mlp", "--epochs", "4", "--no-export"]
    assert main(args) == 0
    run = sorted((workdir / "runs" / "timeseries").iterdir())[-1]
    m = json.loads((run / "metrics.json").read_text())
    # data.lookback=auto on half-hours: one week (336); 2628 test steps - 336 - 48 + 1 windows
    assert m["dataset"]["n_test"] == 2245
    assert m["test"]["mae"] < m["baselines"]["seasonal_naive_day"]["mae"]
    assert m["mae_standardized"]["model"] < 0.30  # measured 0.262 with 10 epochs


@pytest.mark.slow
def test_unrolled_lstm_converts_to_tflite_builtins_and_matches(load_csv: Path):
    """STACK.md: a Keras 3 LSTM needs unroll=True for built-in-only TFLite with a variable batch."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from apps.timeseries import APP
    from tfdl.pipeline import resolve_config

    keras.mixed_precision.set_global_policy("float32")  # an earlier pipeline run may have left bf16 on
    cfg = resolve_config(APP, {"data": {"path": str(load_csv)}},
                         [*BASE[1::2], "data.lookback=12", "model.name=lstm", "model.unroll=true",
                          "model.units=[8]"])  # fmt: skip
    s = APP.load_data(cfg)
    model = APP.models["lstm"](s, cfg, **cfg.model.params())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interp = Interpreter(model_content=conv.convert())
    x = s.x_test[:1]
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-4, atol=1e-3)
    assert got.shape == (1, 12) and np.all(got > 50)  # target units come out of the converted file too


def test_monthly_csv_gets_yearly_seasonal_naive_and_month_stamped_forecasts(
    workdir: Path, tmp_path: Path, capsys
):
    """Monthly data: the seasonal baseline is the same month last year (lag 12), not a 'day' lag of 1; the
    MASE scale uses lag 12; the served forecast is stamped on the following month starts."""
    n = 240
    k = np.arange(n)
    rng = np.random.default_rng(0)
    y = 50 + 10 * np.sin(2 * np.pi * k / 12) + rng.normal(0, 0.5, n)
    p = tmp_path / "monthly.csv"
    pd.DataFrame({"month": pd.date_range("2010-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"),
                  "sales": y.round(3)}).to_csv(p, index=False)  # fmt: skip
    args = ["train", "timeseries", "--data", str(p), "--model", "mlp", "--epochs", "2",
            "--set", "data.time_column=month", "--set", "data.target=sales", "--set", "data.horizon=3",
            "--set", "data.lookback=24", "--set", "train.batch_size=16"]  # fmt: skip
    assert main(args) == 0
    run = sorted((workdir / "runs" / "timeseries").iterdir())[-1]
    m = json.loads((run / "metrics.json").read_text())
    assert set(m["baselines"]) == {"ridge", "seasonal_naive_year", "naive", "mstl_ets", "hgb_lags"}
    assert m["baselines"]["seasonal_naive_year"]["mae"] < 1.5 < m["baselines"]["naive"]["mae"]
    assert "lag 12" in (run / "report.md").read_text()
    window = workdir / "saved_models" / "timeseries" / "1" / "assets" / "example_window.csv"
    capsys.readouterr()
    assert main(["predict", "timeseries", "--input", str(window)]) == 0
    out = capsys.readouterr().out
    last = pd.Timestamp(pd.read_csv(window)["month"].iloc[-1])
    nxt = [(last + pd.DateOffset(months=i)).strftime("%Y-%m-%d") for i in (1, 2, 3)]
    assert all(s in out for s in nxt) and '"step": "MS"' in out.replace("'", '"')


def test_model_starts_at_ridge_and_serves_the_start_when_training_does_not_beat_it(load_csv: Path):
    """The linear skip starts at ridge on the training windows (the body's head at zero), so the untrained
    model already forecasts like ridge; a run whose training only hurts (a huge learning rate) serves its
    frozen linear start, chosen on the held-out validation windows."""
    import keras
    from sklearn.linear_model import Ridge

    from apps.timeseries import APP
    from apps.timeseries.models import seasonal_member
    from tfdl.models.forecast_layers import SeasonalProfile
    from tfdl.pipeline import build_model, resolve_config, train

    cfg = resolve_config(APP, {"data": {"path": str(load_csv)}}, [*BASE[1::2], "model.name=mlp"])
    s = APP.load_data(cfg)
    model = build_model(APP, cfg, s)
    pre, e = s.info.preprocessing, s.info.extra
    scale = lambda x: ((x - np.asarray(pre["feature_mean"])) / pre["feature_std"]).reshape(len(x), -1)  # noqa: E731
    fit = Ridge(alpha=1.0).fit(scale(s.x_train), (s.y_train - e["target_mean"]) / e["target_std"])
    ridge = fit.predict(scale(s.x_val)) * e["target_std"] + e["target_mean"]
    np.testing.assert_allclose(model.predict(s.x_val, verbose=0), ridge, rtol=1e-3, atol=1e-2)

    bad = resolve_config(
        APP, {"data": {"path": str(load_csv)}},
        [*BASE[1::2], "model.name=mlp", "train.epochs=2", "train.learning_rate=5.0", "train.optimizer=adam"],
    )  # fmt: skip
    res = train(APP, bad, export=False, log=lambda *a: None)
    choice = res.metrics["forecaster_choice"]
    assert choice["weights"]["network"] == 0 and choice["start"] == "ridge", choice  # a fixed forecaster
    assert choice["mae"]["start"] < choice["mae"]["network"]
    assert choice["windows"] == len(s.x_val) + 36  # every validation window, the 3 held-out blocks of 12 too
    sm = seasonal_member(s, fit_end=int(e["bounds"][1]))  # what the model serves: refitted on train + val
    inputs = keras.Input(s.x_val.shape[1:])
    layer = SeasonalProfile(sm["period"], sm["lookback"], 12, alpha=sm["alpha"])
    seasonal = keras.Model(inputs, layer(inputs))
    layer.profile.assign(sm["profile"])
    w = choice["weights"]
    expected = w["start"] * ridge + w["seasonal"] * seasonal.predict(s.x_val, verbose=0)
    np.testing.assert_allclose(res.model.predict(s.x_val, verbose=0), expected, rtol=1e-3, atol=1e-2)


def test_linear_start_is_chosen_on_validation_and_seasonal_naive_is_exact(tmp_path: Path):
    """The linear skip's candidate starts: ridge and every seasonal naive forecast the window reaches. The
    seasonal naive kernel reproduces ts.seasonal_naive_forecast on the validation windows exactly; the
    chosen start has the lowest validation MAE. On a series whose jagged daily profile repeats, but
    changes when validation begins (ridge learnt the old profile; "same time yesterday" follows the new
    one), the start is the seasonal naive forecast and the untrained model forecasts like it. The old
    start was always ridge."""
    from apps import timeseries as T
    from tfdl.data.timeseries import seasonal_naive_forecast
    from tfdl.pipeline import build_model, resolve_config

    rng = np.random.default_rng(3)
    n = 1400
    old, new = rng.normal(0, 10, 48), rng.normal(0, 10, 48)  # jagged daily shapes
    y = 100 + np.tile(old, n // 48 + 1)[:n] + rng.normal(0, 0.05, n)
    y[980:] = 100 + np.tile(new, n // 48 + 1)[980:n] + rng.normal(0, 0.05, n - 980)  # from validation on
    frame = pd.DataFrame({"stamp": pd.date_range("2023-03-01", periods=n, freq="30min").strftime(
        "%Y-%m-%d %H:%M"), "load": y.round(4)})  # fmt: skip
    p = tmp_path / "profile.csv"
    frame.to_csv(p, index=False)
    cfg = resolve_config(T.APP, {"data": {"path": str(p)}}, [*BASE[1::2], "model.name=mlp"])
    s = T.APP.load_data(cfg)
    starts = T.linear_starts(s)
    assert set(starts) == {"ridge", "seasonal_naive_day"}  # the week (336) is longer than the window
    name, (kernel, bias), val_mae = T.best_start(s)
    assert val_mae[name] == min(val_mae.values())
    e, pre = s.info.extra, s.info.preprocessing
    x = ((s.x_val - np.asarray(pre["feature_mean"])) / pre["feature_std"]).reshape(len(s.x_val), -1)
    k, b = starts["seasonal_naive_day"]
    sn = (x @ k + b) * e["target_std"] + e["target_mean"]
    expected = seasonal_naive_forecast(e["series"], e["origins"]["val"], 12, 48)
    np.testing.assert_allclose(sn, expected, rtol=1e-6, atol=1e-4)
    assert name == "seasonal_naive_day", val_mae
    model = build_model(T.APP, cfg, s)
    assert model.start_name == name
    np.testing.assert_allclose(model.predict(s.x_val, verbose=0), expected, rtol=1e-4, atol=1e-2)


def test_forecaster_is_chosen_on_validation_windows_and_is_what_the_model_serves(load_csv: Path):
    """The last 3 horizon-sized blocks of validation origins are held out of training and early stopping
    (between the validation and the test windows). The candidates (the network, its linear start, the
    seasonal profile and their equal-weight means) are compared on every validation window, the lowest MAE
    wins, and the model's output is that forecaster from then on; the seasonal member is then refitted on
    training + validation."""
    import keras

    from apps import timeseries as T
    from apps.timeseries.models import CANDIDATES, seasonal_member
    from tfdl.pipeline import build_model, resolve_config

    keras.mixed_precision.set_global_policy("float32")
    cfg = resolve_config(T.APP, {"data": {"path": str(load_csv)}}, [*BASE[1::2], "model.name=mlp"])
    s = T.APP.load_data(cfg)
    o, held = s.info.extra["origins"], s.info.extra["choice"]
    assert len(held["origins"]) == 36 and len(s.x_val) == len(o["val"])
    assert o["val"].max() < held["origins"].min() and held["origins"].max() + 12 <= o["test"].min()
    assert np.all(np.diff(held["origins"]) == 1) and held["origins"].min() == o["val"].max() + 1
    model = build_model(T.APP, cfg, s)
    skip = model.get_layer("linear_skip")
    kernel, bias = skip.get_weights()
    skip.set_weights([kernel, bias + 0.3])  # a "trained" network: the start shifted by 0.3 std
    out = T.choose_forecaster(model, s, cfg)
    rec = out["preprocessing"]["forecaster"]
    x, y = np.concatenate([s.x_val, held["x"]]), np.concatenate([s.y_val, held["y"]])
    assert set(rec["mae"]) == set(CANDIDATES) and rec["windows"] == len(x)  # a daily season: 3 members
    assert (
        rec["chosen"] == min(rec["mae"], key=rec["mae"].get)
        and "Forecaster choice" in out["report_sections"][0][0]
    )
    assert rec["seasonal"]["period"] == 48 and rec["seasonal"]["periods"] == [48]
    mix, profile = model.get_layer("forecaster_mix"), model.get_layer("seasonal_profile")
    served = model.predict(x, verbose=0)
    refit = profile.profile.numpy()
    np.testing.assert_allclose(refit, seasonal_member(s, fit_end=int(s.info.extra["bounds"][1]))["profile"])
    profile.profile.assign(seasonal_member(s)["profile"])  # the training-part fit the choice compared
    members = []
    for k in range(3):
        mix.mix_weights.assign(np.eye(3, dtype="float32")[k])
        members.append(model.predict(x, verbose=0))
    blocks = np.array_split(np.arange(len(x)), -(-len(x) // 12))  # horizon-sized blocks of origins
    for name, w in CANDIDATES.items():
        err = np.mean(np.abs(sum(wk * m for wk, m in zip(w, members, strict=True)) - y), axis=1)
        assert np.mean([err[b].mean() for b in blocks]) == pytest.approx(rec["mae"][name], rel=1e-3), name
    assert rec["mae"]["network"] > rec["mae"]["start"]  # a constant shift of 0.3 std only hurts a clean sine
    assert rec["chosen"] != "network"
    profile.profile.assign(refit)
    mix.mix_weights.assign(np.asarray(CANDIDATES[rec["chosen"]], "float32"))
    np.testing.assert_allclose(model.predict(x, verbose=0), served, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_cv_tests_rolling_origins_against_every_baseline(workdir: Path, capsys):
    """`tfdl cv timeseries --folds 3`: three expanding-window folds, every baseline on each fold's split,
    the test blocks chronological and together every forecast origin of the last 15 % once."""
    from apps.timeseries.models import CANDIDATES

    sine_frame(700).to_csv(workdir / "load.csv", index=False)
    args = ["cv", "timeseries", "--data", "load.csv", "--folds", "3", "--model", "mlp", "--metric", "mase",
            *BASE[:4], "--set", "data.horizon=6", "--set", "train.epochs=1",
            "--set", "eval.resamples=0"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads(next((workdir / "runs" / "timeseries").glob("cv-*/cv.json")).read_text())
    assert summary["folds"] == 3 and summary["metric"] == "mase" and len(summary["per_fold"]) == 3
    assert {"ridge", "seasonal_naive_day", "naive", "hgb_lags"} <= set(summary["baselines"])
    origins, previous_end = 0, None
    for k, fold in enumerate(summary["per_fold"]):
        m = json.loads((Path(fold["run_dir"]) / "metrics.json").read_text())
        assert m["dataset"]["cv"] == {"folds": 3, "fold": k} and m["test"]["mase"] == fold["model"]
        assert m["forecaster_choice"]["chosen"] in CANDIDATES
        assert m["baselines"]["seasonal_naive_day"]["mase"] < m["baselines"]["naive"]["mase"]
        origins += m["dataset"]["n_test"]
        report = (Path(fold["run_dir"]) / "report.md").read_text()
        assert f"Rolling forecast origin, fold {k + 1} of 3" in report
        if previous_end is not None:  # this fold trains on more than the one before
            assert m["dataset"]["n_train"] > previous_end
        previous_end = m["dataset"]["n_train"]
    assert origins == 700 - 6 + 1 - round(700 * 0.85)  # every origin of the last 15 % tested once
    assert summary["verdict"] in capsys.readouterr().out


def test_cv_on_a_series_too_short_for_the_folds_exits_2_and_leaves_no_run(workdir: Path, capsys):
    sine_frame(300).to_csv(workdir / "short.csv", index=False)
    assert main(["cv", "timeseries", "--data", "short.csv", "--folds", "5", *BASE, "--set", "data.horizon=12",
                 "--runs-dir", "short_runs"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "too short for 5 rolling folds" in err and "fewer --folds" in err and err.count("\n") == 1
    assert not (workdir / "short_runs").exists()
