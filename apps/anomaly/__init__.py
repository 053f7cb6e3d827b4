"""Anomaly: autoencoders that learn "normal" and flag what they cannot reconstruct.

Data: river's Shuttle by default (49,097 x 9, 7.2% anomalies); ``data.source=fashion_mnist_oneclass``
with ``data.normal_class=N`` (one class is normal, the others are anomalies); ``data.source=fashion_mnist``
(every class normal: the representation study, best with ``model.latent_dim=2``); or ``--data rows.csv``
(numeric columns, optional ``data.label_column`` of 0/1).

Models: ``dense_ae`` (default), ``conv_ae`` (images), ``vae``; ``model.denoising_std`` adds training-only
input noise. Scaling lives inside the model (``scale_input``: Normalization adapted on the normal training
rows, or /255 for images). The anomaly score of a row (:mod:`apps.anomaly.scoring`): by default its
mean distance to the 10 nearest training normals (in the model's scaling); its reconstruction error, the
distance of its code to the training normals' codes, or both combined replace it only when clearly
better on validation (images: the reconstruction error). The model trains on normal training rows only;
the threshold is chosen on the validation split (``data.threshold_rule``: ``f1`` = best validation F1, ``fpr``
= at most ``data.fpr_budget`` of the validation normals flagged) and never sees the test split.
Baselines: PCA reconstruction error with the same latent size, and IsolationForest, thresholded by the
same rule on the same validation split.
The exported model returns per row ``[score, threshold, is_anomaly]``.

Sections: ``scoring.py`` (the scores and their choice on validation), ``baselines.py`` (the model's scaling
in NumPy, the threshold rule, PCA and IsolationForest), ``report.py`` (the report sections); the config,
data, models and the App are here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from apps.anomaly import scoring as S

# The model's own scaling in NumPy (the reconstruction target), the threshold rule and the baselines
# (baselines.py), the score and its choice on validation (scoring.py), the report (report.py).
from apps.anomaly.baselines import isolation_forest, pca_reconstruction, pick_threshold, scale
from apps.anomaly.report import report, representation_summary
from tfdl.app import App, Codec, hooks
from tfdl.config import DataConfig, RunConfig
from tfdl.data.splits import Splits
from tfdl.errors import TfdlError

SOURCES = ("shuttle", "fashion_mnist_oneclass", "fashion_mnist")


class AnomalyData(DataConfig):
    source: str = "shuttle"  # shuttle | fashion_mnist_oneclass | fashion_mnist (ignored with --data)
    normal_class: int = Field(0, ge=0, le=9)  # fashion_mnist_oneclass: the class that is normal
    label_column: str | None = (
        None  # --data CSV: column of 0 (normal) / 1 (anomaly), used for evaluation only
    )
    threshold_rule: Literal["f1", "fpr"] = "f1"  # chosen on validation: best F1, or a false-positive budget
    fpr_budget: float = Field(
        0.01, ge=0, lt=1
    )  # rule fpr: share of validation normals allowed above threshold
    download: bool = False  # let TFDS download Fashion-MNIST (online users only)


class AnomalyConfig(RunConfig):
    data: AnomalyData = Field(default_factory=AnomalyData)


# ----------------------------------------------------------------------------------------------- data


def load_data(cfg: AnomalyConfig) -> Splits:
    from tfdl.data import anomaly as A

    d = cfg.data
    if d.path:
        splits = A.csv_splits(
            d.path, d.label_column, d.val_fraction, d.test_fraction, d.seed, d.folds, d.fold
        )
    elif d.source == "shuttle":
        splits = A.shuttle_splits(d.val_fraction, d.test_fraction, d.seed)
    elif d.source == "fashion_mnist_oneclass":
        splits = A.fashion_oneclass_splits(d.normal_class, d.val_fraction, d.seed, d.download)
    elif d.source == "fashion_mnist":
        splits = A.fashion_all_splits(d.val_fraction, d.seed, d.download)
    else:
        raise TfdlError(
            f"unknown data.source '{d.source}' for anomaly; use one of {', '.join(SOURCES)} or --data X.csv"
        )
    extra = splits.info.extra
    image = len(splits.info.input_shape) == 3
    extra.update(image=image, threshold_rule=d.threshold_rule, fpr_budget=d.fpr_budget, seed=d.seed)
    latent = cfg.model.params().get("latent_dim")
    extra["latent_dim"] = latent or default_latent(splits.info.input_shape, image)
    if image:
        splits.info.preprocessing = {
            "scaling": "x / 255 inside the model",
            "input": "uint8 images (N, 28, 28, 1)",
        }
    else:
        mean, var = A.feature_stats(splits.x_train)
        extra.update(mean=mean, var=var)
        splits.info.preprocessing = {
            "scaling": "Normalization inside the model (normal training rows)",
            "columns": extra.get("columns", []),
        }
    return splits


def default_latent(shape, image: bool) -> int:
    """32 for images; 4 for rows, but below the number of columns (a code as wide as the row can copy it,
    and then every reconstruction error is noise: the 3-column credit set of the suite)."""
    if image:
        return 32
    return max(1, min(4, int(np.prod(shape)) - 1))


def targets(splits: Splits) -> tuple[np.ndarray, np.ndarray]:
    """An autoencoder's target is its own (scaled) input."""
    return scale(splits.x_train, splits.info), scale(splits.x_val, splits.info)


# ------------------------------------------------------------------------ scores (the models' own hooks)
# The score (reconstruction error, code distance, or both) and its choice on validation: scoring.py.

predict, serving_model = S.predict, S.serving_model


# The three autoencoders fit on their own scaled input, are evaluated on their chosen score and
# export as that score (the anomaly task then adds the threshold and the flag).
AUTOENCODER = dict(targets=targets, predict=predict, serving_model=serving_model, search_space="autoencoder")


# --------------------------------------------------------------------------------------------- models


def _build(splits: Splits, cfg: RunConfig, *, latent_dim, hidden, denoising_std, **kw):
    import keras

    from tfdl.models import build_autoencoder

    info = splits.info
    if info.extra["image"]:
        inputs = keras.Input(info.input_shape, dtype="uint8", name="image")
        layer = keras.layers.Rescaling(1.0 / 255, name="scale_input")
        default_hidden, act = (256, 128), "sigmoid"
    else:
        inputs = keras.Input(info.input_shape, dtype="float32", name="row")
        layer = keras.layers.Normalization(
            mean=info.extra["mean"], variance=info.extra["var"], name="scale_input"
        )
        default_hidden, act = (64, 32), "linear"
    try:
        return build_autoencoder(
            info.input_shape,
            latent_dim=int(latent_dim or info.extra["latent_dim"]),
            hidden=tuple(hidden) if hidden is not None else default_hidden,
            denoising_std=float(denoising_std),
            output_activation=act,
            seed=cfg.train.seed,
            inputs=inputs,
            preprocess=layer,
            **kw,
        )
    except ValueError as exc:
        raise TfdlError(f"bad model settings for {cfg.model.name}: {exc}") from None


@hooks(**AUTOENCODER)
def dense_ae(
    splits: Splits,
    cfg: RunConfig,
    *,
    latent_dim: int | None = None,
    hidden=None,
    dropout: float = 0.0,
    denoising_std: float = 0.0,
):
    """Dense autoencoder; latent_dim default min(4, columns - 1) (rows) / 32 (images); hidden (64, 32) /
    (256, 128)."""
    return _build(
        splits, cfg, latent_dim=latent_dim, hidden=hidden, denoising_std=denoising_std, dropout=dropout
    )


@hooks(**AUTOENCODER)
def conv_ae(
    splits: Splits,
    cfg: RunConfig,
    *,
    latent_dim: int | None = None,
    hidden=(128,),
    filters=(32, 64),
    denoising_std: float = 0.0,
):
    """Convolutional autoencoder for images (two stride-2 stages: 28 -> 14 -> 7)."""
    if not splits.info.extra["image"]:
        raise TfdlError(
            "model conv_ae needs images (data.source=fashion_mnist_oneclass); use dense_ae or vae for rows"
        )
    return _build(
        splits,
        cfg,
        latent_dim=latent_dim,
        hidden=hidden,
        denoising_std=denoising_std,
        conv=True,
        filters=tuple(filters),
    )


@hooks(**AUTOENCODER)
def vae(
    splits: Splits,
    cfg: RunConfig,
    *,
    latent_dim: int | None = None,
    hidden=None,
    kl_weight: float = 1.0,
    conv: bool = False,
    denoising_std: float = 0.0,
):
    """Variational autoencoder: loss = MSE + kl_weight * KL / values per example (Kingma & Welling, 2013)."""
    if conv and not splits.info.extra["image"]:
        raise TfdlError("model.conv=true needs images; drop it for rows")
    return _build(
        splits,
        cfg,
        latent_dim=latent_dim,
        hidden=hidden,
        denoising_std=denoising_std,
        variational=True,
        kl_weight=float(kl_weight),
        conv=bool(conv),
    )


# ------------------------------------------------------------------------------------ after training


def fit_state(model, splits: Splits, cfg: RunConfig) -> dict:
    """The score (:func:`scoring.fit_scores`) and the threshold, both chosen on validation (never
    test), with threshold.json and the model card's record of both. No plots: `tfdl export` runs this
    again."""
    state = S.fit_scores(model, splits)
    val_scores = predict(model, splits.x_val)
    thr, why = pick_threshold(splits.y_val, val_scores, splits.info)
    record = {"threshold": thr, "rule": why, **S.summary(state)}
    return {
        "threshold": thr,
        "assets": {"threshold.json": json.dumps(record, indent=2)},
        "preprocessing": {**(splits.info.preprocessing or {}), **record},
    }


# -------------------------------------------------------------------------------------------- serving


def _read(path: Path, meta: dict) -> tuple[np.ndarray, dict]:
    shape = meta["signature"]["inputs"]["shape"]
    if len(shape) == 4:
        from tfdl.data.images import read_images

        x, _ = read_images(path, shape[1], shape[3])
        return x, {}
    from tfdl.data.anomaly import read_rows

    columns = (meta.get("preprocessing") or {}).get("columns") or [f"column {i + 1}" for i in range(shape[1])]
    x, _, _ = read_rows(path, None, columns)
    return x, {}


def _describe(row: np.ndarray, meta: dict, context: dict | None = None) -> dict:
    return {"score": float(row[0]), "threshold": float(row[1]), "is_anomaly": bool(row[2] >= 0.5)}


APP = App(
    name="anomaly",
    task="anomaly",
    summary="autoencoder anomaly detection (dense/conv/VAE) vs PCA and IsolationForest; CSV rows with --data",
    default_data="river Shuttle 49,097 x 9, 7.2% anomalies (river package); Fashion-MNIST one-class",
    load_data=load_data,
    models={"dense_ae": dense_ae, "conv_ae": conv_ae, "vae": vae},
    default_model="dense_ae",
    baselines={"pca": pca_reconstruction, "isolation_forest": isolation_forest},
    config_class=AnomalyConfig,
    codec=Codec(read=_read, describe=_describe),
    fit_state=fit_state,
    report=report,
    analyses={"representation": representation_summary},
    # float32: the scores are small differences of reconstructions (bf16 keeps ~3 digits); early stopping
    # off: val_loss includes the validation anomalies, which the model should NOT learn to reconstruct.
    defaults={
        "train.epochs": 30,
        "train.batch_size": 256,
        "train.precision": "float32",
        "train.early_stopping_patience": 0,
    },
)
