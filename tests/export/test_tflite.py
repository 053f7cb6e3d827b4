"""TFLite export: every precision, parity records, the int8 weight check, runs without TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tfdl.errors import TfdlError

MODES = ["none", "dynamic", "float16", "int8", "int8-io"]


def test_every_mode_is_written_with_sidecar_and_parity(exported):
    out = exported.version / "tflite"
    for q in MODES:
        assert (out / f"model-{q}.tflite").is_file()
        side = json.loads((out / f"model-{q}.json").read_text())
        assert side["labels"] == ["dark", "mid", "bright"] and side["labels_file"] == "labels.txt"
        assert "1/255" in side["normalization"]
    assert (out / "labels.txt").read_text().split() == ["dark", "mid", "bright"]
    assert not list(out.glob(".*tmp*")), "temporary files left behind"
    record = json.loads((out / "parity.json").read_text())
    assert record["savedmodel"]["metric"] == "accuracy" and record["savedmodel"]["value"] > 0.9
    for q in MODES:
        f = record["files"][q]
        keys = ("size_bytes", "value", "savedmodel_value", "drop", "max_abs_diff", "latency_ms",
                "keras_predict_latency_ms", "speedup_vs_predict", "inputs", "within_tolerance")  # fmt: skip
        assert set(keys) <= set(f), (q, set(keys) - set(f))
        assert f["size_bytes"] == (out / f["file"]).stat().st_size
        assert f["drop"] <= 0.01 and f["within_tolerance"]
        assert f["latency_ms"] > 0
    files = record["files"]
    assert files["int8"]["size_bytes"] < files["float16"]["size_bytes"] < files["none"]["size_bytes"]
    assert files["none"]["max_abs_diff"] < 1e-4  # float32 file = the SavedModel up to rounding
    assert files["int8-io"]["output_dtype"] == "int8" and files["int8"]["output_dtype"] == "float32"
    side = json.loads((out / "model-int8-io.json").read_text())
    assert side["output_quantization"]["scale"] > 0 and "zero_point" in side["output_quantization"]
    assert files["int8"]["inputs"][0]["dtype"] == "uint8"  # raw pixels go in as they are


def test_quantize_all_appends_a_comparison_to_the_report(exported):
    text = (exported.run_dir / "report.md").read_text()
    assert text.startswith("# tiny: cnn") and text.count("## TFLite: precision trade-off") == 1
    for q in ("none", "dynamic", "float16", "int8"):
        assert f"| model-{q}.tflite |" in text


def test_each_file_runs_with_ai_edge_litert_in_a_process_without_tensorflow(exported, tmp_path):
    np.savez(tmp_path / "test.npz", x=exported.splits.x_test, y=exported.splits.y_test)
    script = r"""
import json, sys
from pathlib import Path
import numpy as np
from ai_edge_litert.interpreter import Interpreter
data = np.load(sys.argv[2])
x, y = data["x"], data["y"]
out = {}
for f in sorted(Path(sys.argv[1]).glob("*.tflite")):
    it = Interpreter(model_path=str(f))
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(d["index"], x.astype(d["dtype"]))
    it.invoke()
    pred = it.get_tensor(o["index"])
    out[f.name] = float(np.mean(np.argmax(pred, 1) == y))
assert "tensorflow" not in sys.modules, "tensorflow was imported"
print(json.dumps(out))
"""
    args = [sys.executable, "-c", script, str(exported.version / "tflite"), str(tmp_path / "test.npz")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    acc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(acc) == sorted(f"model-{q}.tflite" for q in MODES)
    assert min(acc.values()) >= exported.metrics["test"]["accuracy"] - 0.01


def test_int8_weight_check_catches_a_float_file(exported):
    from tfdl.export.parity import check_int8_weights, float_weights

    out = exported.version / "tflite"
    check_int8_weights(out / "model-int8.tflite")
    check_int8_weights(out / "model-int8-io.tflite")
    assert float_weights(out / "model-none.tflite")
    with pytest.raises(TfdlError, match="float weight"):
        check_int8_weights(out / "model-none.tflite")


def test_metric_drop_beyond_tolerance_fails_and_keeps_no_file(exported, tmp_path):
    from tfdl.export.tflite import export_tflite, find_run_version

    # A copy of the model root whose version has no dynamic file yet (no second SavedModel export needed).
    cfg = exported.cfg.model_copy(deep=True)
    cfg.export.model_root = str(tmp_path / "saved_models")
    shutil.copytree(exported.cfg.export.model_root, cfg.export.model_root)
    version = find_run_version(cfg.export.model_root, "tiny", "run-1")
    for f in (version / "tflite").glob("model-dynamic.*"):
        f.unlink()
    with pytest.raises(TfdlError, match="tolerance"):
        # A negative tolerance cannot be met: the check itself must refuse the file.
        export_tflite(exported.app, cfg, exported.model, exported.splits, exported.metrics, exported.run_dir,
                      quantize="dynamic", tolerance=-1.0)  # fmt: skip
    out = version / "tflite"
    assert not (out / "model-dynamic.tflite").exists() and not list(out.glob(".*tmp*"))
    assert "dynamic" not in json.loads((out / "parity.json").read_text())["files"]
    assert (out / "model-int8.tflite").is_file()  # the other files are untouched


def test_quantize_arguments():
    from tfdl.export.tflite import parse_quantize

    assert parse_quantize("all") == ["none", "dynamic", "float16", "int8"]
    assert parse_quantize("all", int8_io=True) == ["none", "dynamic", "float16", "int8-io"]
    assert parse_quantize("int8", int8_io=True) == ["int8-io"]
    with pytest.raises(TfdlError, match="--quantize"):
        parse_quantize("fp8")
    with pytest.raises(TfdlError, match="--int8-io"):
        parse_quantize("dynamic", int8_io=True)


def test_string_lookup_inputs_get_a_clear_error():
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
    with pytest.raises(TfdlError, match="string input.*color"):
        prepare(model, splits)


def test_text_model_converts_to_token_ids_with_vocabulary(tmp_path):
    import keras

    from tfdl.data.splits import DataInfo, Splits
    from tfdl.export import tflite_convert as C
    from tfdl.export.parity import run_tflite

    texts = np.array(["good fun film", "bad dull film", "good good", "dull bad plot", "fun plot"] * 8)
    tv = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=6, name="vectorize")
    tv.adapt(texts)
    inp = keras.Input((), dtype="string", name="text")
    x = keras.layers.Embedding(20, 4)(tv(inp))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inp, out)
    splits = Splits(texts, None, texts, None, texts[:10], None, DataInfo("t", "test"))
    prep = C.prepare(model, splits)
    assert prep.vocabulary[:2] == ["", "[UNK]"] and "good" in prep.vocabulary
    assert prep.x_test.shape == (10, 6) and prep.x_test.dtype.kind == "i"
    saved = C.save_for_conversion(prep.model, tmp_path)
    path = tmp_path / "text.tflite"
    path.write_bytes(C.convert(saved, "none", prep.x_rep, C._input_names(prep.model)))
    pred, info = run_tflite(path, prep.x_test, latency_runs=5)
    import tensorflow as tf

    np.testing.assert_allclose(pred, np.asarray(model(tf.constant(texts[:10]))), atol=1e-5)
    assert not info["tensorflow_imported"]


def test_mixed_precision_lstm_is_rebuilt_unrolled_and_runs_full_int8(tmp_path):
    import keras

    from tfdl.data.splits import DataInfo, Splits
    from tfdl.export import tflite_convert as C
    from tfdl.export.parity import check_int8_weights, run_tflite

    x = np.random.default_rng(0).normal(size=(64, 12, 3)).astype("float32")
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        inp = keras.Input((12, 3), name="window")
        out = keras.layers.Dense(1, dtype="float32")(keras.layers.LSTM(8)(inp))
        model = keras.Model(inp, out)
    finally:
        keras.config.set_dtype_policy("float32")
    prep = C.prepare(model, Splits(x, None, x, None, x[:16], None, DataInfo("w", "test")))
    assert any("float32" in n for n in prep.notes) and any("unrolled" in n for n in prep.notes)
    saved = C.save_for_conversion(prep.model, tmp_path)
    path = tmp_path / "lstm.tflite"
    # The WHILE-loop LSTM crashes the full-int8 converter (STACK.md); the unrolled one converts.
    path.write_bytes(C.convert(saved, "int8-io", prep.x_rep, C._input_names(prep.model)))
    check_int8_weights(path)
    pred, info = run_tflite(path, prep.x_test, latency_runs=5)
    assert info["inputs"][0]["dtype"] == "int8" and info["output_dtype"] == "int8"
    np.testing.assert_allclose(pred.reshape(16, 1), np.asarray(model(x[:16]), dtype="float64"), atol=0.05)
