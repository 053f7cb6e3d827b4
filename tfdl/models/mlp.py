"""Multi-layer perceptron factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from tfdl.models import _common as c

SEARCH_SPACE = {
    "units": ("choice", [(64,), (128, 64), (256, 128), (512, 256)]),
    "dropout": ("float", 0.0, 0.5, "linear"),
    "batch_norm": ("choice", [False, True]),
    "activation": ("choice", ["relu", "gelu"]),
}


def build_mlp(
    input_shape: Sequence[int | None] | None,
    outputs: int,
    *,
    units: Sequence[int] = (256, 128),
    dropout: float = 0.2,
    batch_norm: bool = False,
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    l2: float = 0.0,
    layer_norm: bool = False,
    output_activation: str | None = "softmax",
    inputs: Any = None,
    preprocess: Callable[[Any], Any] | None = None,
    name: str = "mlp",
) -> keras.Model:
    """A fully connected network: (Dense -> [BatchNorm] -> activation -> Dropout) x len(units) -> output.

    The idea: the multilayer perceptron trained by back-propagation (Rumelhart, Hinton & Williams, 1986),
    with He initialisation (He et al., 2015), dropout (Srivastava et al., 2014) and optional batch
    normalisation (Ioffe & Szegedy, 2015).

    Shapes: input ``(batch, *input_shape)`` (flattened first) -> output ``(batch, outputs)``.

    Args:
        input_shape: shape of one example without the batch axis, e.g. ``(20,)`` or ``(28, 28)``.
            Ignored when ``inputs`` is given.
        outputs: number of output units (classes, or targets for regression).
        units: width of each hidden layer, default ``(256, 128)``; ``()`` gives a linear/logistic model.
        dropout: dropout rate after each hidden layer, default 0.2.
        batch_norm: add BatchNormalization before each activation, default False.
        activation: hidden activation, default ``"relu"``.
        kernel_initializer: hidden-layer initializer, default ``"he_normal"``.
        l2: L2 penalty on every kernel, added to the loss (``l2 * sum(w**2)``), default 0 (none).
        layer_norm: add LayerNormalization before each activation (Ba et al., 2016), default False.
        output_activation: ``"softmax"`` (default), ``"sigmoid"``, or ``None``/``"linear"`` for regression.
        inputs: a KerasTensor or dict of KerasTensors to use instead of ``keras.Input(input_shape)``.
        preprocess: callable ``inputs -> x`` applied before the body (normalisation, lookups...).
        name: model name, default ``"mlp"``.

    Returns:
        An uncompiled ``keras.Model``; the output layer is ``"predictions"`` (float32).
    """
    c.check_positive_int("outputs", outputs)
    units = c.check_int_tuple("units", units, allow_empty=True)
    c.check_rate("dropout", dropout)
    c.check_l2(l2)
    c.check_output_activation(output_activation)

    inputs, x = c.resolve_inputs(input_shape, inputs, preprocess)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    for i, width in enumerate(units, start=1):
        x = _dense_block(x, width, i, dropout, batch_norm, activation, kernel_initializer, l2, layer_norm)
    out = c.output_head(x, outputs, output_activation, l2=l2)
    return keras.Model(inputs, out, name=name)


def _dense_block(x, width, i, dropout, batch_norm, activation, kernel_initializer, l2=0.0, layer_norm=False):
    # The bias is redundant when BatchNorm's (or LayerNorm's) beta follows.
    x = keras.layers.Dense(
        width,
        use_bias=not (batch_norm or layer_norm),
        kernel_initializer=kernel_initializer,
        kernel_regularizer=c.l2_regularizer(l2),
        name=f"dense{i}",
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"dense{i}_bn")(x)
    if layer_norm:
        x = keras.layers.LayerNormalization(name=f"dense{i}_ln")(x)
    x = keras.layers.Activation(activation, name=f"dense{i}_act")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"dense{i}_dropout")(x)
    return x
