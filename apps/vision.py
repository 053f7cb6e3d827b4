"""Vision: image classification. Fashion-MNIST by default; your own folder of class sub-folders with --data.

Models: ``resnet`` (default: a small residual net with flip augmentation and flip test-time augmentation on
Fashion-MNIST), ``cnn`` (the previous default) and ``mlp`` — the course's comparison — and ``transfer``:
a reused base (``--set model.base=runs/vision/<run>/model.keras`` or MobileNetV2/EfficientNetB0/ResNet50
with ImageNet weights, online) fine-tuned by ``--set finetune=feature_extraction|partial|full|gradual``.
Explanations: ``tfdl explain vision --method gradcam|gradcam++|saliency``; the report shows the top-loss
test images with their Grad-CAM maps and the most confused class pairs.
The exported model takes raw uint8 images (N, H, W, C); scaling, augmentation (training only) and the
test-time flip (inference only) live inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from tfdl.app import App, Codec, describe_class_scores, forwards, hooks
from tfdl.config import DataConfig, RunConfig
from tfdl.data.splits import DataInfo, Splits, carve_val, fingerprint, split_arrays


class VisionData(DataConfig):
    source: str = "fashion_mnist"
    # None: 28 for Fashion-MNIST; a folder keeps its images' size when all share one <= 64x64, else 64
    image_size: int | None = Field(None, ge=8, le=512)
    channels: int | None = Field(None, ge=1, le=3)  # None: 1 if every image is grayscale, else 3
    download: bool = False  # let TFDS download Fashion-MNIST (online users only)


class VisionConfig(RunConfig):
    data: VisionData = Field(default_factory=VisionData)
    # transfer model only: which base weights train (see tfdl.transfer)
    finetune: Literal["feature_extraction", "partial", "full", "gradual"] = "feature_extraction"

    @model_validator(mode="after")
    def _base_means_transfer(self):
        # `--set model.base=...` alone selects the transfer model (the command has no --model)
        if self.model.name is None and self.model.params().get("base") is not None:
            self.model.name = "transfer"
        return self


def load_data(cfg: VisionConfig) -> Splits:
    from tfdl.data import images

    d = cfg.data
    if d.path:
        x, y, labels, notes = images.load_image_folder(d.path, d.image_size, d.channels)
        info = DataInfo(
            Path(d.path).name,
            f"image folder {Path(d.path).name}",
            fingerprint(x, y),
            labels,
            x.shape[1:],
            notes,
        )
        return split_arrays(x, y, info, **d.split_args())
    if d.source != "fashion_mnist":
        from tfdl.errors import TfdlError

        raise TfdlError(f"unknown data.source '{d.source}' for vision; use fashion_mnist or --data FOLDER")
    (xtr, ytr, xte, yte), where = images.load_fashion_mnist(d.download)
    info = DataInfo(
        "fashion_mnist", where, fingerprint(xtr, ytr, xte, yte), list(images.FASHION_LABELS), xtr.shape[1:]
    )
    # Fashion-MNIST has an official test split: keep it; carve val from train.
    return carve_val(xtr, ytr, xte, yte, info, val_fraction=d.val_fraction, seed=d.seed)


def _inputs_and_scaling(splits: Splits, cfg: RunConfig, *, flip: bool = False):
    """The uint8 image input and ``preprocess`` (scale to [0, 1], then ``cfg.augment``; ``flip``: at least
    the random horizontal flip when ``augment`` is none)."""
    import keras

    from tfdl.data.augment import augmentation

    inputs = keras.Input(splits.info.input_shape, dtype="uint8", name="image")
    level = "flip" if flip and cfg.augment == "none" else cfg.augment
    aug = augmentation(level, seed=cfg.train.seed)

    def preprocess(t):
        t = keras.layers.Rescaling(1.0 / 255, name="rescale")(t)
        return aug(t) if aug is not None else t

    return inputs, preprocess


@forwards("tfdl.models:build_cnn", "inputs", "preprocess")
def build_cnn(splits: Splits, cfg: RunConfig, *, filters=(32, 64), dropout=0.3, dense_units=128, **kw):
    from tfdl.models import build_cnn as factory

    inputs, preprocess = _inputs_and_scaling(splits, cfg)
    return factory(
        splits.info.input_shape,
        splits.info.num_classes,
        filters=tuple(filters),
        dropout=dropout,
        dense_units=dense_units,
        inputs=inputs,
        preprocess=preprocess,
        **kw,
    )


def _smoothed_loss(cfg: RunConfig, splits: Splits):
    """Cross-entropy with ``model.label_smoothing`` (the resnet builder's own key)."""
    from tfdl.models import SparseSmoothedCrossentropy

    eps = float(cfg.model.params().get("label_smoothing", RESNET_LABEL_SMOOTHING))
    if eps == 0:
        import keras

        return keras.losses.SparseCategoricalCrossentropy()
    return SparseSmoothedCrossentropy(eps)


RESNET_LABEL_SMOOTHING = 0.1


# The fast default (issue 15), chosen on the validation split (BENCHMARKS.md, "Vision default recipe" and
# "Vision default, session 6"): weight decay and dropout tied the best validation accuracy with a smaller
# train-validation gap; pooling before stage 2's convolution (a quarter of its FLOPs) plus the fused
# BatchNorm kernel make an epoch ~40 % cheaper, spent on 16 epochs instead of 12 (best validation accuracy
# of the budgets tried); 16 steps per tf.function call cut the per-step Python overhead.
@hooks(loss=_smoothed_loss,
       defaults={"model.pooling": "flatten", "model.dropout": 0.2, "model.downsample": "pool_conv",
                 "train.epochs": 16, "train.batch_size": 128, "train.learning_rate": 0.002,
                 "train.warmup_epochs": 0.5, "train.weight_decay": 0.05,
                 "train.steps_per_execution": 16})  # fmt: skip
@forwards("tfdl.models:build_resnet", "inputs", "preprocess")
def build_resnet(
    splits: Splits,
    cfg: RunConfig,
    *,
    filters=(32, 64),
    mirror: bool | None = None,
    label_smoothing: float = RESNET_LABEL_SMOOTHING,
    **kw,
):
    """``mirror``: the classes look the same mirrored left-right, so training flips images at random
    (when ``augment`` is none) and the model averages each image with its mirror at inference
    (``flip_tta``). None = yes for Fashion-MNIST (garments), no for your own folder (digits and text are
    not mirror-symmetric). ``label_smoothing`` is read by the loss hook above; the rest goes to
    tfdl.models.build_resnet."""
    from tfdl.models import build_resnet as factory

    if mirror is None:
        mirror = not cfg.data.path and cfg.data.source == "fashion_mnist"
    inputs, preprocess = _inputs_and_scaling(splits, cfg, flip=bool(mirror))
    kw.setdefault("flip_tta", bool(mirror))
    return factory(
        splits.info.input_shape,
        splits.info.num_classes,
        filters=tuple(filters),
        inputs=inputs,
        preprocess=preprocess,
        **kw,
    )


@forwards("tfdl.models:build_mlp", "inputs", "preprocess")
def build_mlp(splits: Splits, cfg: RunConfig, *, units=(256, 128), dropout=0.2, **kw):
    from tfdl.models import build_mlp as factory

    inputs, preprocess = _inputs_and_scaling(splits, cfg)
    return factory(
        splits.info.input_shape,
        splits.info.num_classes,
        units=tuple(units),
        dropout=dropout,
        inputs=inputs,
        preprocess=preprocess,
        **kw,
    )


def _has_base(model) -> bool:
    return any(layer.name == "base" for layer in model.layers)


def _optimizer(model, cfg: RunConfig, steps_per_epoch: int):
    """Discriminative learning rates when (part of) a reused base trains; else the config's optimizer."""
    if not _has_base(model) or getattr(cfg, "finetune", "") == "feature_extraction":
        return None
    from tfdl.transfer import discriminative_optimizer

    factor = cfg.model.params().get("base_lr_factor", 0.1)
    return discriminative_optimizer(model, cfg.train, steps_per_epoch, factor)


def _callbacks(model, cfg: RunConfig, steps_per_epoch: int) -> list:
    if not _has_base(model) or getattr(cfg, "finetune", "") != "gradual":
        return []
    from tfdl.transfer import GradualUnfreezing, discriminative_optimizer

    factor = cfg.model.params().get("base_lr_factor", 0.1)
    every = int(cfg.model.params().get("unfreeze_every", 1))
    return [
        GradualUnfreezing(every, lambda m: discriminative_optimizer(m, cfg.train, steps_per_epoch, factor))
    ]


@hooks(optimizer=_optimizer, callbacks=_callbacks)
def build_transfer(
    splits: Splits,
    cfg: RunConfig,
    *,
    base: str | None = None,
    image_size: int = 96,
    base_lr_factor: float = 0.1,
    unfreeze_every: int = 1,
    dropout: float = 0.2,
    dense_units: int = 0,
):
    """A reused base + new head; ``image_size`` is the input size of a keras.applications base.
    ``base_lr_factor`` and ``unfreeze_every`` are read by the optimizer and callback hooks below."""
    from tfdl.data.augment import augmentation
    from tfdl.errors import TfdlError
    from tfdl.transfer import build_transfer_model, load_base

    if base is None:
        raise TfdlError(
            "model transfer needs a base: --set model.base=runs/vision/<run>/model.keras "
            "(or MobileNetV2 / EfficientNetB0 / ResNet50 online)"
        )
    net, convention = load_base(str(base), image_size=image_size)
    return build_transfer_model(
        net,
        splits.info.input_shape,
        splits.info.num_classes,
        convention=convention,
        finetune=getattr(cfg, "finetune", "feature_extraction"),
        dropout=dropout,
        dense_units=dense_units,
        augment=augmentation(cfg.augment, seed=cfg.train.seed),
    )


def _report(model, splits: Splits, metrics: dict, preds: dict, run_dir: Path) -> tuple[list, list]:
    from tfdl.explain.vision import report_extras

    return [], report_extras(model, splits, preds, run_dir) or []


def _explainer(method: str):
    def explain(model, cfg, run_dir, input_path=None, target=None) -> list[Path]:
        from tfdl.explain.vision import EXPLAINERS

        return EXPLAINERS[method](model, cfg, run_dir, input_path=input_path, target=target)

    explain.__name__ = method.replace("+", "p")
    return explain


def logistic_regression(splits: Splits) -> np.ndarray:
    """Logistic regression on raw pixels (/255), fitted on at most 20,000 training images (time budget)."""
    from tfdl.evaluation.baselines import logistic_regression as lr

    n = min(20_000, len(splits.x_train))
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(splits.x_train), n, replace=False))
    x = lambda a: a.reshape(len(a), -1).astype(np.float32) / 255.0  # noqa: E731
    # C=0.05 measured best on Fashion-MNIST (0.837 vs 0.815 at C=1).
    return lr(
        x(splits.x_train[idx]),
        splits.y_train[idx],
        x(splits.x_test),
        C=0.05,
        num_classes=len(splits.info.labels),
    )


def _read(path: Path, meta: dict) -> tuple[np.ndarray, dict]:
    from tfdl.data.images import read_images

    shape = meta["signature"]["inputs"]["shape"]
    x, _ = read_images(path, (shape[1], shape[2]), shape[3])
    return x, {}


APP = App(
    name="vision",
    task="classification",
    summary="image classification (CNN vs MLP); your own folder of class sub-folders with --data",
    default_data="Fashion-MNIST 60k+10k 28x28 (Debian package dataset-fashion-mnist)",
    load_data=load_data,
    models={"resnet": build_resnet, "cnn": build_cnn, "mlp": build_mlp, "transfer": build_transfer},
    default_model="resnet",
    baselines={"logistic_regression": logistic_regression},
    config_class=VisionConfig,
    explainers={m: _explainer(m) for m in ("gradcam", "gradcam++", "saliency")},
    codec=Codec(read=_read, describe=describe_class_scores),
    report=_report,
    # min_steps: chosen on the validation split of a 2,000-image MNIST folder (BENCHMARKS.md)
    defaults={"train.epochs": 10, "train.batch_size": 128, "train.min_steps": 200},
)
