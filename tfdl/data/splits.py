"""In-memory splits, data-set facts, deterministic splitting and fingerprints.

Every app's loader returns a :class:`Splits`. ``x`` is a NumPy array (images, windows, strings)
or a dict of column arrays (tabular); ``y`` is a NumPy array (class ids, targets) or ``None``
for unlabelled data. Keeping the splits in memory lets the classical baseline and the Keras model
see exactly the same examples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfdl.errors import TfdlError

X = Any  # np.ndarray | dict[str, np.ndarray]


@dataclass
class DataInfo:
    """What the pipeline, the report and the model card need to know about a data set.

    Every fact the library reads has a typed field; ``extra`` holds what only the app's own code reads
    (time stamps, scaling statistics, rules), except that :func:`limit_train` cuts an array at
    ``extra[key]["train"]`` with one entry per training row together with the rows. The loader fills the
    data facts; the pipeline merges what a hook returns after training (:meth:`update`: the anomaly
    threshold, a blend section) into the same fields, so export and evaluation read one place.
    """

    name: str  # "fashion_mnist"
    source: str  # where it came from, in words ("Debian package dataset-fashion-mnist")
    fingerprint: str = ""  # "sha256:..." of the content
    labels: list[str] = field(default_factory=list)  # class names (classification)
    input_shape: tuple = ()  # one example's shape, without the batch axis
    notes: list[str] = field(default_factory=list)  # warnings shown in the report (skipped files...)
    extra: dict[str, Any] = field(default_factory=dict)  # app-only facts the library never reads
    # The task the data was read for, when the loader decides it (tabular infers it from the target):
    # the pipeline sets ``cfg.task`` from it; ``None`` = the config's / the app's task.
    task: str | None = None
    # How raw inputs are prepared, for the model card and TFLite sidecar ("inside the model" when None).
    preprocessing: dict[str, Any] | str | None = None
    normalization: str | None = None  # what a TFLite client must do to raw inputs (None = nothing)
    # Files shipped in the SavedModel's assets/ folder (name -> text): schema.yaml, threshold.json, ...
    assets: dict[str, str] = field(default_factory=dict)
    report_sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown)
    columns: list[Any] = field(default_factory=list)  # tabular column specs (baselines, explainers)
    mase_scale: float | None = None  # forecast: seasonal-naive in-sample MAE of the training part
    threshold: float | None = None  # anomaly: the score threshold chosen on validation
    # Classification, fitted on validation after training (tfdl/evaluation/review.py): the temperature that
    # calibrates the probabilities (served ones included) and the binary decision threshold (eval.threshold).
    temperature: float | None = None
    decision_threshold: float | None = None
    # Forecast: split-conformal half-widths per horizon step from validation residuals, {"0.8": [h], ...}.
    prediction_intervals: dict[str, list[float]] | None = None
    allow_nan: bool = False  # the model imputes missing (NaN) float inputs: the server accepts them
    cv: dict[str, int] | None = None  # {"folds": k, "fold": i} when the test part is a CV fold

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def update(self, state: dict[str, Any] | None) -> None:
        """Merge what a hook returned: ``assets`` are added, ``report_sections`` replace sections of the
        same title, other fields are set. Unknown names are an error (a typo would be lost silently)."""
        for key, value in (state or {}).items():
            if key == "assets":
                self.assets = {**self.assets, **value}
            elif key == "report_sections":
                titles = {t for t, _ in value}
                self.report_sections = [s for s in self.report_sections if s[0] not in titles] + list(value)
            elif key in self.__dataclass_fields__ and key not in ("name", "source", "fingerprint", "extra"):
                setattr(self, key, value)
            else:
                raise KeyError(f"DataInfo has no field {key!r} a hook may set")


@dataclass
class Splits:
    x_train: X
    y_train: np.ndarray | None
    x_val: X
    y_val: np.ndarray | None
    x_test: X
    y_test: np.ndarray | None
    info: DataInfo

    def sizes(self) -> dict[str, int]:
        return {"n_train": n_rows(self.x_train), "n_val": n_rows(self.x_val), "n_test": n_rows(self.x_test)}


def n_rows(x: X) -> int:
    if isinstance(x, dict):
        return len(next(iter(x.values()))) if x else 0
    return len(x)


def take(x: X, idx: np.ndarray) -> X:
    """Rows ``idx`` of an array or of every column of a dict."""
    if isinstance(x, dict):
        return {k: np.asarray(v)[idx] for k, v in x.items()}
    return np.asarray(x)[idx]


def fingerprint(*parts: Any) -> str:
    """sha256 over the bytes of arrays / strings / dicts, in order: the data set's identity."""
    h = hashlib.sha256()

    def feed(p: Any) -> None:
        if isinstance(p, dict):
            for k in sorted(p):
                h.update(str(k).encode())
                feed(p[k])
        elif isinstance(p, np.ndarray) and p.dtype != object and p.dtype.kind not in "US":
            h.update(str(p.dtype).encode() + str(p.shape).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, (np.ndarray, list, tuple)):
            for item in p:
                h.update(str(item).encode("utf-8", "replace") + b"\x00")
        elif isinstance(p, bytes):
            h.update(p)
        else:
            h.update(str(p).encode("utf-8", "replace"))

    for p in parts:
        feed(p)
    return "sha256:" + h.hexdigest()


def stratified_indices(
    y: np.ndarray | None,
    n: int,
    fractions: tuple[float, ...],
    seed: int,
    stratify: bool = True,
) -> list[np.ndarray]:
    """Split ``range(n)`` into len(fractions)+1 parts (the rest last), stratified by ``y`` when given.

    Deterministic for a given seed. Classes too small to appear in every part are allowed: they
    go where the rounding puts them.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    parts: list[np.ndarray] = []
    rest, rest_y = idx, (None if y is None else np.asarray(y))
    remaining = 1.0
    for frac in fractions:
        share = frac / remaining
        strat = rest_y if (stratify and rest_y is not None and _can_stratify(rest_y, share)) else None
        rest, part = train_test_split(rest, test_size=share, random_state=seed, stratify=strat)
        rest_y = None if y is None else np.asarray(y)[rest]
        parts.append(np.sort(part))
        remaining -= frac
    return [np.sort(rest), *parts]


def kfold_indices(
    y: np.ndarray | None, n: int, folds: int, fold: int, val_fraction: float, seed: int, stratify: bool = True
) -> list[np.ndarray]:
    """(train, val, test) indices: test is fold ``fold`` of ``folds`` (stratified by ``y`` when it can be),
    val is ``val_fraction`` of all ``n`` examples taken from the other folds."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    if n < folds:
        raise TfdlError(f"data.folds={folds} needs at least {folds} examples; got {n}")
    idx = np.arange(n)
    strat = stratify and y is not None and _can_stratify(np.asarray(y), 1 / folds)
    if strat and np.unique(np.asarray(y), return_counts=True)[1].min() < folds:
        strat = False  # a class smaller than the number of folds cannot be in every fold
    splitter = (StratifiedKFold if strat else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    rest, test = list(splitter.split(idx, y if strat else None))[fold]
    n_val = min(max(1, round(val_fraction * n)), len(rest) // 2)
    ry = None if y is None else np.asarray(y)[rest]
    strat = ry if (stratify and ry is not None and _can_stratify(ry, n_val / len(rest))) else None
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=strat)
    return [np.sort(train), np.sort(val), np.sort(test)]


def _can_stratify(y: np.ndarray, share: float) -> bool:
    if y.dtype.kind == "f":
        return False
    _, counts = np.unique(y, return_counts=True)
    return counts.min() >= 2 and len(counts) <= len(y) * min(share, 1 - share)


def split_arrays(
    x: X,
    y: np.ndarray | None,
    info: DataInfo,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
    folds: int = 0,
    fold: int = 0,
) -> Splits:
    """70/15/15 (by default) train/val/test split of one pool of examples.

    With ``folds`` >= 2 the test part is fold ``fold`` of a (stratified) k-fold partition instead, so
    ``folds`` runs test every example exactly once; val is ``val_fraction`` of the whole, carved from
    the other folds. The fold is recorded in ``info.cv``.
    """
    n = n_rows(x)
    if n < 3:
        raise TfdlError(f"need at least 3 examples to split into train/val/test; got {n}")
    if folds >= 2:
        train, val, test = kfold_indices(y, n, folds, fold, val_fraction, seed, stratify)
        info.cv = {"folds": folds, "fold": fold}
    else:
        train, val, test = stratified_indices(y, n, (val_fraction, test_fraction), seed, stratify)
    sel = lambda a, i: None if a is None else np.asarray(a)[i]
    return Splits(take(x, train), sel(y, train), take(x, val), sel(y, val), take(x, test), sel(y, test), info)


def carve_val(
    x_train: X,
    y_train: np.ndarray | None,
    x_test: X,
    y_test: np.ndarray | None,
    info: DataInfo,
    *,
    val_fraction: float,
    seed: int,
) -> Splits:
    """Keep an official test split; carve a stratified validation split from the training data."""
    n = n_rows(x_train)
    train, val = stratified_indices(y_train, n, (val_fraction,), seed)
    sel = lambda a, i: None if a is None else np.asarray(a)[i]
    return Splits(
        take(x_train, train), sel(y_train, train), take(x_train, val), sel(y_train, val), x_test, y_test, info
    )


def limit_train(splits: Splits, limit: int | None, seed: int) -> Splits:
    """Keep a stratified subset of ``limit`` training examples (val and test untouched). Per-row facts of
    the training part that an app keeps in ``info.extra[key]["train"]`` (the forecast origins of the
    time-series windows) are cut to the same rows."""
    n = n_rows(splits.x_train)
    if limit is None or limit >= n:
        return splits
    keep, _ = stratified_indices(splits.y_train, n, (1 - limit / n,), seed)
    splits.x_train = take(splits.x_train, keep)
    splits.y_train = None if splits.y_train is None else splits.y_train[keep]
    for key, value in list(splits.info.extra.items()):
        rows = value.get("train") if isinstance(value, dict) else None
        if isinstance(rows, np.ndarray) and len(rows) == n:
            splits.info.extra[key] = {**value, "train": rows[keep]}
    return splits
