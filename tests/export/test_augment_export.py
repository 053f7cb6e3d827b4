"""An exported model never augments: random layers are training-only, also behind serving_default."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("level", ["flip", "shift", "light"])
def test_exported_model_with_augmentation_is_deterministic(tmp_path, level):
    import keras
    import tensorflow as tf

    from tfdl.data.augment import augmentation
    from tfdl.export.savedmodel import export_inference

    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 1), dtype="uint8", name="image")
    x = augmentation(level, seed=1)(keras.layers.Rescaling(1 / 255)(inp))
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    # an asymmetric image: a flip or a shift changes the outputs
    img = np.zeros((4, 12, 12, 1), np.uint8)
    img[:, :, :3] = 255
    img[:, 2:5, 8:] = 120
    expected = model.predict(img, verbose=0)
    export_inference(model, tmp_path / "sm")
    fn = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    assert list(fn.structured_input_signature[1]) == ["image"]
    for _ in range(3):
        got = next(iter(fn(image=tf.constant(img)).values())).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_flip_tta_resnet_exports_to_savedmodel_and_int8_tflite(tmp_path):
    """The default vision model's shape (flip augmentation in training, flip TTA inside the model) goes
    through the SavedModel parity check and the int8 TFLite conversion with its metric check."""
    import json

    import keras

    from tests.export.helpers import tiny_app, tiny_config, tiny_splits
    from tfdl.data.augment import augmentation
    from tfdl.export.tflite import export_tflite
    from tfdl.models import build_resnet

    splits = tiny_splits()

    def build(splits, cfg, **kw):
        inputs = keras.Input(splits.info.input_shape, dtype="uint8", name="image")
        aug = augmentation("flip", seed=1)
        return build_resnet(
            None, 3, filters=(8, 16), pooling="flatten", flip_tta=True, inputs=inputs,
            preprocess=lambda t: aug(keras.layers.Rescaling(1 / 255)(t)),
        )  # fmt: skip

    app = tiny_app(splits)
    app.models["cnn"] = build
    cfg = tiny_config(tmp_path)
    keras.utils.set_random_seed(0)
    model = build(splits, cfg)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(splits.x_train, splits.y_train, epochs=4, batch_size=32, verbose=0)
    probs = model.predict(splits.x_test, verbose=0)
    np.testing.assert_array_equal(probs, model.predict(splits.x_test, verbose=0))  # deterministic
    acc = float(np.mean(probs.argmax(1) == splits.y_test))
    assert acc > 0.6  # learned something (3 classes)
    metrics = {
        "app": "tiny", "model": "cnn", "task": "classification", "test": {"accuracy": acc},
        "dataset": {"name": "tiny_stripes", "fingerprint": "sha256:test"},
    }  # fmt: skip
    run_dir = tmp_path / "runs" / "tiny" / "run-1"
    run_dir.mkdir(parents=True)
    paths = export_tflite(app, cfg, model, splits, metrics, run_dir, quantize="int8")
    tflite = [p for p in paths if p.suffix == ".tflite"]
    assert [p.name for p in tflite] == ["model-int8.tflite"]
    record = json.loads(next(p for p in paths if p.name == "parity.json").read_text())
    assert record["files"]["int8"]["file"] == "model-int8.tflite"
