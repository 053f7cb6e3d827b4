"""Transfer learning: reuse a trained base, freeze by rule, discriminative learning rates, gradual unfreezing.

A base is either a previous tfdl run's ``model.keras`` (cut between its input preprocessing and its
classifier) or a ``keras.applications`` network with ImageNet weights (online users only).
The new model takes raw uint8 images; colour (grayscale <-> RGB) and size adaptation live inside it.

Fine-tuning modes (``finetune``):
- ``feature_extraction``: the whole base is frozen; only the new head trains.
- ``partial``: the early half of the base's stages (groups of layers at one spatial resolution) is frozen.
- ``full``: everything trains.
- ``gradual``: starts as feature extraction and unfreezes one stage per ``unfreeze_every`` epochs, from
  the top (Howard & Ruder, "Universal Language Model Fine-tuning", 2018).
Trainable base stages get discriminative learning rates: the earliest ``learning_rate * base_lr_factor``,
rising geometrically towards the head's ``learning_rate``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from tfdl.errors import TfdlError

FINETUNE_MODES = ("feature_extraction", "partial", "full", "gradual")
# name -> (keras.applications constructor, how to map [0, 1] pixels to what its ImageNet weights expect)
APPLICATIONS = {
    "mobilenetv2": ("MobileNetV2", "tf"),  # [-1, 1]
    "efficientnetb0": ("EfficientNetB0", "raw"),  # 0..255, normalisation inside the network
    "resnet50": ("ResNet50", "caffe"),  # BGR, ImageNet mean subtracted, 0..255
}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def load_base(spec: str, *, image_size: int = 96) -> tuple[keras.Model, str]:
    """The base network for ``model.base=spec``; returns (base, input convention).

    ``spec`` is a ``.keras`` file written by tfdl (a previous run's ``model.keras``) -> the base takes
    [0, 1] float pixels (convention ``"unit"``); or an application name (MobileNetV2, EfficientNetB0,
    ResNet50; case and ``_`` ignored) -> ImageNet weights, input (image_size, image_size, 3).
    Shapes: base input (H, W, C) float; output (N, features) or (N, h, w, features).
    """
    path = Path(spec)
    if path.suffix == ".keras" or path.is_file():
        if not path.is_file():
            raise TfdlError(f"model.base file not found: '{spec}' (give a previous run's model.keras)")
        import tfdl.models  # noqa: F401  (registers tfdl's custom layers before loading)

        try:
            trained = keras.models.load_model(path, compile=False, safe_mode=True)
        except (ValueError, OSError) as exc:
            raise TfdlError(
                f"could not load model.base '{spec}' as a Keras model: {str(exc)[:160]}"
            ) from None
        return feature_extractor(trained), "unit"
    key = re.sub(r"[-_ ]", "", spec.lower())
    if key not in APPLICATIONS:
        raise TfdlError(
            f"model.base expects a .keras file of a previous run or one of MobileNetV2, EfficientNetB0, "
            f"ResNet50; got '{spec}'"
        )
    ctor, convention = APPLICATIONS[key]
    if image_size < 32:
        raise TfdlError(f"{ctor} needs model.image_size >= 32; got {image_size}")
    try:
        base = getattr(keras.applications, ctor)(
            include_top=False, weights="imagenet", input_shape=(image_size, image_size, 3)
        )
    except Exception as exc:  # noqa: BLE001  (keras raises a bare Exception on a failed download)
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise TfdlError(
            f"could not download the ImageNet weights of {ctor} ({first}); offline, pretrain with tfdl and "
            "pass that run's model.keras: --set model.base=runs/vision/<run>/model.keras"
        ) from None
    return base, convention


def feature_extractor(model: keras.Model) -> keras.Model:
    """Cut a trained tfdl classifier into its body: from the first layer with weights (after the raw-input
    scaling and augmentation) to the input of its output layer (dropout skipped). Named ``base``."""
    first = next((layer for layer in model.layers if layer.weights), None)
    last = model.layers[-1]
    if first is None or first is last:
        raise TfdlError(f"model.base '{model.name}' has no hidden layers to reuse; train a cnn or mlp first")
    start = first.input
    end = last.input
    while isinstance(getattr(end, "_keras_history", [None])[0], keras.layers.Dropout):
        end = end._keras_history[0].input
    return keras.Model(start, end, name="base")


def layer_groups(base: keras.Model) -> list[list[keras.layers.Layer]]:
    """The base's layers with weights, grouped into stages: a new stage starts where the spatial
    resolution changes (a pooling or strided layer) or the features become flat. Bottom stage first."""
    groups: list[list[keras.layers.Layer]] = [[]]
    res: Any = None
    for layer in base.layers:
        try:
            shape = layer.output.shape
            key = shape[1] if len(shape) == 4 else "flat"
        except (AttributeError, ValueError):
            key = res
        if res is not None and key != res and groups[-1]:
            groups.append([])
        res = key
        if layer.weights:
            groups[-1].append(layer)
    return [g for g in groups if g]


def set_finetune(base: keras.Model, mode: str, unfrozen_top: int | None = None) -> list[bool]:
    """Apply a fine-tuning mode's freezing rule to ``base``; returns per-stage trainable flags.

    ``unfrozen_top`` (gradual mode): how many stages, counted from the top, are trainable.
    """
    if mode not in FINETUNE_MODES:
        raise TfdlError(f"finetune expects one of {', '.join(FINETUNE_MODES)}; got '{mode}'")
    groups = layer_groups(base)
    n = len(groups)
    if mode == "full":
        frozen = 0
    elif mode == "partial":
        frozen = max(1, n // 2)
    elif mode == "gradual":
        frozen = n - min(n, unfrozen_top or 0)
    else:
        frozen = n
    base.trainable = frozen < n
    for i, group in enumerate(groups):
        for layer in group:
            layer.trainable = i >= frozen
    return [i >= frozen for i in range(n)]


def _adapt(x, in_channels: int, base_shape: Sequence[int | None], convention: str):
    """[0, 1] pixels (N, H, W, C) -> what the base expects: its channels, its size, its value range."""
    want = base_shape[-1]
    if in_channels == 1 and want == 3:
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    elif in_channels == 3 and want == 1:
        # ITU-R 601 luma, a fixed (frozen) 1x1 projection
        x = keras.layers.Dense(
            1,
            use_bias=False,
            trainable=False,
            name="rgb_to_gray",
            kernel_initializer=keras.initializers.Constant([[0.299], [0.587], [0.114]]),
        )(x)
    elif in_channels != want:
        raise TfdlError(f"cannot adapt {in_channels}-channel images to a {want}-channel base")
    h, w = base_shape[0], base_shape[1]
    if h is not None and w is not None and (x.shape[1], x.shape[2]) != (h, w):
        x = keras.layers.Resizing(int(h), int(w), name="resize")(x)
    if convention == "tf":
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(x)
    elif convention == "raw":
        x = keras.layers.Rescaling(255.0, name="to_0_255")(x)
    elif convention == "caffe":
        # RGB -> BGR and mean subtraction as one frozen per-pixel linear map
        perm = [[0.0, 0.0, 255.0], [0.0, 255.0, 0.0], [255.0, 0.0, 0.0]]
        x = keras.layers.Dense(
            3,
            trainable=False,
            name="caffe_bgr",
            kernel_initializer=keras.initializers.Constant(perm),
            bias_initializer=keras.initializers.Constant([-m for m in _CAFFE_MEAN_BGR]),
        )(x)
    return x


def build_transfer_model(
    base: keras.Model,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    convention: str = "unit",
    finetune: str = "feature_extraction",
    dropout: float = 0.2,
    dense_units: int = 0,
    augment: Any = None,
    name: str = "transfer",
) -> keras.Model:
    """A classifier on a reused base: raw uint8 (N, H, W, C) -> softmax (N, num_classes).

    Layers: Rescaling(1/255) -> augmentation -> colour/size adaptation -> base (always called with
    ``training=False``, so its BatchNorm keeps the pretrained statistics even when unfrozen; Keras'
    fine-tuning advice) -> global average pooling (if spatial) -> [Dense] -> Dropout -> predictions.
    """
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) == 2:
        input_shape = (*input_shape, 1)
    base._name = "base"  # a fixed name: the optimizer and unfreezing hooks find it with get_layer
    set_finetune(base, finetune)
    inputs = keras.Input(input_shape, dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augment is not None:
        x = augment(x)
    x = _adapt(x, input_shape[-1], tuple(base.inputs[0].shape[1:]), convention)
    x = base(x, training=False)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="head_fc")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, out, name=name)


def discriminative_optimizer(
    model: keras.Model, train_cfg, steps_per_epoch: int, base_lr_factor: float = 0.1
):
    """A ``keras.optimizers.MultiOptimizer``: the head at ``train_cfg.learning_rate``, base stage i of n
    (bottom first) at ``learning_rate * base_lr_factor ** ((n - i) / n)``. Every variable that may ever
    train is mapped, but Keras builds it on the trainable ones (gradual unfreezing replaces it)."""
    from tfdl.training.optimizers import build_optimizer

    if not 0 < base_lr_factor <= 1:
        raise TfdlError(f"model.base_lr_factor expects a number in (0, 1]; got {base_lr_factor}")
    base = model.get_layer("base")
    groups = layer_groups(base)
    n = len(groups)
    head = build_optimizer(train_cfg, steps_per_epoch)
    mapping = keras.optimizers.OptimizerMap(head)
    for i, group in enumerate(groups):
        lr = train_cfg.learning_rate * base_lr_factor ** ((n - i) / n)
        opt = build_optimizer(train_cfg.model_copy(update={"learning_rate": lr}), steps_per_epoch)
        for layer in group:
            for v in layer.trainable_variables if layer.trainable else _all_trainable(layer):
                mapping[re.escape(v.path)] = opt
    optimizer = keras.optimizers.MultiOptimizer(mapping)
    return optimizer


def _all_trainable(layer) -> list:
    """Variables that are trainable once ``layer`` is unfrozen (BatchNorm's moving stats never are)."""
    flag = layer.trainable
    layer.trainable = True
    out = list(layer.trainable_variables)
    layer.trainable = flag
    return out


class GradualUnfreezing(keras.callbacks.Callback):
    """At the start of epoch e, the top ``e // every`` base stages are trainable (the rest frozen)."""

    def __init__(self, every: int = 1, factory=None):
        """``factory(model) -> optimizer`` makes the optimizer for the newly unfrozen set of variables."""
        super().__init__()
        self.factory = factory
        if every < 1:
            raise TfdlError(f"model.unfreeze_every expects an integer >= 1; got {every}")
        self.every = every
        self.unfrozen: int | None = None
        self.log: list[tuple[int, int]] = []  # (epoch, stages unfrozen), one row per change

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        k = epoch // self.every
        if k == self.unfrozen:
            return
        set_finetune(self.model.get_layer("base"), "gradual", unfrozen_top=k)
        self.unfrozen = k
        self.log.append((epoch, k))
        if epoch == 0 or self.factory is None:
            return
        # A Keras optimizer only updates the variables it was built on, and the compiled step captured the
        # old trainable list: a fresh optimizer for the new set, and the step traced again.
        self.model.optimizer = self.factory(self.model)
        self.model.optimizer.build(self.model.trainable_variables)
        self.model.make_train_function(force=True)
