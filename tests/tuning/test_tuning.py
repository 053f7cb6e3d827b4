"""Keras Tuner search: space mapping, fixed values, results files, best.yaml round trip, failures."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from tfdl import config as cfgmod
from tfdl.app import available_apps, get_app
from tfdl.errors import TfdlError
from tfdl.pipeline import resolve_config

# A tiny, fast trial: 20x20 images, a one-layer MLP, one epoch.
TINY = ["model.name=mlp", "model.units=[16]", "data.image_size=20", "train.epochs=1"]


def _cfg(image_folder: Path, *extra: str, app=None):
    app = app or get_app("vision")
    return resolve_config(app, {}, [f"data.path={image_folder}", *TINY, *extra])


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_app_model_gets_a_space_its_builder_accepts():
    from tfdl.tuning.space import builder_defaults, model_space

    seen = 0
    for name in available_apps():
        app = get_app(name)
        for model in app.models:
            space = model_space(app, model)
            accepted = builder_defaults(app.models[model])
            assert set(space) <= set(accepted), (name, model)
            for key, spec in space.items():
                default = accepted[key]
                if default is not None and spec[0] == "choice":
                    # A tuple-valued range never feeds a scalar argument (and the other way round).
                    assert all(isinstance(v, tuple) == isinstance(default, (tuple, list)) for v in spec[1])
            seen += bool(space)
    assert seen >= 5
    vision = get_app("vision")
    assert {"filters", "dropout", "dense_units"} <= set(model_space(vision, "cnn"))
    if "timeseries" in available_apps():
        # The TCN's `filters` is an int: the CNN factory's tuple choices must not reach it.
        assert "filters" not in model_space(get_app("timeseries"), "cnn")


def test_set_values_are_fixed_and_defaults_are_the_plain_config(image_folder):
    import keras_tuner as kt

    from tfdl.data.splits import limit_train
    from tfdl.tuning.hypermodel import AppHyperModel

    app = get_app("vision")
    cfg = _cfg(image_folder, "model.dropout=0.125", "train.learning_rate=0.005")
    hm = AppHyperModel(app, cfg, limit_train(app.load_data(cfg), None, 0), "float32")
    hp = kt.HyperParameters()
    trial_cfg = hm.sample_config(hp)
    assert trial_cfg.model.params()["dropout"] == 0.125
    assert trial_cfg.train.learning_rate == 0.005
    kinds = {h.name: type(h).__name__ for h in hp.space}
    assert kinds["dropout"] == kinds["learning_rate"] == kinds["units"] == "Fixed"
    assert kinds["optimizer"] == "Choice" and kinds["batch_size"] == "Choice"
    # Unset knobs start at the plain `tfdl train` values (vision's batch 128, adamw).
    assert hp.get("optimizer") == "adamw" and hp.get("batch_size") == 128


def test_search_writes_trials_csv_plot_and_a_best_yaml_tfdl_train_accepts(image_folder, workdir):
    from tfdl.tuning.runner import tune

    app = get_app("vision")
    cfg = _cfg(image_folder)
    paths = tune(app, cfg, tuner="random", max_trials=3, max_epochs=2)
    tdir = paths[0]
    assert tdir.parent == Path("runs") / "vision" and tdir.name.startswith("tune-")
    rows = _rows(tdir / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    for r in rows:
        assert r["status"] == "COMPLETED" and 0.0 <= float(r["objective"]) <= 1.0
        assert r["metric"] == "val_accuracy" and 1 <= int(r["epochs"]) <= 2 and float(r["seconds"]) > 0
        assert {"hp.units", "hp.dropout", "hp.learning_rate", "hp.optimizer", "hp.batch_size"} <= set(r)
    assert len({(r["hp.learning_rate"], r["hp.dropout"]) for r in rows}) == 3  # three different configs
    assert (tdir / "objective.png").stat().st_size > 1000
    assert (tdir / "search" / "oracle.json").is_file()

    best_row = max(rows, key=lambda r: float(r["objective"]))
    raw = cfgmod.load_yaml(tdir / "best.yaml")
    again = resolve_config(app, raw)  # what `tfdl train vision --config best.yaml` does
    assert again.model.name == "mlp" and again.model.params()["units"] == [16]
    assert float(best_row["objective"]) == max(float(r["objective"]) for r in rows)
    best_rows = [r for r in rows if r["objective"] == best_row["objective"]]
    assert any(
        abs(again.model.params()["dropout"] - float(r["hp.dropout"])) < 1e-12
        and abs(again.train.learning_rate - float(r["hp.learning_rate"])) < 1e-12
        and again.train.optimizer == r["hp.optimizer"]
        and again.train.batch_size == int(r["hp.batch_size"])
        and again.train.epochs == int(r["best_epoch"])
        for r in best_rows
    )
    assert again.data.path == str(image_folder)

    # Without --resume a second search gets its own folder (overwrite), with --resume the same one.
    again_paths = tune(app, cfg, tuner="random", max_trials=3, max_epochs=1, resume=True)
    assert again_paths[0] == tdir
    assert len(_rows(tdir / "trials.csv")) == 3  # finished search: nothing is redone


def _flaky_app(fail_first: int):
    """Vision with an MLP builder whose first ``fail_first`` builds raise ``ValueError('boom <n>')``."""
    vision = get_app("vision")
    inner = vision.models["mlp"]
    calls = {"n": 0}

    def mlp(splits, cfg, *, units=(256, 128), dropout=0.2):
        calls["n"] += 1
        if calls["n"] <= fail_first:
            raise ValueError(f"boom {calls['n']}")
        return inner(splits, cfg, units=units, dropout=dropout)

    return dataclasses.replace(vision, models={"mlp": mlp})


def test_a_failed_trial_is_recorded_and_the_search_goes_on(image_folder, workdir):
    from tfdl.tuning.runner import tune

    app = _flaky_app(fail_first=1)
    paths = tune(app, _cfg(image_folder, app=app), tuner="random", max_trials=3, max_epochs=1)
    rows = _rows(paths[0] / "trials.csv")
    assert [r["status"] for r in rows] == ["FAILED", "COMPLETED", "COMPLETED"]
    assert "ValueError: boom 1" in rows[0]["error"] and rows[0]["objective"] == ""
    assert (paths[0] / "best.yaml").is_file()


def test_three_failures_in_a_row_stop_with_the_first_error(image_folder, workdir):
    from tfdl.tuning.runner import tune

    app = _flaky_app(fail_first=100)
    with pytest.raises(TfdlError) as err:
        tune(app, _cfg(image_folder, app=app), tuner="random", max_trials=6, max_epochs=1)
    msg = str(err.value)
    assert "3 trials failed in a row" in msg and "boom 1" in msg and "boom 3" not in msg
    tdir = next((workdir / "runs" / "vision").glob("tune-*"))
    rows = _rows(tdir / "trials.csv")
    assert len(rows) == 3 and all(r["status"] == "FAILED" for r in rows)


def test_nan_loss_fails_the_trial(image_folder, workdir):
    from tfdl.tuning.runner import tune

    app = get_app("vision")
    cfg = _cfg(image_folder, "train.optimizer=sgd", "train.learning_rate=1e30", "train.batch_size=16",
               "train.schedule=constant", "train.precision=float32")  # fmt: skip
    with pytest.raises(TfdlError, match="NaN"):
        tune(app, cfg, tuner="random", max_trials=3, max_epochs=1)
    rows = _rows(next((workdir / "runs" / "vision").glob("tune-*")) / "trials.csv")
    assert all(r["status"] == "FAILED" and "NaN" in r["error"] for r in rows)


def test_distributed_env_and_user_errors(monkeypatch, tmp_path):
    from tfdl.tuning.runner import distributed_env, tune

    assert distributed_env(None, None) == {}
    chief = distributed_env("chief", "127.0.0.1:8123")
    assert chief == {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1",
                     "KERASTUNER_ORACLE_PORT": "8123"}  # fmt: skip
    monkeypatch.setenv("TFDL_TUNER_ID", "1")
    assert distributed_env("worker", "127.0.0.1:8123")["KERASTUNER_TUNER_ID"] == "tuner1"
    monkeypatch.delenv("TFDL_TUNER_ID")
    a = distributed_env("worker", "127.0.0.1:8123")["KERASTUNER_TUNER_ID"]
    assert a.startswith("tuner") and a != "tuner0"
    for bad in [("worker", "nohostport"), ("boss", "127.0.0.1:1"), (None, "127.0.0.1:1")]:
        with pytest.raises(TfdlError):
            distributed_env(*bad)
    app = get_app("vision")
    cfg = resolve_config(app, {}, [f"runs_dir={tmp_path}"])
    with pytest.raises(TfdlError, match="--tuner"):
        tune(app, cfg, tuner="grid")
    with pytest.raises(TfdlError, match="--directory"):
        tune(app, cfg, distributed="chief", oracle="127.0.0.1:1")
    with pytest.raises(TfdlError, match="--resume found no search"):
        tune(app, cfg, resume=True)


@pytest.mark.slow
def test_retrain_best_exports_a_version_with_the_search_in_its_card(image_folder, workdir):
    from tfdl.tuning.runner import tune

    app = get_app("vision")
    paths = tune(app, _cfg(image_folder), tuner="hyperband", max_trials=3, max_epochs=2, retrain_best=True)
    version = next(p for p in paths if p.parent.name == "vision" and p.name.isdigit())
    card = json.loads((version / "metadata.json").read_text())
    search = card["tuning"]
    assert search["tuner"] == "hyperband" and search["retrained_on"] == "train+val"
    assert search["tune_dir"] == str(paths[0])
    rows = _rows(paths[0] / "trials.csv")
    assert search["best_trial"] in {r["trial_id"] for r in rows}
    # The retrain saw train + val: its run records the merged size.
    run = next(p for p in paths if (p / "metrics.json").is_file() and p.name != paths[0].name)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"]["n_train"] == 84 + 18
    assert card["config"]["train"]["early_stopping_patience"] == 0


def test_tuning_the_transfer_model_keeps_per_stage_rates_and_gradual_unfreezing(image_folder, tmp_path):
    """Tune and train share one compile-and-fit core: a trial of the vision transfer model compiles with
    the discriminative optimizer (head at the learning rate, each base stage lower) and fits with the
    gradual-unfreezing callback, as `tfdl train` does."""
    import keras
    import keras_tuner as kt
    import numpy as np

    from tfdl.data.splits import limit_train
    from tfdl.models import build_cnn
    from tfdl.transfer import GradualUnfreezing
    from tfdl.tuning.hypermodel import AppHyperModel

    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1), dtype="uint8")
    rescale = lambda t: keras.layers.Rescaling(1 / 255)(t)  # noqa: E731
    base = build_cnn(None, 3, filters=(4, 8), dense_units=8, inputs=inp, preprocess=rescale)
    base.save(tmp_path / "base.keras")
    app = get_app("vision")
    cfg = resolve_config(app, {}, [
        f"data.path={image_folder}", "data.image_size=20", "model.name=transfer",
        f"model.base={tmp_path / 'base.keras'}", "model.base_lr_factor=0.01", "finetune=gradual",
        "train.learning_rate=0.01", "train.schedule=constant", "train.batch_size=32", "train.epochs=2",
    ])  # fmt: skip
    hm = AppHyperModel(app, cfg, limit_train(app.load_data(cfg), None, 0), "float32")
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert isinstance(model.optimizer, keras.optimizers.MultiOptimizer)
    rates = sorted(float(keras.ops.convert_to_numpy(o.learning_rate)) for o in model.optimizer.optimizers)
    # 3 base stages (block1, block2, fc) at 0.01 * 0.01 ** ((3 - i) / 3), the head at 0.01
    np.testing.assert_allclose(rates, [1e-4, 1e-2 * 0.01 ** (2 / 3), 1e-2 * 0.01 ** (1 / 3), 1e-2], rtol=1e-5)
    history = hm.fit(hp, model, epochs=2)
    assert len(history.epoch) == 2
    stages = {layer.name: layer.trainable for layer in model.get_layer("base").layers if layer.weights}
    # epoch 0: head only; epoch 1: the top stage (fc) unfrozen, the lower ones still frozen
    assert stages["fc"] is True and stages["block1_conv1"] is False
    assert isinstance(model.optimizer, keras.optimizers.MultiOptimizer)
    assert GradualUnfreezing in {type(cb) for cb in hm.last_callbacks}


def test_the_space_is_what_the_builder_declares_not_its_name():
    from tfdl.app import forwards, hooks
    from tfdl.tuning.space import factory_name

    def builder():
        def build_lstm_mlp(splits, cfg, *, units=(8,), dropout=0.1):  # a name that once matched two spaces
            return None

        return build_lstm_mlp

    assert factory_name(builder()) is None  # names are never matched
    assert factory_name(hooks(search_space="rnn")(builder())) == "rnn"
    assert factory_name(forwards("tfdl.models:build_cnn", "inputs")(builder())) == "cnn"
    with pytest.raises(ValueError, match="names no tfdl.models factory"):
        factory_name(hooks(search_space="lstm")(builder()))
