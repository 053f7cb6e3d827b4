"""The ``gradcam`` signature that SavedModel export adds to image classifiers with a convolution:
present and checked in the tiny CNN's version (TFLite files of the same version unaffected), built for a
plain CNN, a residual net and a nested base (flattened), refused for an MLP (served by occlusion)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tfdl.explain.signature import call_gradcam  # noqa: E402
from tfdl.export.load import load_version  # noqa: E402
from tfdl.export.savedmodel import export_inference  # noqa: E402
from tfdl.models import build_cnn, build_mlp, build_resnet  # noqa: E402


def _rescale(t):
    return keras.layers.Rescaling(1 / 255)(t)


def _cnn():
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1), dtype="uint8", name="image")
    return build_cnn(None, 3, filters=(4, 8), dense_units=8, inputs=inp, preprocess=_rescale)


def _resnet():
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1), dtype="uint8", name="image")
    return build_resnet(None, 3, filters=(4, 8), inputs=inp, preprocess=_rescale)


def _nested():
    inner = _cnn()
    base = keras.Model(inner.get_layer("block1_conv1").input, inner.get_layer("fc_act").output, name="base")
    inp = keras.Input((20, 20, 1), dtype="uint8", name="image")
    out = keras.layers.Dense(2, activation="softmax", name="predictions")(base(_rescale(inp), training=False))
    return keras.Model(inp, out)


def test_exported_version_has_a_checked_gradcam_and_its_tflite_files(exported):
    loaded = load_version(exported.version)
    assert loaded.gradcam is not None
    x = exported.splits.x_test[:6]
    heat, cls, scores = call_gradcam(loaded.gradcam, x)
    assert heat.shape == (6, 12, 12) and heat.dtype == np.float32
    np.testing.assert_allclose(scores, loaded.predict(x), atol=1e-5)
    np.testing.assert_array_equal(cls, scores.argmax(1))
    assert heat.min() >= 0 and np.allclose(heat.max(axis=(1, 2)), 1.0, atol=1e-3)
    assert (heat.reshape(6, -1).std(1) > 0.05).all()  # a map, not a constant
    files = {p.name for p in (exported.version / "tflite").glob("*.tflite")}
    assert "model-none.tflite" in files  # the TFLite export of the same run still passes its checks


@pytest.mark.parametrize("make", [_cnn, _resnet, _nested], ids=["plain", "resnet", "nested"])
def test_gradcam_signature_matches_the_model(make, tmp_path):
    model = make()
    assert export_inference(model, tmp_path / "v", gradcam=True) is None
    loaded = load_version(tmp_path / "v")
    x = np.random.default_rng(0).integers(0, 256, size=(3, 20, 20, 1), dtype=np.uint8)
    heat, cls, scores = call_gradcam(loaded.gradcam, x)
    assert heat.shape == (3, 20, 20) and np.isfinite(heat).all() and 0 <= heat.min() and heat.max() <= 1
    np.testing.assert_allclose(scores, model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(cls, scores.argmax(1))


def test_chosen_class_calibrated_and_binary_models(tmp_path):
    """``class`` picks the class explained; a calibration temperature after the softmax (as the
    classification task serves it) and a one-column sigmoid output are explained too."""
    from types import SimpleNamespace

    from tfdl.tasks import get_task

    x = np.random.default_rng(0).integers(0, 256, size=(3, 20, 20, 1), dtype=np.uint8)
    calibrated = get_task("classification").serving_model(_cnn(), SimpleNamespace(temperature=1.7))
    assert export_inference(calibrated, tmp_path / "c", gradcam=True) is None
    fn = load_version(tmp_path / "c").gradcam
    heat0, cls0, scores = call_gradcam(fn, x, [0, 0, 0])
    heat2, cls2, _ = call_gradcam(fn, x, [2, 2, 2])
    assert list(cls0) == [0, 0, 0] and list(cls2) == [2, 2, 2] and not np.allclose(heat0, heat2)
    np.testing.assert_allclose(scores, calibrated.predict(x, verbose=0), atol=1e-5)
    inp = keras.Input((20, 20, 1), dtype="uint8", name="image")
    binary = build_cnn(None, 1, filters=(4,), dense_units=4, inputs=inp, preprocess=_rescale,
                       output_activation="sigmoid")  # fmt: skip
    assert export_inference(binary, tmp_path / "b", gradcam=True) is None
    heat, cls, scores = call_gradcam(load_version(tmp_path / "b").gradcam, x)
    assert heat.shape == (3, 20, 20) and scores.shape == (3, 1)
    np.testing.assert_array_equal(cls, (scores[:, 0] >= 0.5).astype(int))


def test_mlp_gets_no_gradcam_signature(tmp_path):
    inp = keras.Input((20, 20, 1), dtype="uint8", name="image")
    model = build_mlp(None, 3, units=(8,), inputs=inp, preprocess=_rescale)
    why = export_inference(model, tmp_path / "v", gradcam=True)
    assert "no convolution" in why
    assert load_version(tmp_path / "v").gradcam is None
    assert export_inference(_cnn(), tmp_path / "w") == "not requested"  # TFLite / ONNX conversion path
    assert load_version(tmp_path / "w").gradcam is None
