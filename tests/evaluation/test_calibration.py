"""Calibration: an over-confident model (logits x 5) has a high ECE, temperature scaling fitted on
validation brings it down on test, and the exported model serves the calibrated probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from tfdl.evaluation.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability,
)


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(1, keepdims=True)


def _overconfident(n: int, seed: int, k: int = 3, scale: float = 5.0):
    """Labels drawn from softmax(z) (so softmax(z) is calibrated); the model says softmax(scale * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.2, size=(n, k))
    true_p = _softmax(z)
    y = np.array([rng.choice(k, p=row) for row in true_p])
    return y, _softmax(scale * z), true_p


def test_overconfident_model_has_high_ece_and_temperature_scaling_lowers_it():
    y_val, p_val, _ = _overconfident(3000, 0)
    y_test, p_test, true_p = _overconfident(3000, 1)
    before = expected_calibration_error(y_test, p_test)
    assert before > 0.15  # confidence far above accuracy
    assert expected_calibration_error(y_test, true_p) < 0.04  # the truth itself is calibrated
    t = fit_temperature(y_val, p_val)
    assert 4.0 < t < 6.0  # recovers the x5 that broke it
    after = apply_temperature(p_test, t)
    assert expected_calibration_error(y_test, after) < 0.04 < before
    assert nll(y_test, after) < nll(y_test, p_test)
    assert np.array_equal(after.argmax(1), p_test.argmax(1))  # the predicted class never changes


def test_a_calibrated_model_keeps_t_near_one_and_sigmoid_outputs_work():
    y, _, true_p = _overconfident(4000, 2, k=2, scale=1.0)
    assert fit_temperature(y, true_p) == pytest.approx(1.0, abs=0.15)
    p1 = true_p[:, 1]
    sharp = apply_temperature(p1, 0.5)  # (n,) sigmoid probabilities stay (n,)
    assert sharp.shape == p1.shape and np.all((sharp > 0.5) == (p1 > 0.5))
    assert apply_temperature(p1[:, None], 2.0).shape == (len(p1), 1)
    r = reliability(y, p1)
    assert r["ece"] == pytest.approx(expected_calibration_error(y, true_p), abs=1e-9)
    assert sum(b["count"] for b in r["bins"]) == len(y)


def test_exported_and_reloaded_model_returns_the_calibrated_probabilities(tmp_path):
    import keras
    import tensorflow as tf

    from tfdl.data.splits import DataInfo
    from tfdl.export.savedmodel import export_inference
    from tfdl.tasks import get_task

    inputs = keras.Input((4,), name="x")
    dense = keras.layers.Dense(3, name="logits")
    model = keras.Model(inputs, keras.layers.Activation("softmax", dtype="float32")(dense(inputs)))
    rng = np.random.default_rng(0)
    dense.set_weights([rng.normal(scale=3.0, size=(4, 3)).astype(np.float32), np.zeros(3, np.float32)])
    info = DataInfo("toy", "test", labels=["a", "b", "c"], temperature=2.5)
    task = get_task("classification")
    served = task.serving_model(model, info)
    export_inference(served, tmp_path / "v")
    x = rng.normal(size=(16, 4)).astype(np.float32)
    loaded = tf.saved_model.load(str(tmp_path / "v"))
    out = loaded.signatures["serving_default"](x=tf.constant(x))
    got = np.asarray(next(iter(out.values())))
    raw = model.predict(x, verbose=0)
    want = apply_temperature(raw, 2.5)
    assert np.allclose(got, want, atol=1e-5)
    assert not np.allclose(got, raw, atol=1e-3)  # it really is a different (softer) answer
    assert np.allclose(task.served_output(raw, info), want)
    assert task.card(info) == {"temperature": 2.5}


def test_the_calibrated_model_rebuilds_in_float32_and_in_a_fresh_name_space():
    """The served model of a mixed-precision classifier is rebuilt from its config for TFLite/ONNX (the
    temperature must round-trip in safe mode), and `tfdl export` of a finished run builds it in a fresh
    process, where Keras' automatic op names start over (they must not clash with the loaded model's)."""
    import keras

    from tfdl.data.splits import DataInfo
    from tfdl.export.tflite_convert import tflite_ready
    from tfdl.tasks import get_task

    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8, dtype="mixed_bfloat16", name="hidden")(inputs / 2.0)  # a true_divide op
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", dtype="float32")(hidden))
    keras.utils.clear_session()  # as in a fresh process: the next automatic name is true_divide again
    served = get_task("classification").serving_model(model, DataInfo("toy", "test", temperature=1.7))
    rebuilt, notes = tflite_ready(served)
    assert notes == ["rebuilt in float32 (trained with a mixed precision policy)"]
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    want = apply_temperature(model.predict(x, verbose=0), 1.7)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), want, atol=2e-2)  # bf16 trained, f32 served
