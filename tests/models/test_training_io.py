"""Model factories train (loss goes down), survive a .keras round trip, the VAE has its KL term,
and the transformer converts to TFLite with built-in ops."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tfdl.models  # noqa: F401  (registers the custom layers before load_model)
from tfdl.models import build_autoencoder, build_cnn, build_mlp, build_rnn, build_transformer

RNG = np.random.default_rng(0)


def _classification_data(shape, n=64, classes=2, tokens=False):
    """Labels that depend on the inputs, so a model can learn them."""
    if len(shape) == 3:  # images: the class is which half holds a bright patch
        y = RNG.integers(0, 2, n)
        x = RNG.normal(size=(n, *shape)).astype("float32")
        for i, label in enumerate(y):
            x[i, :, label * 4 : label * 4 + 4] += 2.0
        return x, y.astype("int32")
    if tokens:
        x = RNG.integers(1, 20, size=(n, *shape)).astype("int32")
        y = (x[:, 0] > 10).astype("int32")
    else:
        x = RNG.normal(size=(n, *shape)).astype("float32")
        y = (x.reshape(n, -1).mean(axis=1) > 0).astype("int32")
    return x, y % classes


BUILDS = {
    "mlp": (lambda: build_mlp((6,), 2, units=(16,)), (6,), False),
    "cnn": (lambda: build_cnn((8, 8, 1), 2, filters=(4,), dense_units=8, dropout=0.0), (8, 8, 1), False),
    "rnn": (lambda: build_rnn((5, 2), 2, cell="gru", units=(8,), dropout=0.0), (5, 2), False),
    "transformer": (
        lambda: build_transformer((5,), 2, vocab_size=20, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1),
        (5,),
        True,
    ),
}


@pytest.mark.parametrize("name", list(BUILDS))
def test_a_few_training_steps_lower_the_loss(name):
    keras.utils.set_random_seed(0)
    build, shape, tokens = BUILDS[name]
    x, y = _classification_data(shape, tokens=tokens)
    model = build()
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    # Training-mode losses: BatchNorm's moving statistics lag behind after so few steps.
    loss = model.fit(x, y, epochs=8, batch_size=32, verbose=0).history["loss"]
    assert loss[-1] < 0.8 * loss[0], loss


def test_autoencoder_training_lowers_reconstruction_loss():
    keras.utils.set_random_seed(0)
    # Images on a 2-D manifold (mixtures of two patterns), so a 2-D code can reconstruct them.
    a, b = RNG.random((2, 64, 1, 1))
    x = (a * np.eye(8) + b * np.fliplr(np.eye(8))).astype("float32") / 2
    model = build_autoencoder((8, 8), hidden=(16,), latent_dim=2)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, epochs=8, batch_size=32, verbose=0)
    assert model.evaluate(x, x, verbose=0) < 0.5 * before


ROUND_TRIPS = {
    "mlp_bn": (lambda: build_mlp((6,), 3, batch_norm=True, units=(8,)), RNG.random((4, 6))),
    "cnn": (lambda: build_cnn((8, 8), 3, filters=(4,)), RNG.random((4, 8, 8))),
    "rnn_tokens": (
        lambda: build_rnn((5,), 2, vocab_size=20, units=(4,), bidirectional=True),
        RNG.integers(0, 20, (4, 5)),
    ),
    "vae_conv": (
        lambda: build_autoencoder((8, 8, 1), conv=True, filters=(4,), variational=True, denoising_std=0.1),
        RNG.random((4, 8, 8, 1)),
    ),
    "transformer_cls_mask": (
        lambda: build_transformer((5,), 2, vocab_size=20, embed_dim=8, pooling="cls", mask_zero=True),
        RNG.integers(0, 20, (4, 5)),
    ),
    "transformer_numeric_sin": (
        lambda: build_transformer((5, 3), 2, embed_dim=8, positions="sinusoidal", num_layers=1),
        RNG.random((4, 5, 3)),
    ),
}


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_keras_file_round_trip_gives_identical_predictions(name, tmp_path):
    build, x = ROUND_TRIPS[name]
    model = build()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    if name == "transformer_cls_mask":
        from tfdl.models import attention_model

        a = attention_model(model).predict(x, verbose=0)
        b = attention_model(loaded).predict(x, verbose=0)
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    if name.startswith("vae"):
        from tfdl.models import get_encoder

        assert len(get_encoder(loaded).outputs) == 3


def test_vae_total_loss_includes_the_kl_term():
    x = RNG.random((32, 6)).astype("float32")
    with_kl = build_autoencoder((6,), hidden=(8,), variational=True, kl_weight=1.0, seed=1)
    without = build_autoencoder((6,), hidden=(8,), variational=True, kl_weight=0.0, seed=1)
    without.set_weights(with_kl.get_weights())
    for m in (with_kl, without):
        m.compile("adam", "mse")
    mse = float(np.mean((without.predict(x, verbose=0) - x) ** 2))
    np.testing.assert_allclose(without.evaluate(x, x, verbose=0), mse, rtol=1e-5)
    # KL / prod(input_shape), computed by hand from the encoder's posterior parameters
    z_mean, z_log_var, _ = with_kl.encoder.predict(x, verbose=0)
    kl = np.mean(-0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=1)) / 6
    assert kl > 0
    np.testing.assert_allclose(with_kl.evaluate(x, x, verbose=0), mse + kl, rtol=1e-4)
    with_kl(x, training=True)
    assert len(with_kl.losses) == 1 and float(with_kl.losses[0]) > 0


@pytest.mark.slow  # ~10 s: SavedModel export + conversion
def test_transformer_converts_to_tflite_builtins(tmp_path):
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = build_transformer((6,), 2, vocab_size=20, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1)
    model.export(tmp_path / "sm", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    x = RNG.integers(1, 20, (1, 6)).astype("int32")
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=1e-5)
