"""Small VGG-style convolutional network factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from tfdl.models import _common as c

SEARCH_SPACE = {
    "filters": ("choice", [(16, 32), (32, 64), (32, 64, 128)]),
    "dropout": ("float", 0.0, 0.5, "linear"),
    "dense_units": ("choice", [64, 128, 256]),
    "pooling": ("choice", ["avg", "flatten"]),
}


def build_cnn(
    input_shape: Sequence[int | None] | None,
    num_classes: int,
    *,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    convs_per_block: int = 2,
    dropout: float = 0.3,
    batch_norm: bool = True,
    pooling: str = "flatten",
    dense_units: int = 128,
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    l2: float = 0.0,
    output_activation: str | None = "softmax",
    inputs: Any = None,
    preprocess: Callable[[Any], Any] | None = None,
    name: str = "cnn",
) -> keras.Model:
    """A VGG-style image classifier: blocks of (Conv -> BN -> ReLU) x 2 + MaxPool, then a dense head.

    The idea: stacks of small 3x3 convolutions with pooling between stages (Simonyan & Zisserman,
    "Very Deep Convolutional Networks", 2014), with batch normalisation (Ioffe & Szegedy, 2015) and a
    flatten or global-average-pooling head (Lin et al., "Network in Network", 2013).

    Shapes: input ``(batch, H, W, C)`` (or ``(batch, H, W)``: a channel axis is added) ->
    output ``(batch, num_classes)``. Each block halves H and W.

    Layer names: block ``N`` (1-based) has ``blockN_conv1``, ``blockN_conv2``, ... and ``blockN_pool``;
    the last convolution, for Grad-CAM, is ``block{len(filters)}_conv{convs_per_block}``
    (see ``last_conv_layer_name``).

    Args:
        input_shape: ``(H, W, C)`` or ``(H, W)``. Ignored when ``inputs`` is given.
        num_classes: number of classes (output units).
        filters: filters of each block, default ``(32, 64)``.
        kernel_size: convolution kernel size, default 3.
        convs_per_block: convolutions per block, default 2.
        dropout: dropout rate before the output layer, default 0.3.
        batch_norm: BatchNormalization after each convolution, default True.
        pooling: ``"flatten"`` (default: on Fashion-MNIST it learns faster than average pooling,
            val accuracy 0.877 vs 0.845 after one epoch) or ``"avg"`` (GlobalAveragePooling2D: fewer
            weights, any input size).
        dense_units: width of the dense layer before the output, default 128; 0 skips it.
        activation: hidden activation, default ``"relu"``.
        kernel_initializer: initializer of the hidden layers, default ``"he_normal"``.
        l2: L2 penalty on every kernel, added to the loss (``l2 * sum(w**2)``), default 0 (none).
        output_activation: ``"softmax"`` (default), ``"sigmoid"`` (multi-label) or ``None``.
        inputs: a KerasTensor or dict of KerasTensors to use instead of ``keras.Input(input_shape)``.
        preprocess: callable ``inputs -> x`` applied before the body (e.g. ``Rescaling(1/255)``).
        name: model name, default ``"cnn"``.

    Returns:
        An uncompiled ``keras.Model``; the output layer is ``"predictions"`` (float32).
    """
    c.check_positive_int("num_classes", num_classes)
    filters = c.check_int_tuple("filters", filters)
    c.check_positive_int("kernel_size", kernel_size)
    c.check_positive_int("convs_per_block", convs_per_block)
    c.check_rate("dropout", dropout)
    c.check_choice("pooling", pooling, ("avg", "flatten"))
    c.check_positive_int("dense_units", dense_units, allow_zero=True)
    c.check_l2(l2)
    c.check_output_activation(output_activation)

    inputs, x = c.resolve_inputs(input_shape, inputs, preprocess, min_rank=2)
    if len(x.shape) == 3:  # grayscale (H, W): add the channel axis
        x = keras.layers.Reshape((*x.shape[1:], 1), name="add_channel")(x)
    if len(x.shape) != 4:
        raise ValueError(f"build_cnn expects images (H, W[, C]). Received input shape: {x.shape[1:]}")
    for i, f in enumerate(filters, start=1):
        x = _conv_block(x, f, i, kernel_size, convs_per_block, batch_norm, activation, kernel_initializer, l2)
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    if dense_units:
        x = keras.layers.Dense(
            dense_units,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=c.l2_regularizer(l2),
            name="fc",
        )(x)
        x = keras.layers.Activation(activation, name="fc_act")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    out = c.output_head(x, num_classes, output_activation, l2=l2)
    return keras.Model(inputs, out, name=name)


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the last Conv2D layer of ``model`` (the Grad-CAM target)."""
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"model {model.name!r} has no Conv2D layer")
    return convs[-1]


def _conv_block(x, f, i, kernel_size, convs, batch_norm, activation, kernel_initializer, l2=0.0):
    for j in range(1, convs + 1):
        x = keras.layers.Conv2D(
            f,
            kernel_size,
            padding="same",
            use_bias=not batch_norm,  # BatchNorm's beta replaces the bias
            kernel_initializer=kernel_initializer,
            kernel_regularizer=c.l2_regularizer(l2),
            name=f"block{i}_conv{j}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
        x = keras.layers.Activation(activation, name=f"block{i}_act{j}")(x)
    return keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
