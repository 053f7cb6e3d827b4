"""An exported model never augments: random layers are training-only, also behind serving_default."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("level", ["flip", "light"])
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
