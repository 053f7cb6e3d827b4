"""Transformer encoder factory for token or numeric sequences, with attention scores for explanations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from tfdl.models import _common as c
from tfdl.models.layers import ClassToken, PositionalEmbedding, TransformerBlock

SEARCH_SPACE = {
    "embed_dim": ("choice", [32, 64, 128]),
    "num_heads": ("choice", [2, 4]),
    "num_layers": ("int", 1, 4, 1),
    "ff_dim": ("choice", [64, 128, 256]),
    "dropout": ("float", 0.0, 0.3, "linear"),
}


def build_transformer(
    input_shape: Sequence[int | None] | None,
    outputs: int,
    *,
    vocab_size: int | None = None,
    embed_dim: int = 64,
    num_heads: int = 4,
    num_layers: int = 2,
    ff_dim: int = 128,
    dropout: float = 0.1,
    positions: str = "learned",
    pooling: str = "avg",
    mask_zero: bool = False,
    output_activation: str | None = "softmax",
    inputs: Any = None,
    preprocess: Callable[[Any], Any] | None = None,
    name: str = "transformer",
) -> keras.Model:
    """A transformer encoder (Vaswani et al., "Attention Is All You Need", 2017) with a prediction head.

    Token ids go through an Embedding, numeric vectors through a Dense projection to ``embed_dim``;
    positions are added (learned or sinusoidal), then ``num_layers`` blocks of multi-head
    self-attention + residual + LayerNorm and a position-wise feed-forward network. ``pooling="cls"``
    prepends a learned [CLS] token (BERT, Devlin et al., 2018) and reads its output.

    Shapes: token ids ``(batch, seq_len)`` (``vocab_size`` given) or ``(batch, timesteps, features)``
    -> ``(batch, outputs)``; with ``pooling="none"`` -> ``(batch, seq_len, outputs)``.
    The sequence length must be fixed (positions are a table of that length).

    Layer names: ``projection`` (numeric input), ``positional_embedding``, ``cls_token``, ``block1``,
    ``block2``, ... (custom ``TransformerBlock`` layers whose attention sub-layers are
    ``block{i}_attention``), ``pool``, ``predictions``. ``attention_model(model)`` returns a model
    that outputs every block's attention scores ``(batch, num_heads, seq, seq)``.

    Args:
        input_shape: ``(seq_len,)`` with ``vocab_size``, else ``(timesteps, features)``. Ignored when
            ``inputs`` is given.
        outputs: output units.
        vocab_size: token vocabulary size (ids in ``[0, vocab_size)``), default None (numeric input).
        embed_dim: model width, default 64.
        num_heads: attention heads, default 4 (key size ``ceil(embed_dim / num_heads)``).
        num_layers: encoder blocks, default 2.
        ff_dim: hidden width of the feed-forward network, default 128.
        dropout: dropout in attention, after each sub-layer and before the head, default 0.1.
        positions: ``"learned"`` (default) or ``"sinusoidal"``.
        pooling: ``"avg"`` (default), ``"cls"`` or ``"none"`` (per-position outputs).
        mask_zero: with token ids, mask id 0 (padding) out of attention and average pooling, default False.
        output_activation: ``"softmax"`` (default), ``"sigmoid"`` or ``None``/``"linear"``.
        inputs: a KerasTensor or dict of KerasTensors to use instead of ``keras.Input(input_shape)``.
        preprocess: callable ``inputs -> x`` applied before the body (e.g. a TextVectorization).
        name: model name, default ``"transformer"``.

    Returns:
        An uncompiled ``keras.Model``; the output layer is ``"predictions"`` (float32).
    """
    c.check_positive_int("outputs", outputs)
    if vocab_size is not None:
        c.check_positive_int("vocab_size", vocab_size)
    c.check_positive_int("embed_dim", embed_dim)
    c.check_positive_int("num_heads", num_heads)
    c.check_positive_int("num_layers", num_layers)
    c.check_positive_int("ff_dim", ff_dim)
    c.check_rate("dropout", dropout)
    c.check_choice("positions", positions, ("learned", "sinusoidal"))
    c.check_choice("pooling", pooling, ("avg", "cls", "none"))
    c.check_output_activation(output_activation)

    tokens = vocab_size is not None
    inputs, x = c.resolve_inputs(input_shape, inputs, preprocess, dtype="int32" if tokens else "float32")
    expected_rank = 2 if tokens else 3
    if len(x.shape) != expected_rank:
        raise ValueError(
            (
                "with vocab_size, inputs must be token ids (seq_len,)"
                if tokens
                else "without vocab_size, inputs must be numeric sequences (timesteps, features)"
            )
            + f". Received input shape: {x.shape[1:]}"
        )
    seq_len = x.shape[1]
    if seq_len is None:
        raise ValueError("the transformer needs a fixed sequence length. Received: seq_len=None")

    if not tokens:
        x = keras.layers.Dense(embed_dim, name="projection")(x)
    x = PositionalEmbedding(
        seq_len,
        embed_dim,
        vocab_size=vocab_size,
        positions=positions,
        mask_zero=mask_zero,
        name="positional_embedding",
    )(x)
    if pooling == "cls":
        x = ClassToken(name="cls_token")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(1, num_layers + 1):
        x = TransformerBlock(
            embed_dim,
            num_heads,
            ff_dim,
            dropout=dropout,
            attention_name=f"block{i}_attention",
            name=f"block{i}",
        )(x)
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    elif pooling == "cls":
        x = keras.layers.Identity(name="pool")(x[:, 0, :])
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    out = c.output_head(x, outputs, output_activation)
    return keras.Model(inputs, out, name=name)


def attention_model(model: keras.Model) -> keras.Model:
    """A model with ``model``'s inputs whose outputs are the attention scores of every block.

    Output: a list (one per block, in order) of ``(batch, num_heads, seq, seq)`` float tensors
    (seq includes the [CLS] position with ``pooling="cls"``). Works on a loaded model too.
    """
    blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
    if not blocks:
        raise ValueError(f"model {model.name!r} has no TransformerBlock; was it built by build_transformer?")
    # Re-call the blocks (shared weights) from the first block's input. The scores come from a thin
    # wrapper: Keras' functional graph check assumes a layer returns the same number of outputs at
    # every call, so a block must not return (x, scores) on a second call.
    x = blocks[0].input
    if isinstance(x, (list, tuple)):  # the block was called with (x, padding mask)
        x = x[0]
    scores = []
    for block in blocks:
        scores.append(_AttentionScores(block, name=f"{block.name}_scores")(x))
        x = block(x)
    return keras.Model(model.inputs, scores, name=f"{model.name}_attention")


class _AttentionScores(keras.layers.Layer):
    """Calls a TransformerBlock and returns only its attention scores (used by ``attention_model``)."""

    def __init__(self, block: TransformerBlock, **kwargs):
        super().__init__(**kwargs)
        self.block = block
        self.supports_masking = True

    def call(self, inputs, mask=None):
        return self.block(inputs, mask=mask, return_attention_scores=True)[1]

    def compute_mask(self, inputs, mask=None):
        return None
