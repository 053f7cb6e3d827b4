"""Recurrent network factory (LSTM / GRU / SimpleRNN, optionally bidirectional, stacked)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from tfdl.models import _common as c

SEARCH_SPACE = {
    "cell": ("choice", ["lstm", "gru"]),
    "units": ("choice", [(32,), (64,), (128,), (64, 32)]),
    "bidirectional": ("choice", [False, True]),
    "dropout": ("float", 0.0, 0.4, "linear"),
}

_CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}


def build_rnn(
    input_shape: Sequence[int | None] | None,
    outputs: int,
    *,
    cell: str = "lstm",
    units: Sequence[int] = (64,),
    bidirectional: bool = False,
    dropout: float = 0.2,
    recurrent_dropout: float = 0.0,
    l2: float = 0.0,
    unroll: bool = False,
    return_sequences_pooling: str | None = None,
    dense_units: int = 0,
    output_activation: str | None = "softmax",
    vocab_size: int | None = None,
    embedding_dim: int = 64,
    mask_zero: bool = True,
    inputs: Any = None,
    preprocess: Callable[[Any], Any] | None = None,
    name: str = "rnn",
) -> keras.Model:
    """A stacked recurrent network for sequence classification, regression or forecasting.

    The idea: LSTM (Hochreiter & Schmidhuber, 1997) or GRU (Cho et al., 2014) cells, stacked and
    optionally bidirectional (Schuster & Paliwal, 1997); for text an Embedding maps token ids first.

    Shapes: numeric input ``(batch, timesteps, features)``, or with ``vocab_size`` int token ids
    ``(batch, seq_len)`` (0 = padding, masked when ``mask_zero``) -> output ``(batch, outputs)``.

    Layer names: ``embedding``, ``{cell}1``, ``{cell}2``, ... (``bi_{cell}N`` when bidirectional),
    ``seq_pool``, ``fc``, ``predictions``.

    Args:
        input_shape: ``(timesteps, features)`` or, with ``vocab_size``, ``(seq_len,)``; ``None``
            timesteps allowed unless ``unroll``. Ignored when ``inputs`` is given.
        outputs: output units (classes, targets or forecast horizon).
        cell: ``"lstm"`` (default), ``"gru"`` or ``"simple"``.
        units: units of each stacked recurrent layer, default ``(64,)``.
        bidirectional: wrap each recurrent layer in ``Bidirectional``, default False.
        dropout: input dropout of each recurrent layer, default 0.2.
        recurrent_dropout: dropout on the recurrent state, default 0.0.
        l2: L2 penalty on every kernel (the cells' input and recurrent kernels, ``fc`` and the head), added
            to the loss (``l2 * sum(w**2)``), default 0 (none).
        unroll: unroll the loop (needs fixed timesteps; makes TFLite conversion work with a variable
            batch), default False.
        return_sequences_pooling: ``None`` (last state, default), ``"avg"`` or ``"max"`` over time.
        dense_units: width of a dense layer before the output, default 0 (none).
        output_activation: ``"softmax"`` (default), ``"sigmoid"`` or ``None``/``"linear"``.
        vocab_size: if given, inputs are token ids in ``[0, vocab_size)`` and an Embedding comes first.
        embedding_dim: embedding width, default 64.
        mask_zero: treat token id 0 as padding (masked), default True.
        inputs: a KerasTensor or dict of KerasTensors to use instead of ``keras.Input(input_shape)``.
        preprocess: callable ``inputs -> x`` applied before the body (e.g. a TextVectorization).
        name: model name, default ``"rnn"``.

    Returns:
        An uncompiled ``keras.Model``; the output layer is ``"predictions"`` (float32).
    """
    c.check_positive_int("outputs", outputs)
    c.check_choice("cell", cell, tuple(_CELLS))
    units = c.check_int_tuple("units", units)
    c.check_rate("dropout", dropout)
    c.check_rate("recurrent_dropout", recurrent_dropout)
    c.check_l2(l2)
    c.check_choice("return_sequences_pooling", return_sequences_pooling, (None, "avg", "max"))
    c.check_positive_int("dense_units", dense_units, allow_zero=True)
    c.check_output_activation(output_activation)
    if vocab_size is not None:
        c.check_positive_int("vocab_size", vocab_size)
        c.check_positive_int("embedding_dim", embedding_dim)

    tokens = vocab_size is not None
    inputs, x = c.resolve_inputs(
        input_shape, inputs, preprocess, dtype="int32" if tokens else "float32", min_rank=1
    )
    if tokens:
        if len(x.shape) != 2:
            raise ValueError(f"with vocab_size, inputs must be token ids (seq_len,). Received: {x.shape[1:]}")
        x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=mask_zero, name="embedding")(x)
    elif len(x.shape) != 3:
        raise ValueError(
            "without vocab_size, inputs must be numeric sequences (timesteps, features). "
            f"Received input shape: {x.shape[1:]}"
        )
    if unroll and x.shape[1] is None:
        raise ValueError("`unroll=True` needs a fixed number of timesteps. Received: timesteps=None")

    for i, width in enumerate(units, start=1):
        last = i == len(units)
        layer = _CELLS[cell](
            width,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            unroll=unroll,
            kernel_regularizer=c.l2_regularizer(l2),
            recurrent_regularizer=c.l2_regularizer(l2),
            return_sequences=not last or return_sequences_pooling is not None,
            name=f"{cell}{i}",
        )
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bi_{cell}{i}")
        x = layer(x)
    if return_sequences_pooling == "avg":
        x = keras.layers.GlobalAveragePooling1D(name="seq_pool")(x)
    elif return_sequences_pooling == "max":
        x = keras.layers.GlobalMaxPooling1D(name="seq_pool")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", kernel_initializer="he_normal", name="fc",
                               kernel_regularizer=c.l2_regularizer(l2))(x)  # fmt: skip
    out = c.output_head(x, outputs, output_activation, l2=l2)
    return keras.Model(inputs, out, name=name)
