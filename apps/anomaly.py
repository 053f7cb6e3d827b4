"""Anomaly: autoencoders that learn "normal" and flag what they cannot reconstruct.

Data: river's Shuttle by default (49,097 x 9, 7.2% anomalies); ``data.source=fashion_mnist_oneclass``
with ``data.normal_class=N`` (one class is normal, the others are anomalies); ``data.source=fashion_mnist``
(every class normal: the representation study, best with ``model.latent_dim=2``); or ``--data rows.csv``
(numeric columns, optional ``data.label_column`` of 0/1).

Models: ``dense_ae`` (default), ``conv_ae`` (images), ``vae``; ``model.denoising_std`` adds training-only
input noise. Scaling lives inside the model (``scale_input``: Normalization adapted on the normal training
rows, or /255 for images). The anomaly score of a row is its mean squared reconstruction error in that
scaled space. The model trains on normal training rows only; the threshold is chosen on the validation
split (``data.threshold_rule``: ``f1`` = best validation F1, ``fpr`` = at most ``data.fpr_budget`` of the
validation normals flagged) and never sees the test split. Baselines: PCA reconstruction error with the same
latent size, and IsolationForest, thresholded by the same rule on the same validation split.
The exported model returns per row ``[score, threshold, is_anomaly]``.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

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
    extra["latent_dim"] = cfg.model.params().get("latent_dim") or (32 if image else 4)
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


def scale(x: Any, info) -> np.ndarray:
    """The model's own input scaling in NumPy (the reconstruction target): /255 or standardization."""
    if info.extra["image"]:
        return np.asarray(x, dtype=np.float32) / 255.0
    return ((np.asarray(x, np.float32) - info.extra["mean"]) / np.sqrt(info.extra["var"])).astype(np.float32)


def targets(splits: Splits) -> tuple[np.ndarray, np.ndarray]:
    """An autoencoder's target is its own (scaled) input."""
    return scale(splits.x_train, splits.info), scale(splits.x_val, splits.info)


# ------------------------------------------------------------------------ scores (the models' own hooks)


def score_model(model):
    """raw input -> (N,) anomaly score: mean squared error between the scaled input and its reconstruction."""
    import keras

    target = model.get_layer("scale_input").output
    err = keras.ops.square(keras.ops.cast(target, "float32") - model.output)
    score = keras.ops.mean(keras.ops.reshape(err, (-1, int(np.prod(err.shape[1:])))), axis=-1)
    return keras.Model(model.inputs, score, name="anomaly_score")


_SCORERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one scorer per model: no retracing


def predict(model, x) -> np.ndarray:
    """(N, ...) raw inputs -> (N,) float64 anomaly scores."""
    if model not in _SCORERS:
        _SCORERS[model] = score_model(model)
    return np.asarray(_SCORERS[model].predict(x, batch_size=1024, verbose=0), dtype=np.float64).reshape(-1)


def serving_model(model, splits: Splits, metrics: dict):
    """Export hook: the autoencoder as its (N,) score; the anomaly task then serves
    (N, 3) [score, threshold, is_anomaly (1.0 / 0.0)] (:meth:`tfdl.tasks.Anomaly.serving_model`)."""
    return score_model(model)


# The three autoencoders fit on their own scaled input, are evaluated on their reconstruction error and
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
    """Dense autoencoder; latent_dim default 4 (rows) / 32 (images); hidden (64, 32) / (256, 128)."""
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


# ------------------------------------------------------------------------------- threshold + baselines


def pick_threshold(y_val, score_val, info) -> tuple[float, str]:
    """The stated rule on VALIDATION scores; without both classes in y_val, F1 is undefined -> fpr rule."""
    from tfdl.evaluation.metrics import choose_threshold

    rule, budget = info.extra["threshold_rule"], info.extra["fpr_budget"]
    if rule == "f1" and (y_val is None or len(np.unique(y_val)) < 2):
        rule = "fpr"
    thr = choose_threshold(y_val, score_val, rule=rule, fpr_budget=budget)
    return thr, (
        "best validation F1" if rule == "f1" else f"at most {budget:.1%} of validation normals flagged"
    )


def _flat(x, info) -> np.ndarray:
    s = scale(x, info)
    return s.reshape(len(s), -1)


def _pca(splits: Splits, k: int | None = None):
    from sklearn.decomposition import PCA

    k = k or splits.info.extra["latent_dim"]
    cache = splits.info.extra.setdefault("_pca", {})
    if k not in cache:
        x = _flat(splits.x_train, splits.info)
        cache[k] = PCA(n_components=min(k, *x.shape), random_state=0).fit(x)
    return cache[k]


def _pca_scores(pca, x, info) -> np.ndarray:
    f = _flat(x, info)
    return ((f - pca.inverse_transform(pca.transform(f))) ** 2).mean(axis=1)


def _calibrated(splits: Splits, val_scores: np.ndarray, test_scores: np.ndarray) -> tuple[np.ndarray, dict]:
    """(test scores, {"threshold": the baseline's own threshold by the same rule on validation})."""
    thr, _ = pick_threshold(splits.y_val, val_scores, splits.info)
    return test_scores, {"threshold": thr}


def pca_reconstruction(splits: Splits) -> tuple[np.ndarray, dict]:
    """PCA (the autoencoder's latent size) fitted on the normal training rows; score = reconstruction MSE."""
    pca = _pca(splits)
    return _calibrated(
        splits,
        _pca_scores(pca, splits.x_val, splits.info),
        _pca_scores(pca, splits.x_test, splits.info),
    )


def isolation_forest(splits: Splits) -> tuple[np.ndarray, dict]:
    """IsolationForest (200 trees) on the normal training rows (at most 20,000); score = -score_samples."""
    from sklearn.ensemble import IsolationForest

    x = _flat(splits.x_train, splits.info)
    rng = np.random.default_rng(0)
    x = x[np.sort(rng.choice(len(x), min(len(x), 20_000), replace=False))]
    forest = IsolationForest(n_estimators=200, random_state=splits.info.extra["seed"], n_jobs=1).fit(x)
    s = lambda a: -forest.score_samples(_flat(a, splits.info))  # noqa: E731
    return _calibrated(splits, s(splits.x_val), s(splits.x_test))


# ------------------------------------------------------------------------------------ after training


def fit_state(model, splits: Splits, cfg: RunConfig) -> dict:
    """The threshold chosen on validation (never test), with threshold.json and the model card's record
    of the rule. No plots: `tfdl export` runs this again."""
    val_scores = predict(model, splits.x_val)
    thr, why = pick_threshold(splits.y_val, val_scores, splits.info)
    record = {"threshold": thr, "rule": why, "score": "mean squared reconstruction error of the scaled input"}
    return {
        "threshold": thr,
        "assets": {"threshold.json": json.dumps(record, indent=2)},
        "preprocessing": {**(splits.info.preprocessing or {}), **record},
    }


def report(model, splits: Splits, metrics: dict, preds: dict, run_dir: Path) -> tuple[list, list]:
    """The report sections of :func:`report_sections` for the threshold ``fit_state`` chose."""
    thr = splits.info.threshold
    why = (splits.info.preprocessing or {}).get("rule", "")
    return [], report_sections(model, splits, run_dir, thr, why, predict(model, splits.x_val))


def report_sections(model, splits: Splits, run_dir: Path, thr: float, why: str, val_scores) -> list:
    """Report sections: the threshold rule, reconstruction error per epoch vs PCA, the 2-D latent space vs
    PCA-2 (when ``latent_dim == 2``), originals vs reconstructions (images), top rows (no labels)."""
    from tfdl.evaluation import representation as R

    info, plots = splits.info, Path(run_dir) / "plots"
    text = (
        f"Threshold **{thr:.6g}** on the anomaly score ({why}), chosen on the validation split "
        f"({len(val_scores)} rows); the test split is only scored. The baselines get their own threshold "
        "by the same rule on the same validation rows. Score = mean squared reconstruction error of the "
        "scaled input."
    )
    out, links = [("Threshold", text)], []
    hist = Path(run_dir) / "history.csv"
    if hist.is_file():
        refs = {
            f"PCA-{k} val reconstruction MSE": float(_pca_scores(_pca(splits, k), splits.x_val, info).mean())
            for k in sorted({info.extra["latent_dim"], 2})
        }
        R.error_per_epoch(hist, refs, plots / "reconstruction_error.png")
        links.append("![reconstruction error per epoch vs PCA](plots/reconstruction_error.png)")
    idx = np.random.default_rng(0).choice(len(splits.y_test), min(3000, len(splits.y_test)), replace=False)
    x_s = splits.x_test[idx]
    classes = info.extra.get("classes", {}).get("test")
    colour, names = (
        (classes[idx], info.extra["class_labels"])
        if classes is not None
        else (splits.y_test[idx], info.labels)
    )
    if info.extra["latent_dim"] == 2:
        codes = {
            "autoencoder latent (2-D)": encode(model, x_s),
            "PCA, 2 components": _pca(splits, 2).transform(_flat(x_s, info)),
        }
        R.latent_scatter(codes, colour, names, plots / "latent_2d.png")
        links.append(
            "![2-D latent space vs PCA-2 (test, coloured by the unused labels)](plots/latent_2d.png)"
        )
    if info.extra["image"]:
        pca = _pca(splits)
        flat = _flat(x_s[:10], info)
        rows = {
            "original": flat,
            "autoencoder": np.asarray(model.predict(x_s[:10], verbose=0)),
            f"PCA-{pca.n_components_}": pca.inverse_transform(pca.transform(flat)),
        }
        R.reconstruction_grid(rows, info.input_shape[:2], plots / "reconstructions.png")
        links.append("![originals, autoencoder and PCA reconstructions (test)](plots/reconstructions.png)")
    out.append(("Representation", "\n\n".join(links)))
    if not info.extra.get("labelled", True):
        s = predict(model, splits.x_test)
        top = np.argsort(-s)[:20]
        rows_md = "\n".join(f"| {i} | {s[i]:.6g} | {'yes' if s[i] >= thr else 'no'} |" for i in top)
        out.append(
            (
                "Rows above the threshold (test, no labels)",
                f"{int((s >= thr).sum())} of {len(s)} test rows score above the threshold. Top 20:\n\n"
                f"| test row | score | above |\n|---|---|---|\n{rows_md}",
            )
        )
    return out


def encode(model, x) -> np.ndarray:
    """Raw inputs -> (N, latent_dim) codes (the VAE's z_mean)."""
    import keras

    from tfdl.models import get_encoder

    code = get_encoder(model)(model.get_layer("scale_input").output)
    code = code[0] if isinstance(code, (list, tuple)) else code
    return np.asarray(keras.Model(model.inputs, code).predict(x, verbose=0))


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
    # float32: the scores are small differences of reconstructions (bf16 keeps ~3 digits); early stopping
    # off: val_loss includes the validation anomalies, which the model should NOT learn to reconstruct.
    defaults={
        "train.epochs": 30,
        "train.batch_size": 256,
        "train.precision": "float32",
        "train.early_stopping_patience": 0,
    },
)
