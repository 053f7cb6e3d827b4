"""FusedBatchNormalization computes what keras.layers.BatchNormalization does, with TF's fused kernel."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batchnorm_matches_keras_batchnorm(policy):
    import keras
    import tensorflow as tf

    from tfdl.models.layers import FusedBatchNormalization

    keras.mixed_precision.set_global_policy(policy)
    try:
        x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (16, 5, 5, 8)).astype("float32"))
        ref, fused = keras.layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)
        ref.build(x.shape)
        fused.build(x.shape)
        fused.set_weights([w + 0.5 for w in ref.get_weights()])  # non-trivial gamma, beta and statistics
        ref.set_weights(fused.get_weights())
        weights = tf.range(8, dtype="float32")
        grads, outs = [], []
        for layer in (ref, fused):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(tf.cast(x, layer.compute_dtype), training=True)
                loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
            grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
            outs.append(np.asarray(tf.cast(y, "float32")))
        assert outs[1].dtype == np.float32 and fused.compute_dtype == ref.compute_dtype
        tol = 1e-4 if policy == "float32" else 5e-2
        np.testing.assert_allclose(outs[1], outs[0], atol=tol)
        for g_ref, g_fused in zip(*grads):  # gamma's gradient is a sum of 400 terms that cancel: ~1e-4 noise
            np.testing.assert_allclose(g_fused, g_ref, rtol=1e-3, atol=max(tol, 1e-3))
        # moving mean and (biased) variance updated the same way, and inference uses them the same way
        for w_ref, w_fused in zip(ref.get_weights(), fused.get_weights()):
            np.testing.assert_allclose(w_fused, w_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            np.asarray(tf.cast(fused(x, training=False), "float32")),
            np.asarray(tf.cast(ref(x, training=False), "float32")),
            atol=tol,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_fused_batchnorm_saves_and_loads_as_itself(tmp_path):
    import keras

    from tfdl.models import build_resnet
    from tfdl.models.layers import FusedBatchNormalization

    model = build_resnet((8, 8), 3, filters=(4,))
    assert any(isinstance(layer, FusedBatchNormalization) for layer in model.layers)
    x = np.random.default_rng(1).random((2, 8, 8)).astype("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, np.array([0, 2]), epochs=1, verbose=0)  # moves the statistics off their initial values
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("stem_bn"), FusedBatchNormalization)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
