"""Autoencoder factory: dense or convolutional, plain, denoising or variational."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras

from tfdl.models import _common as c
from tfdl.models.layers import Sampling

SEARCH_SPACE = {
    "latent_dim": ("choice", [2, 8, 16, 32]),
    "hidden": ("choice", [(64,), (128, 64), (256, 128)]),
    "dropout": ("float", 0.0, 0.3, "linear"),
    "denoising_std": ("float", 0.0, 0.2, "linear"),
}


def build_autoencoder(
    input_shape: Sequence[int | None] | None,
    *,
    latent_dim: int = 2,
    hidden: Sequence[int] = (128, 64),
    conv: bool = False,
    filters: Sequence[int] = (32, 64),
    variational: bool = False,
    kl_weight: float = 1.0,
    dropout: float = 0.0,
    output_activation: str | None = "sigmoid",
    denoising_std: float = 0.0,
    seed: int | None = None,
    inputs: Any = None,
    preprocess: Callable[[Any], Any] | None = None,
    name: str = "autoencoder",
) -> keras.Model:
    """An autoencoder whose output is the reconstruction of its (preprocessed) input.

    The idea: learn a low-dimensional code by reconstructing the input (Hinton & Salakhutdinov, 2006);
    ``denoising_std`` corrupts the input with Gaussian noise during training only (Vincent et al.,
    2008); ``variational`` makes the code a Gaussian posterior sampled with the reparameterization
    trick and adds the KL divergence to the loss (Kingma & Welling, 2013).

    Shapes: input ``(batch, *input_shape)`` -> reconstruction of the same shape; code
    ``(batch, latent_dim)``. Dense mode flattens any shape; conv mode takes ``(H, W[, C])`` with H and W
    divisible by ``2 ** len(filters)`` (each stride-2 convolution halves them).

    The model holds two sub-models: ``{name}_encoder`` (input -> code; with ``variational`` it
    outputs ``[z_mean, z_log_var, z]``) and ``{name}_decoder`` (code -> reconstruction). Get them with
    ``get_encoder(model)`` / ``get_decoder(model)`` (works after ``load_model`` too) or
    ``model.encoder`` / ``model.decoder`` on a freshly built model.

    The KL term is added by the ``Sampling`` layer via ``add_loss`` and is divided by the number of
    reconstructed values, so it sits on the same per-value scale as ``loss="mse"``: total loss =
    ``mse + kl_weight * KL / prod(input_shape)``.

    Args:
        input_shape: shape of one example without batch axis. Ignored when ``inputs`` is given.
        latent_dim: size of the code, default 2.
        hidden: dense widths of the encoder (the decoder mirrors them), default ``(128, 64)``.
        conv: use a convolutional encoder/decoder, default False.
        filters: conv filters per stride-2 stage (conv mode only), default ``(32, 64)``.
        variational: build a VAE, default False.
        kl_weight: weight of the KL term (VAE only), default 1.0.
        dropout: dropout after each hidden dense layer, default 0.0.
        output_activation: ``"sigmoid"`` (default, inputs in [0, 1]) or ``"linear"``/``None``.
        denoising_std: std of the training-only Gaussian input noise, default 0.0 (off).
        seed: seed of the VAE's sampling noise, default None.
        inputs: a KerasTensor or dict of KerasTensors to use instead of ``keras.Input(input_shape)``.
        preprocess: callable ``inputs -> x`` applied before the encoder; the model reconstructs ``x``.
        name: model name, default ``"autoencoder"``.

    Returns:
        An uncompiled ``keras.Model`` (output ``"reconstruction"`` in float32 via the decoder).
    """
    c.check_positive_int("latent_dim", latent_dim)
    hidden = c.check_int_tuple("hidden", hidden, allow_empty=True)
    filters = c.check_int_tuple("filters", filters)
    c.check_rate("dropout", dropout)
    c.check_choice("output_activation", output_activation, ("sigmoid", "linear", None))
    if isinstance(kl_weight, bool) or not isinstance(kl_weight, (int, float)) or kl_weight < 0:
        raise ValueError(f"`kl_weight` must be a number >= 0. Received: kl_weight={kl_weight!r}")
    if isinstance(denoising_std, bool) or not isinstance(denoising_std, (int, float)) or denoising_std < 0:
        raise ValueError(f"`denoising_std` must be a number >= 0. Received: denoising_std={denoising_std!r}")

    inputs, x = c.resolve_inputs(input_shape, inputs, preprocess)
    data_shape = tuple(x.shape[1:])
    if any(d is None for d in data_shape):
        raise ValueError(f"the autoencoder needs a fully known input shape. Received: {data_shape}")
    if conv:
        if len(data_shape) not in (2, 3):
            raise ValueError(f"conv=True expects images (H, W[, C]). Received input shape: {data_shape}")
        step = 2 ** len(filters)
        if data_shape[0] % step or data_shape[1] % step:
            raise ValueError(
                f"conv=True with {len(filters)} stride-2 stages needs H and W divisible by {step}. "
                f"Received: input shape {data_shape}; pad the images or use fewer `filters`"
            )

    if denoising_std > 0:
        x = keras.layers.GaussianNoise(denoising_std, name="denoise")(x)

    size = math.prod(data_shape)
    encoder = _encoder(
        data_shape,
        latent_dim,
        hidden,
        conv,
        filters,
        variational,
        kl_weight / size,
        dropout,
        seed,
        f"{name}_encoder",
    )
    decoder = _decoder(
        data_shape, latent_dim, hidden, conv, filters, dropout, output_activation, f"{name}_decoder"
    )
    code = encoder(x)
    z = code[-1] if variational else code
    out = decoder(z)
    model = keras.Model(inputs, out, name=name)
    model.encoder = encoder
    model.decoder = decoder
    return model


def get_encoder(model: keras.Model) -> keras.Model:
    """The encoder sub-model of a ``build_autoencoder`` model (also after ``load_model``)."""
    return _sub_model(model, "_encoder")


def get_decoder(model: keras.Model) -> keras.Model:
    """The decoder sub-model of a ``build_autoencoder`` model (also after ``load_model``)."""
    return _sub_model(model, "_decoder")


def _sub_model(model, suffix):
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name.endswith(suffix):
            return layer
    raise ValueError(f"model {model.name!r} has no '*{suffix}' sub-model; was it built by build_autoencoder?")


def _encoder(shape, latent_dim, hidden, conv, filters, variational, kl_weight, dropout, seed, name):
    inp = keras.Input(shape=shape, name="encoder_input")
    x = inp
    if conv:
        if len(shape) == 2:
            x = keras.layers.Reshape((*shape, 1), name="add_channel")(x)
        for i, f in enumerate(filters, start=1):
            x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"enc_conv{i}")(
                x
            )
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    for i, width in enumerate(hidden, start=1):
        x = keras.layers.Dense(width, activation="relu", name=f"enc_dense{i}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"enc_dropout{i}")(x)
    if not variational:
        code = keras.layers.Dense(latent_dim, name="latent")(x)
        return keras.Model(inp, code, name=name)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling(kl_weight=kl_weight, seed=seed, name="sampling")([z_mean, z_log_var])
    return keras.Model(inp, [z_mean, z_log_var, z], name=name)


def _decoder(shape, latent_dim, hidden, conv, filters, dropout, output_activation, name):
    inp = keras.Input(shape=(latent_dim,), name="decoder_input")
    x = inp
    for i, width in enumerate(reversed(hidden), start=1):
        x = keras.layers.Dense(width, activation="relu", name=f"dec_dense{i}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dec_dropout{i}")(x)
    act = output_activation or "linear"
    if conv:
        step = 2 ** len(filters)
        h, w = shape[0] // step, shape[1] // step
        channels = shape[2] if len(shape) == 3 else 1
        x = keras.layers.Dense(h * w * filters[-1], activation="relu", name="dec_project")(x)
        x = keras.layers.Reshape((h, w, filters[-1]), name="dec_reshape")(x)
        for i, f in enumerate(reversed(filters), start=1):
            x = keras.layers.Conv2DTranspose(
                f, 3, strides=2, padding="same", activation="relu", name=f"dec_deconv{i}"
            )(x)
        x = keras.layers.Conv2D(channels, 3, padding="same", activation=act, dtype="float32", name="dec_out")(
            x
        )
        out = keras.layers.Reshape(shape, dtype="float32", name="reconstruction")(x)
    else:
        x = keras.layers.Dense(math.prod(shape), activation=act, dtype="float32", name="dec_out")(x)
        out = keras.layers.Reshape(shape, dtype="float32", name="reconstruction")(x)
    return keras.Model(inp, out, name=name)
