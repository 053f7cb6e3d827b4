"""Anomaly-detection sources: river's Shuttle (embedded), Fashion-MNIST one-class, user CSV rows.

Every loader returns a :class:`~tfdl.data.splits.Splits` with ``y`` = 1 for an anomaly, 0 for a normal row,
split 70/15/15 (stratified) and then :func:`keep_normal_training_rows`: the autoencoder learns "normal"
from the normal rows of the training split only, while validation (where the threshold is chosen) and
test (where it is judged) keep every row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfdl.data.splits import DataInfo, Splits, carve_val, fingerprint, split_arrays, take
from tfdl.errors import TfdlError

SHUTTLE_FIX = (
    "install river with `pip install river==0.26.1` (the `anomaly` extra: pip install -e '.[anomaly]')"
)


def keep_normal_training_rows(splits: Splits) -> Splits:
    """Drop the anomalies (y == 1) from the training split; val and test stay complete."""
    if splits.y_train is None:
        return splits
    keep = np.flatnonzero(np.asarray(splits.y_train) == 0)
    if len(keep) == 0:
        raise TfdlError("the training split has no normal rows (label 0); check data.label_column's values")
    dropped = len(splits.y_train) - len(keep)
    splits.x_train = take(splits.x_train, keep)
    splits.y_train = np.asarray(splits.y_train)[keep]
    if dropped:
        splits.info.notes.append(
            f"{dropped} anomalous training rows were left out: the model learns normal rows only"
        )
    return splits


def load_shuttle() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """river's Shuttle: x (49097, 9) float32, y (49097,) int 0/1 (1 = anomaly, 7.2%), column names."""
    try:
        import river.datasets
    except ImportError:
        raise TfdlError(
            f"the Shuttle data set ships with the river package, which is not installed; {SHUTTLE_FIX}"
        ) from None
    rows = list(river.datasets.Shuttle())
    columns = list(rows[0][0])
    x = np.array([[r[c] for c in columns] for r, _ in rows], dtype=np.float32)
    y = np.array([int(t) for _, t in rows], dtype=np.int64)
    return x, y, columns


def shuttle_splits(val_fraction: float, test_fraction: float, seed: int) -> Splits:
    x, y, columns = load_shuttle()
    info = DataInfo(
        "shuttle",
        "river.datasets.Shuttle (river package)",
        fingerprint(x, y),
        ["normal", "anomaly"],
        x.shape[1:],
        extra={"columns": columns},
    )
    splits = split_arrays(x, y, info, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    return keep_normal_training_rows(splits)


def fashion_oneclass_splits(
    normal_class: int, val_fraction: float, seed: int, download: bool = False
) -> Splits:
    """Fashion-MNIST, class ``normal_class`` = normal, the 9 others = anomalies (official test split kept).

    x: uint8 (N, 28, 28, 1); y: 0/1; ``info.extra["classes"]`` keeps the class ids of val/test for plots.
    """
    from tfdl.data.images import FASHION_LABELS, load_fashion_mnist

    if not 0 <= normal_class < len(FASHION_LABELS):
        raise TfdlError(f"data.normal_class must be a Fashion-MNIST class id 0..9; got {normal_class}")
    (xtr, ctr, xte, cte), where = load_fashion_mnist(download)
    info = DataInfo(
        f"fashion_mnist_oneclass_{normal_class}",
        where,
        fingerprint(xtr, ctr, xte, cte),
        ["normal", "anomaly"],
        xtr.shape[1:],
    )
    info.notes.append(
        f"normal class: {normal_class} ({FASHION_LABELS[normal_class]}); the 9 others are anomalies"
    )
    splits = carve_val(xtr, ctr, xte, cte, info, val_fraction=val_fraction, seed=seed)
    info.extra["class_labels"] = list(FASHION_LABELS)
    info.extra["classes"] = {"val": splits.y_val.copy(), "test": splits.y_test.copy()}
    splits.y_train, splits.y_val, splits.y_test = (
        (np.asarray(c) != normal_class).astype(np.int64)
        for c in (splits.y_train, splits.y_val, splits.y_test)
    )
    return keep_normal_training_rows(splits)


def fashion_all_splits(val_fraction: float, seed: int, download: bool = False) -> Splits:
    """Fashion-MNIST, every class normal (representation study): y = 0; class ids kept for the plots."""
    from tfdl.data.images import FASHION_LABELS, load_fashion_mnist

    (xtr, ctr, xte, cte), where = load_fashion_mnist(download)
    info = DataInfo(
        "fashion_mnist", where, fingerprint(xtr, ctr, xte, cte), ["normal", "anomaly"], xtr.shape[1:]
    )
    info.notes.append(
        "representation study: every class is normal, so ROC-AUC is undefined; labels only colour plots"
    )
    splits = carve_val(xtr, ctr, xte, cte, info, val_fraction=val_fraction, seed=seed)
    info.extra["class_labels"] = list(FASHION_LABELS)
    info.extra["classes"] = {"val": splits.y_val.copy(), "test": splits.y_test.copy()}
    splits.y_train, splits.y_val, splits.y_test = (
        np.zeros(len(c), np.int64) for c in (splits.y_train, splits.y_val, splits.y_test)
    )
    return splits


def read_rows(path: str | Path, label_column: str | None = None, columns: list[str] | None = None):
    """Numeric rows of a CSV: -> (x float32 (n, d), y int 0/1 (n,) or None, column names).

    ``columns``: the expected feature columns (a trained model's); the file must hold exactly these
    (plus ``label_column`` if given). Errors name the column, the value and the fix.
    """
    import pandas as pd

    from tfdl.data.csvfile import read_csv

    p = Path(path)
    df = read_csv(p, "--data/--input expects a .csv file of numeric rows", suffixes=(".csv", ".txt"))
    y = None
    if label_column is not None:
        if label_column not in df.columns:
            raise TfdlError(
                f"data.label_column '{label_column}' is not a column of '{p.name}'; "
                f"columns: {', '.join(map(str, df.columns))}"
            )
        y = _labels(df.pop(label_column), label_column)
    if columns is not None and list(map(str, df.columns)) != list(columns):
        raise TfdlError(
            f"expected {len(columns)} columns ({', '.join(columns)}); '{p.name}' has {len(df.columns)} "
            f"({', '.join(map(str, df.columns))}); give rows with the training columns"
        )
    if df.shape[1] == 0 or len(df) == 0:
        raise TfdlError(
            f"'{p.name}' has no feature columns or no rows; give a CSV with a header and numeric rows"
        )
    for col in df.columns:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & df[col].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise TfdlError(
                f"column '{col}' must be numeric; row {i + 2} holds {df[col].iloc[i]!r}; "
                "fix the value or drop the column"
            )
        if num.isna().any():
            raise TfdlError(
                f"column '{col}' has {int(num.isna().sum())} missing values; fill or drop those rows"
            )
        df[col] = num
    return df.to_numpy(dtype=np.float32), y, [str(c) for c in df.columns]


def _labels(col, name: str) -> np.ndarray:
    vals = set(col.dropna().unique().tolist())
    if col.isna().any() or not vals <= {0, 1}:
        raise TfdlError(
            f"label column '{name}' must hold 0 (normal) or 1 (anomaly); got {sorted(map(str, vals))[:5]}"
        )
    return col.astype(int).to_numpy(dtype=np.int64)


def csv_splits(
    path: str | Path,
    label_column: str | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    folds: int = 0,
    fold: int = 0,
) -> Splits:
    """Rows of a CSV split 70/15/15 (stratified by the label when there is one), or test = fold ``fold`` of
    ``folds`` for ``tfdl cv``; the anomalies are then dropped from the training split."""
    x, y, columns = read_rows(path, label_column)
    info = DataInfo(
        Path(path).stem,
        f"CSV file {Path(path).name}",
        fingerprint(x, y),
        ["normal", "anomaly"],
        x.shape[1:],
        extra={"columns": columns},
    )
    if y is None:
        info.notes.append(
            "no label column: every row counts as normal for the metrics (ROC-AUC undefined); "
            "the threshold follows the false-positive budget and the report lists the top-scoring rows"
        )
    splits = split_arrays(
        x,
        y if y is not None else np.zeros(len(x), np.int64),
        info,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        folds=folds,
        fold=fold,
    )
    info.extra["labelled"] = y is not None
    return keep_normal_training_rows(splits)


def feature_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per column of the (normal) training rows; constant columns get variance 1.

    A constant column among normals would otherwise divide by ~0 and turn any change into a huge score.
    """
    x = np.asarray(x, dtype=np.float64)
    mean, var = x.mean(axis=0), x.var(axis=0)
    var = np.where(var < 1e-12, 1.0, var)
    return mean.astype(np.float32), var.astype(np.float32)
