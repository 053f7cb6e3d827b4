"""Small residual convolutional network factory, sized for fast training on a CPU."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from tfdl.models import _common as c

SEARCH_SPACE = {
    "filters": ("choice", [(32, 64), (24, 48, 96), (32, 64, 128)]),
    "blocks_per_stage": ("choice", [1, 2]),
    "stem_stride": ("choice", [1, 2]),
    "pooling": ("choice", ["avg", "flatten"]),
    "dropout": ("float", 0.0, 0.3, "linear"),
}


def build_resnet(
    input_shape: Sequence[int | None] | None,
    num_classes: int,
    *,
    filters: Sequence[int] = (32, 64),
    blocks_per_stage: int = 1,
    stem_stride: int = 2,
    stem_pool: bool = False,
    downsample: str = "conv_pool",
    pooling: str = "avg",
    dropout: float = 0.0,
    l2: float = 0.0,
    flip_tta: bool = False,
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    output_activation: str | None = "softmax",
    inputs: Any = None,
    preprocess: Callable[[Any], Any] | None = None,
    name: str = "resnet",
) -> keras.Model:
    """A small residual image classifier that trains fast on a CPU.

    The idea: residual blocks of two 3x3 convolutions with an identity shortcut (He et al., "Deep Residual
    Learning for Image Recognition", 2015) with batch normalisation (Ioffe & Szegedy, 2015), made cheap the
    way fast small-image recipes do (Keller Jordan's airbench): the resolution is halved by the stem
    before any wide layer, the transition convolution is pooled *before* its BatchNorm (a quarter of the
    normalisation work), and the head is one linear layer on the pooled or flattened features.

    Stages: ``stem`` (Conv 3x3, stride ``stem_stride``, then a 2x2 max-pool with ``stem_pool``) then, for
    each entry of ``filters``, a transition convolution (stage 1: the stem itself; stage 2: Conv + MaxPool 2;
    later stages: Conv at the same resolution) followed by ``blocks_per_stage`` residual blocks. For 28x28
    inputs and the defaults: 28 -> 14 (stem) -> 7 (stage 2) -> global average pool.

    Shapes: input ``(batch, H, W, C)`` (or ``(batch, H, W)``: a channel axis is added) ->
    output ``(batch, num_classes)``.

    Layer names: ``stem_conv``; stage ``N`` (1-based) has ``stageN_conv`` (transition, N >= 2) and block
    ``M`` has ``stageN_blockM_conv1``, ``stageN_blockM_conv2`` and ``stageN_blockM_add``. The last
    convolution, the Grad-CAM target, is ``stage{len(filters)}_block{blocks_per_stage}_conv2``.

    Args:
        input_shape: ``(H, W, C)`` or ``(H, W)``. Ignored when ``inputs`` is given.
        num_classes: number of classes (output units).
        filters: channels of each stage, default ``(32, 64)``.
        blocks_per_stage: residual blocks per stage, default 1.
        stem_stride: stride of the stem convolution, default 2 (halves H and W first: the full-resolution
            layers cost the most memory traffic per FLOP on a CPU); 1 keeps the input resolution.
        stem_pool: 2x2 max-pool after the stem convolution, before its BatchNorm, default False. With
            ``stem_stride=1`` the stem sees every pixel and the body still starts at half resolution
            (airbench's conv -> pool -> BN order: the normalisation runs on a quarter of the positions).
        downsample: how stage 2 halves the resolution: ``"conv_pool"`` (default: its 3x3 convolution at the
            full resolution, then a 2x2 max-pool), ``"pool_conv"`` (pool first, so the convolution runs on a
            quarter of the positions: a quarter of its FLOPs) or ``"stride"`` (a stride-2 convolution,
            ResNet's own transition; same FLOPs as ``"pool_conv"``).
        pooling: head: ``"avg"`` (default: GlobalAveragePooling2D, any input size) or ``"flatten"`` (one
            weight per position and channel: learns faster in a short budget, fixed input size).
        dropout: dropout rate before the output layer, default 0.0.
        l2: L2 penalty on every kernel (convolutions and head), added to the loss (``l2 * sum(w**2)``),
            default 0 (none).
        flip_tta: flip test-time augmentation inside the model, default False: at inference the output is
            the mean of the outputs on the image and on its left-right mirror (layers ``tta_views`` and
            ``predictions``, a :class:`~tfdl.models.layers.MeanOfViews` over the head ``head``); training
            sees one view. Only for data whose classes are mirror-symmetric (garments, most photos).
        activation: hidden activation, default ``"relu"``.
        kernel_initializer: initializer of the convolutions, default ``"he_normal"``.
        output_activation: ``"softmax"`` (default), ``"sigmoid"`` (multi-label) or ``None``.
        inputs: a KerasTensor or dict of KerasTensors to use instead of ``keras.Input(input_shape)``.
        preprocess: callable ``inputs -> x`` applied before the body (e.g. ``Rescaling(1/255)``).
        name: model name, default ``"resnet"``.

    Returns:
        An uncompiled ``keras.Model``; the output layer is ``"predictions"`` (float32).
    """
    from tfdl.models.layers import FlipViews, FusedBatchNormalization, MeanOfViews

    c.check_positive_int("num_classes", num_classes)
    filters = c.check_int_tuple("filters", filters)
    c.check_positive_int("blocks_per_stage", blocks_per_stage, allow_zero=True)
    c.check_choice("stem_stride", stem_stride, (1, 2))
    c.check_choice("stem_pool", stem_pool, (False, True))
    c.check_choice("flip_tta", flip_tta, (False, True))
    c.check_choice("pooling", pooling, ("avg", "flatten"))
    c.check_choice("downsample", downsample, ("conv_pool", "pool_conv", "stride"))
    c.check_rate("dropout", dropout)
    c.check_l2(l2)
    c.check_output_activation(output_activation)

    inputs, x = c.resolve_inputs(input_shape, inputs, preprocess, min_rank=2)
    if len(x.shape) == 3:  # grayscale (H, W): add the channel axis
        x = keras.layers.Reshape((*x.shape[1:], 1), name="add_channel")(x)
    if len(x.shape) != 4:
        raise ValueError(f"build_resnet expects images (H, W[, C]). Received input shape: {x.shape[1:]}")
    if flip_tta:
        x = FlipViews(name="tta_views")(x)
    conv = dict(padding="same", use_bias=False, kernel_initializer=kernel_initializer,
                kernel_regularizer=c.l2_regularizer(l2))  # fmt: skip
    x = keras.layers.Conv2D(filters[0], 3, strides=stem_stride, name="stem_conv", **conv)(x)
    if stem_pool:
        x = keras.layers.MaxPooling2D(2, name="stem_pool")(x)
    x = FusedBatchNormalization(name="stem_bn")(x)
    x = keras.layers.Activation(activation, name="stem_act")(x)
    for i, f in enumerate(filters, start=1):
        if i > 1:
            halve = i == 2 and min((d for d in x.shape[1:3] if d is not None), default=4) >= 4
            if halve and downsample == "pool_conv":
                x = keras.layers.MaxPooling2D(2, name=f"stage{i}_pool")(x)
            stride = 2 if halve and downsample == "stride" else 1
            x = keras.layers.Conv2D(f, 3, strides=stride, name=f"stage{i}_conv", **conv)(x)
            if halve and downsample == "conv_pool":
                x = keras.layers.MaxPooling2D(2, name=f"stage{i}_pool")(x)
            x = FusedBatchNormalization(name=f"stage{i}_bn")(x)
            x = keras.layers.Activation(activation, name=f"stage{i}_act")(x)
        for j in range(1, blocks_per_stage + 1):
            x = _residual_block(x, f, f"stage{i}_block{j}", activation, conv)
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    if flip_tta:
        out = c.output_head(x, num_classes, output_activation, name="head", l2=l2)
        out = MeanOfViews(name="predictions", dtype="float32")(out)
    else:
        out = c.output_head(x, num_classes, output_activation, l2=l2)
    return keras.Model(inputs, out, name=name)


def _residual_block(x, f, prefix, activation, conv):
    from tfdl.models.layers import FusedBatchNormalization

    y = keras.layers.Conv2D(f, 3, name=f"{prefix}_conv1", **conv)(x)
    y = FusedBatchNormalization(name=f"{prefix}_bn1")(y)
    y = keras.layers.Activation(activation, name=f"{prefix}_act1")(y)
    y = keras.layers.Conv2D(f, 3, name=f"{prefix}_conv2", **conv)(y)
    y = FusedBatchNormalization(name=f"{prefix}_bn2")(y)
    y = keras.layers.Add(name=f"{prefix}_add")([x, y])
    return keras.layers.Activation(activation, name=f"{prefix}_out")(y)
