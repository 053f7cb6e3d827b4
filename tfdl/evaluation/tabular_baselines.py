"""Classical tabular baselines on the same raw columns as the Keras model: logistic / ridge regression on
imputed, scaled and one-hot columns, and scikit-learn's HistGradientBoosting with native missing values
and categories. Both return test predictions in the model's output format."""

from __future__ import annotations

import numpy as np

from tfdl.data.splits import Splits


def sklearn_baseline(splits: Splits, family: str) -> np.ndarray:
    """Fit a scikit-learn model on the same raw columns; test predictions in the model's output format.

    ``linear``: mean imputation + missing indicators + scaling, one-hot categories (unseen ignored), then
    logistic regression or ridge. ``hgb``: HistGradientBoosting with native missing-value and categorical
    support (categories as ordinal codes; more than 250 categories are treated as ordered numbers)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
    from threadpoolctl import threadpool_limits

    columns = splits.info.extra["columns"]
    classify = splits.info.extra["task"] == "classification"
    num = [c.input_name for c in columns if c.dtype == "float32"]
    cat = [c.input_name for c in columns if c.dtype != "float32"]

    def frame(x):
        return pd.DataFrame(
            {
                c.input_name: x[c.input_name]
                if c.dtype == "float32"
                else np.asarray(x[c.input_name]).astype(str)
                for c in columns
            }
        )

    if family == "linear":
        prep = ColumnTransformer(
            [
                (
                    "num",
                    make_pipeline(
                        SimpleImputer(add_indicator=True, keep_empty_features=True), StandardScaler()
                    ),
                    num,
                ),
                ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
            ]
        )
        est = LogisticRegression(max_iter=2000) if classify else Ridge(alpha=1.0)
    else:
        small = [c.input_name for c in columns if c.dtype != "float32" and len(c.vocabulary or []) <= 250]
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        prep = ColumnTransformer([("cat", enc, cat), ("num", "passthrough", num)])
        mask = [name in small for name in cat] + [False] * len(num)
        kw = {"categorical_features": mask, "random_state": 0}
        est = HistGradientBoostingClassifier(**kw) if classify else HistGradientBoostingRegressor(**kw)
    # One OpenMP thread: on a busy 2-core machine (and beside TensorFlow's threads) HistGradientBoosting's
    # spinning workers took 116 s on credit_data vs 1.2 s single-threaded.
    with threadpool_limits(limits=1):
        model = make_pipeline(prep, est).fit(frame(splits.x_train), splits.y_train)
        x_test = frame(splits.x_test)
        if not classify:
            return model.predict(x_test).reshape(-1, 1).astype(np.float32)
        proba = model.predict_proba(x_test)
    out = np.zeros((len(proba), splits.info.num_classes))
    out[:, model.classes_.astype(int)] = proba
    return out


def linear(splits: Splits) -> np.ndarray:
    """Logistic regression (classification) or ridge regression (regression) on one-hot + scaled columns."""
    return sklearn_baseline(splits, "linear")


def hist_gradient_boosting(splits: Splits) -> np.ndarray:
    """scikit-learn's HistGradientBoosting (LightGBM-style trees), the usual strong tabular baseline."""
    return sklearn_baseline(splits, "hgb")
