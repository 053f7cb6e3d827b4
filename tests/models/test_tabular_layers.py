"""Tabular layers: the in-graph tree walk equals scikit-learn, the target inverse round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from tfdl.models.tabular_layers import (
    PiecewiseLinearEncoding,
    TargetInverse,
    TreeEnsemble,
    forward,
    tree_ensemble_weights,
)


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_tree_ensemble_equals_histgradientboosting_raw_scores(task):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 4)).astype(np.float32)
    x[::5, 1] = np.nan  # missing values in training: the trees learn which side they go
    y = 2 * x[:, 0] + np.nan_to_num(x[:, 1]) ** 2 + rng.normal(0, 0.1, len(x))
    if task == "regression":
        model = HistGradientBoostingRegressor(max_iter=40).fit(x, y)
        want_fn = lambda m, v: m.predict(v)[:, None]  # noqa: E731
    else:
        yc = y > 1 if task == "binary" else np.digitize(y, [0, 1, 2])
        model = HistGradientBoostingClassifier(max_iter=20).fit(x, yc)
        want_fn = lambda m, v: m.decision_function(v).reshape(len(v), -1)  # noqa: E731
    config, weights = tree_ensemble_weights(model)
    layer = TreeEnsemble(**config)
    layer.build((None, 4))
    layer.set_weights(weights)
    xt = rng.normal(size=(300, 4)).astype(np.float32)
    xt[::3, 1] = np.nan
    xt[::7, 0] = np.nan  # missing where training had none: sklearn's learnt default side
    np.testing.assert_allclose(np.asarray(layer(xt)), want_fn(model, xt), atol=1e-4)


def test_target_inverse_undoes_the_log1p_standardisation():
    y = np.array([[0.0], [3.0], [250.0], [9000.0]], np.float32)
    z = np.asarray(forward(y, 2.5, 1.7, "log1p"))
    np.testing.assert_allclose(np.asarray(TargetInverse(2.5, 1.7, "log1p")(z)), y, rtol=1e-4)


def test_piecewise_linear_encoding_is_a_ramp_per_bin():
    out = np.asarray(PiecewiseLinearEncoding([0.0, 1.0, 2.0, 4.0])(np.array([[-1.0], [0.5], [3.0], [6.0]])))
    np.testing.assert_allclose(
        out, [[-1.0, 0.0, 0.0], [0.5, 0.0, 0.0], [1.0, 1.0, 0.5], [1.0, 1.0, 2.0]], atol=1e-6
    )
