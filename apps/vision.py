"""Vision: image classification. Fashion-MNIST by default; your own folder of class sub-folders with --data.

Models: ``cnn`` (default) and ``mlp`` — the course's comparison, same data and budget.
The exported model takes raw uint8 images (N, H, W, C); scaling and augmentation live inside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from tfdl.app import App, Codec
from tfdl.config import DataConfig, RunConfig
from tfdl.data.splits import DataInfo, Splits, carve_val, fingerprint, split_arrays


class VisionData(DataConfig):
    source: str = "fashion_mnist"
    image_size: int | None = Field(None, ge=8, le=512)  # None: 28 for Fashion-MNIST, 64 for a folder
    channels: int | None = Field(None, ge=1, le=3)  # None: 1 if every image is grayscale, else 3
    download: bool = False  # let TFDS download Fashion-MNIST (online users only)


class VisionConfig(RunConfig):
    data: VisionData = Field(default_factory=VisionData)


def load_data(cfg: VisionConfig) -> Splits:
    from tfdl.data import images

    d = cfg.data
    if d.path:
        x, y, labels, notes = images.load_image_folder(d.path, d.image_size or 64, d.channels)
        info = DataInfo(
            Path(d.path).name,
            f"image folder {Path(d.path).name}",
            fingerprint(x, y),
            labels,
            x.shape[1:],
            notes,
        )
        return split_arrays(
            x, y, info, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed
        )
    if d.source != "fashion_mnist":
        from tfdl.errors import TfdlError

        raise TfdlError(f"unknown data.source '{d.source}' for vision; use fashion_mnist or --data FOLDER")
    (xtr, ytr, xte, yte), where = images.load_fashion_mnist(d.download)
    info = DataInfo(
        "fashion_mnist", where, fingerprint(xtr, ytr, xte, yte), list(images.FASHION_LABELS), xtr.shape[1:]
    )
    # Fashion-MNIST has an official test split: keep it; carve val from train.
    return carve_val(xtr, ytr, xte, yte, info, val_fraction=d.val_fraction, seed=d.seed)


def _inputs_and_scaling(splits: Splits, cfg: RunConfig):
    import keras

    from tfdl.data.augment import augmentation

    inputs = keras.Input(splits.info.input_shape, dtype="uint8", name="image")
    aug = augmentation(cfg.augment, seed=cfg.train.seed)

    def preprocess(t):
        t = keras.layers.Rescaling(1.0 / 255, name="rescale")(t)
        return aug(t) if aug is not None else t

    return inputs, preprocess


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


def _read(path: Path, meta: dict) -> np.ndarray:
    from tfdl.data.images import read_images

    shape = meta["signature"]["inputs"]["shape"]
    x, _ = read_images(path, shape[1], shape[3])
    return x


def _describe(row: np.ndarray, meta: dict) -> dict:
    labels = meta.get("labels") or [str(i) for i in range(len(row))]
    k = int(np.argmax(row))
    return {
        "label": labels[k],
        "confidence": float(row[k]),
        "scores": {lab: float(p) for lab, p in zip(labels, row)},
    }


APP = App(
    name="vision",
    task="classification",
    summary="image classification (CNN vs MLP); your own folder of class sub-folders with --data",
    default_data="Fashion-MNIST 60k+10k 28x28 (Debian package dataset-fashion-mnist)",
    load_data=load_data,
    models={"cnn": build_cnn, "mlp": build_mlp},
    default_model="cnn",
    baselines={"logistic_regression": logistic_regression},
    config_class=VisionConfig,
    codec=Codec(read=_read, describe=_describe),
    defaults={"train.epochs": 15, "train.batch_size": 128},
)
