"""ONNX export: the file sits beside the SavedModel version, checked by onnxruntime without TensorFlow."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tfdl.errors import TfdlError

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")


def _copy(exported, tmp_path):
    """A private copy of the shared model root (the ONNX export writes into the version folder)."""
    from tfdl.export.tflite import find_run_version

    cfg = exported.cfg.model_copy(deep=True)
    cfg.export.model_root = str(tmp_path / "saved_models")
    shutil.copytree(exported.cfg.export.model_root, cfg.export.model_root)
    return cfg, find_run_version(cfg.export.model_root, "tiny", "run-1")


def test_onnx_file_matches_the_savedmodel_and_is_recorded_in_the_card(exported, tmp_path):
    from tfdl.export.onnx import export_onnx

    cfg, version = _copy(exported, tmp_path)
    e = exported
    paths = export_onnx(e.app, cfg, e.model, e.splits, e.metrics, e.run_dir)
    onnx_file = version / "onnx" / "model.onnx"
    assert onnx_file in paths and onnx_file.stat().st_size > 1000
    record = json.loads((version / "onnx" / "parity.json").read_text())
    assert record["n_test"] == len(exported.splits.y_test)
    assert record["max_abs_diff"] < 1e-4 and record["label_agreement"] == 1.0
    assert record["value"] == pytest.approx(record["savedmodel_value"], abs=1e-9)
    assert record["value"] > 0.8  # the tiny CNN learned its stripes: the file computes the same thing
    assert "no TensorFlow" in record["runtime"]
    assert (version / "onnx" / "labels.txt").read_text().split() == exported.splits.info.labels
    card = json.loads((version / "metadata.json").read_text())
    assert card["onnx"]["max_abs_diff"] == record["max_abs_diff"]
    assert not list(version.glob(".onnx-*"))


def test_onnxruntime_runs_the_file_without_tensorflow(exported, tmp_path):
    from tfdl.export.onnx import export_onnx, run_onnx

    cfg, version = _copy(exported, tmp_path)
    export_onnx(exported.app, cfg, exported.model, exported.splits, exported.metrics, exported.run_dir)
    pred, info = run_onnx(version / "onnx" / "model.onnx", exported.splits.x_test[:7], latency_runs=3)
    assert pred.shape == (7, 3) and not info["tensorflow_imported"]
    np.testing.assert_allclose(pred.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pred, exported.model.predict(exported.splits.x_test[:7], verbose=0), atol=1e-5)


def test_a_file_that_fails_its_check_leaves_nothing(exported, tmp_path):
    from tfdl.export.onnx import export_onnx

    cfg, version = _copy(exported, tmp_path)
    before = json.loads((version / "metadata.json").read_text())
    with pytest.raises(TfdlError, match="tolerance"):
        # A negative tolerance cannot be met: the check itself must refuse the file.
        export_onnx(exported.app, cfg, exported.model, exported.splits, exported.metrics, exported.run_dir,
                    tolerance=-1.0)  # fmt: skip
    assert not (version / "onnx").exists() and not list(version.glob(".onnx-*"))
    assert json.loads((version / "metadata.json").read_text()) == before


def test_string_lookup_model_says_why_in_one_line():
    import keras

    from tests.export.helpers import tiny_splits
    from tfdl.export.tflite_convert import prepare

    color = keras.Input((1,), dtype="string", name="color")
    size = keras.Input((1,), dtype="float32", name="size")
    ids = keras.layers.StringLookup(vocabulary=["red", "blue"], output_mode="one_hot")(color)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Concatenate()([ids, size]))
    model = keras.Model({"color": color, "size": size}, out)
    splits = tiny_splits(n_train=10, n_test=5)
    splits.x_train = {"color": np.array([["red"]] * 10), "size": np.ones((10, 1), "float32")}
    with pytest.raises(TfdlError, match="ONNX built-in ops") as err:
        prepare(model, splits, target="ONNX")
    assert "\n" not in str(err.value)


def test_text_model_exports_token_ids(tmp_path):
    import keras

    from tfdl.data.splits import DataInfo, Splits
    from tfdl.export import tflite_convert as C
    from tfdl.export.onnx import _convert, run_onnx

    texts = np.array(["good fun film", "bad dull film", "good good", "dull bad plot", "fun plot"] * 8)
    tv = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=6, name="vectorize")
    tv.adapt(texts)
    inp = keras.Input((), dtype="string", name="text")
    x = keras.layers.Embedding(20, 4)(tv(inp))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inp, out)
    splits = Splits(texts, None, texts, None, texts[:10], None, DataInfo("t", "test"))
    prep = C.prepare(model, splits, target="ONNX")
    _convert(prep.model, prep.x_test[:1], tmp_path / "text.onnx")
    pred, info = run_onnx(tmp_path / "text.onnx", prep.x_test, latency_runs=3)
    import tensorflow as tf

    np.testing.assert_allclose(pred, np.asarray(model(tf.constant(texts[:10]))), atol=1e-5)
    assert info["inputs"][0]["dtype"].startswith("int")


def test_unknown_format_is_a_one_line_error(workdir):
    from tfdl.cli import main

    assert main(["export", "vision", "--format", "pmml"]) == 2


def test_constants_built_in_eager_mode_stay_inside_the_file(tmp_path):
    """A Normalization built with mean/variance keeps eager tensors; unfrozen, tf2onnx made them extra
    required inputs (seen on the time-series and anomaly models). The file must take only the window."""
    import keras

    from tfdl.export.onnx import _convert, run_onnx

    inp = keras.Input((6, 3), name="window")
    x = keras.layers.Normalization(axis=-1, mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25])(inp)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(9, 6, 3)).astype("float32")
    _convert(model, x[:1], tmp_path / "m.onnx")
    pred, info = run_onnx(tmp_path / "m.onnx", x, latency_runs=3)
    assert [i["name"] for i in info["inputs"]] == ["window"]
    np.testing.assert_allclose(pred, model.predict(x, verbose=0), atol=1e-5)
