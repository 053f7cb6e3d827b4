"""Classical tabular baselines on the same raw columns as the Keras model, tuned on the same validation split.

- ``linear``: mean imputation + missing indicators + scaling, one-hot categories (unseen ignored), then
  logistic regression (``C`` from 0.01-10) or ridge (``alpha`` from 0.1-100).
- ``hgb``: scikit-learn's HistGradientBoosting with native missing values and categories (ordinal codes;
  more than 250 categories are treated as ordered numbers), early-stopped on the validation split, over
  learning rate (0.03, 0.1) x leaves (7, 31).

Each picks its setting by validation log loss (classification) or squared error (regression), as the Keras
model picks its epoch on validation: a fair baseline, not a straw man. On credit_data the tuned trees gained
0.8 to 3 AUC points over the library defaults on every fold. Both return test predictions in the model's
output format.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfdl.data.splits import Splits

LINEAR_C = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
RIDGE_ALPHA = (0.1, 1.0, 10.0, 100.0)
HGB_GRID = [{"learning_rate": lr, "max_leaf_nodes": leaves} for lr in (0.03, 0.1) for leaves in (7, 31)]


def linear(splits: Splits) -> np.ndarray:
    """Logistic regression (classification) or ridge regression (regression) on one-hot + scaled columns."""
    return sklearn_baseline(splits, "linear")


def hist_gradient_boosting(splits: Splits) -> np.ndarray:
    """scikit-learn's HistGradientBoosting (LightGBM-style trees), the usual strong tabular baseline."""
    return sklearn_baseline(splits, "hgb")


def sklearn_baseline(splits: Splits, family: str) -> np.ndarray:
    """Fit ``family`` ("linear" or "hgb") on the training split, choose its setting on validation, and
    return its test predictions: class probabilities (n, classes) or values (n, 1)."""
    from threadpoolctl import threadpool_limits

    from tfdl.tasks import get_task

    classify = get_task(splits.info.task).classifier
    columns = splits.info.columns
    frames = [_frame(x, columns) for x in (splits.x_train, splits.x_val, splits.x_test)]
    y_train, y_val = _target(splits.y_train, classify), _target(splits.y_val, classify)
    fit = _fit_linear if family == "linear" else _fit_hgb
    # One OpenMP thread: on a busy 2-core machine (and beside TensorFlow's threads) HistGradientBoosting's
    # spinning workers took 116 s on credit_data vs 1.2 s single-threaded.
    with threadpool_limits(limits=1):
        predict = fit(splits, columns, frames, y_train, y_val, classify)
        out = predict(frames[2])
    if not classify:
        return out.reshape(-1, 1).astype(np.float32)
    return out


def _frame(x: dict, columns) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            c.input_name: x[c.input_name] if c.dtype == "float32" else np.asarray(x[c.input_name]).astype(str)
            for c in columns
        }
    )


def _split_columns(columns) -> tuple[list[str], list[str]]:
    """(numeric, categorical) input names: float32 columns are numbers, the rest categories."""
    return (
        [c.input_name for c in columns if c.dtype == "float32"],
        [c.input_name for c in columns if c.dtype != "float32"],
    )


def _target(y: np.ndarray, classify: bool) -> np.ndarray:
    return np.asarray(y).astype(int).ravel() if classify else np.asarray(y, dtype=np.float64).ravel()


def _val_loss(classify: bool, num_classes: int):
    from sklearn.metrics import log_loss, mean_squared_error

    if classify:
        return lambda y, p: log_loss(y, p, labels=list(range(num_classes)))
    return mean_squared_error


def _proba(model, x, num_classes: int) -> np.ndarray:
    """predict_proba with one column per class of the data set, even for classes absent from training."""
    proba = model.predict_proba(x)
    out = np.zeros((len(proba), num_classes))
    out[:, np.asarray(model.classes_).astype(int)] = proba
    return out


def _pick(candidates, score):
    """The candidate with the lowest validation loss (the first on ties)."""
    best, best_loss = None, np.inf
    for cand in candidates:
        loss = score(cand)
        if loss < best_loss:
            best, best_loss = cand, loss
    return best


def _fit_linear(splits: Splits, columns, frames, y_train, y_val, classify: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num, cat = _split_columns(columns)
    imputed = make_pipeline(SimpleImputer(add_indicator=True, keep_empty_features=True), StandardScaler())
    prep = ColumnTransformer([("num", imputed, num), ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
    x_train = prep.fit_transform(frames[0], y_train)
    x_val = prep.transform(frames[1])
    k = splits.info.num_classes
    best = fit_linear_matrix(x_train, y_train, x_val, y_val, classify, k)
    if classify:
        return lambda frame: _proba(best, prep.transform(frame), k)
    return lambda frame: best.predict(prep.transform(frame))


def _fit_hgb(splits: Splits, columns, frames, y_train, y_val, classify: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.preprocessing import OrdinalEncoder

    num, cat = _split_columns(columns)
    small = {c.input_name for c in columns if c.dtype != "float32" and len(c.vocabulary or []) <= 250}
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
    prep = ColumnTransformer([("cat", enc, cat), ("num", "passthrough", num)])
    x_train = prep.fit_transform(frames[0])
    x_val = prep.transform(frames[1])
    mask = [name in small for name in cat] + [False] * len(num)
    k = splits.info.num_classes
    loss = _val_loss(classify, k)
    cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    common = dict(
        max_iter=2000,
        early_stopping=True,
        n_iter_no_change=30,
        l2_regularization=1.0,
        categorical_features=mask,
        random_state=0,
    )
    # Early stopping watches our validation split (X_val), not a slice carved from training; rows of a class
    # the training split lacks cannot be scored by the trees, so they sit out of early stopping only.
    seen = np.isin(y_val, np.unique(y_train)) if classify else np.ones(len(y_val), bool)
    models = [
        cls(**grid, **common).fit(x_train, y_train, X_val=x_val[seen], y_val=y_val[seen]) for grid in HGB_GRID
    ]
    if classify:
        best = _pick(models, lambda m: loss(y_val, _proba(m, x_val, k)))
        return lambda frame: _proba(best, prep.transform(frame), k)
    best = _pick(models, lambda m: loss(y_val, m.predict(x_val)))
    return lambda frame: best.predict(prep.transform(frame))


def fit_hgb_matrix(x_train, y_train, x_val, y_val, classify: bool, num_classes: int):
    """HistGradientBoosting on a numeric matrix (categories as ordinal codes, NaN = missing), early-stopped
    on the validation split and tuned over ``HGB_GRID`` like the baseline: the trees of ``mlp+gbdt``
    (numeric splits only, so the Keras model can walk them). Regression targets are used as given."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    y_train, y_val = _target(y_train, classify), _target(y_val, classify)
    loss = _val_loss(classify, num_classes)
    cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    common = dict(
        max_iter=2000, early_stopping=True, n_iter_no_change=30, l2_regularization=1.0, random_state=0
    )
    seen = np.isin(y_val, np.unique(y_train)) if classify else np.ones(len(y_val), bool)
    with threadpool_limits(limits=1):
        models = [
            cls(**grid, **common).fit(x_train, y_train, X_val=x_val[seen], y_val=y_val[seen])
            for grid in HGB_GRID
        ]
        if classify:
            return _pick(models, lambda m: loss(y_val, _proba(m, x_val, num_classes)))
        return _pick(models, lambda m: loss(y_val, m.predict(x_val)))


def fit_linear_matrix(x_train, y_train, x_val, y_val, classify: bool, num_classes: int):
    """Logistic regression over ``LINEAR_C`` or ridge over ``RIDGE_ALPHA`` on a feature matrix, the setting
    with the lowest validation loss: the ``linear`` baseline's model, and the linear member of ``mlp+gbdt``
    (fitted on the same features computed inside the Keras graph). Regression targets are used as given
    (a standardised target gives the same ridge, scaled: the intercept is not penalised)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from threadpoolctl import threadpool_limits

    y_train, y_val = _target(y_train, classify), _target(y_val, classify)
    loss = _val_loss(classify, num_classes)
    with threadpool_limits(limits=1):
        if classify:
            models = [LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train) for c in LINEAR_C]
            return _pick(models, lambda m: loss(y_val, _proba(m, x_val, num_classes)))
        models = [Ridge(alpha=a).fit(x_train, y_train) for a in RIDGE_ALPHA]
        return _pick(models, lambda m: loss(y_val, m.predict(x_val)))
