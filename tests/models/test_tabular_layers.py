"""Tabular layers: the in-graph tree walk equals scikit-learn, the target inverse round-trips, the blend is
the convex combination of its members."""

from __future__ import annotations

import numpy as np
import pytest

from tfdl.models.tabular_layers import (
    Blend,
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


def test_blend_is_the_weighted_sum_of_its_members_and_the_network_alone_in_training():
    net = np.array([[0.8, 0.2], [0.1, 0.9]], np.float32)  # class probabilities
    trees = np.array([[0.0], [2.0]], np.float32)  # one logit (binary)
    lin = np.array([[0.6, 0.4], [0.3, 0.7]], np.float32)
    blend = Blend("binary", members=3)
    np.testing.assert_allclose(blend.blend_weights.numpy(), [0.5, 0.5, 0.0])  # the start: as before
    blend.blend_weights.assign([0.2, 0.5, 0.3])
    p_trees = 1 / (1 + np.exp(-trees))
    want = 0.2 * net + 0.5 * np.concatenate([1 - p_trees, p_trees], axis=1) + 0.3 * lin
    np.testing.assert_allclose(np.asarray(blend([net, trees, lin])), want, atol=1e-6)
    np.testing.assert_allclose(np.asarray(blend([net, trees, lin], training=True)), net)


def test_blend_reads_the_single_weight_a_two_member_model_saved():
    blend = Blend("regression", members=2)
    blend.load_own_variables({"0": np.array(0.3, np.float32)})  # the network's weight, saved before #14
    np.testing.assert_allclose(blend.blend_weights.numpy(), [0.3, 0.7], atol=1e-7)
    blend.load_own_variables({"0": np.array([0.9, 0.1], np.float32)})
    np.testing.assert_allclose(blend.blend_weights.numpy(), [0.9, 0.1], atol=1e-7)


def test_tree_ensemble_is_not_walked_in_training():
    """Its consumer (Blend) trains the network alone: in training the layer outputs zeros of its shape."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    config, weights = tree_ensemble_weights(HistGradientBoostingRegressor(max_iter=5).fit(x, x[:, 0]))
    layer = TreeEnsemble(**config)
    layer.build((None, 3))
    layer.set_weights(weights)
    assert np.asarray(layer(x[:7], training=True)).tolist() == [[0.0]] * 7
    assert np.abs(np.asarray(layer(x[:7]))).max() > 0.1
