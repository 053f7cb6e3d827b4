"""Tabular regression target handling, registered so ``keras.models.load_model`` finds them.

The network learns a standardised (and optionally log1p-transformed) target ``z``; ``TargetInverse`` maps
``z`` back to the user's units inside the model, so ``model.keras``, the SavedModel and ``tfdl serve`` answer
in original units. ``StandardizedMSE`` computes the training loss in the standardised space from those
original-unit outputs, so the optimiser sees a loss near 1 whatever the target's scale.
"""

from __future__ import annotations

import keras
from keras import ops

TRANSFORMS = ("none", "log1p")
_MAX_LOG = 80.0  # expm1(80) ~ 5.5e34: below float32's overflow, far above any real count


def _check(transform: str) -> str:
    if transform not in TRANSFORMS:
        raise ValueError(f"target transform must be one of {TRANSFORMS}; got {transform!r}")
    return transform


def forward(y, mean: float, std: float, transform: str):
    """Original units -> standardised (transformed) units (a tensor op; y >= 0 for log1p)."""
    y = ops.cast(y, "float32")
    if transform == "log1p":
        y = ops.log1p(ops.maximum(y, -1.0 + 1e-6))
    return (y - mean) / std


@keras.saving.register_keras_serializable(package="tfdl")
class TargetInverse(keras.layers.Layer):
    """``z -> inverse_transform(z * std + mean)``: ``expm1`` for ``log1p``, identity for ``none``.

    Input ``(batch, 1)`` standardised predictions; output ``(batch, 1)`` float32 in the target's units.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, transform: str = "none", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mean, self.std, self.transform = float(mean), float(std), _check(transform)

    def call(self, z):
        y = ops.cast(z, "float32") * self.std + self.mean
        if self.transform == "log1p":
            y = ops.expm1(ops.minimum(y, _MAX_LOG))
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std, "transform": self.transform}


@keras.saving.register_keras_serializable(package="tfdl")
class StandardizedMSE(keras.losses.Loss):
    """Mean squared error between ``forward(y_true)`` and ``forward(y_pred)`` (both in original units)."""

    def __init__(self, mean: float = 0.0, std: float = 1.0, transform: str = "none", **kwargs):
        kwargs.setdefault("name", "standardized_mse")
        super().__init__(**kwargs)
        self.mean, self.std, self.transform = float(mean), float(std), _check(transform)

    def call(self, y_true, y_pred):
        y_true = ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
        a = forward(y_true, self.mean, self.std, self.transform)
        b = forward(y_pred, self.mean, self.std, self.transform)
        return ops.mean(ops.square(a - b), axis=-1)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std, "transform": self.transform}


@keras.saving.register_keras_serializable(package="tfdl")
class PiecewiseLinearEncoding(keras.layers.Layer):
    """Piecewise-linear encoding of one numeric feature (Gorishniy, Rubachev & Babenko, 2022, "On
    Embeddings for Numerical Features in Tabular Deep Learning").

    With bin edges ``b_0 < ... < b_T`` (training quantiles), component ``t`` is
    ``clip((x - b_{t-1}) / (b_t - b_{t-1}), 0, 1)``; the first bin is not clipped below and the last not
    above, so values outside the training range extrapolate linearly. Input ``(batch, 1)``; output
    ``(batch, T)``: a thermometer code with a linear ramp that an MLP turns into a smooth step function.
    """

    def __init__(self, edges=(0.0, 1.0), **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.edges = [float(e) for e in edges]
        if len(self.edges) < 2 or any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"edges must be at least two increasing values; got {edges!r}")

    def call(self, x):
        x = ops.cast(x, "float32")
        lo = ops.convert_to_tensor(self.edges[:-1], dtype="float32")
        width = ops.convert_to_tensor(
            [b - a for a, b in zip(self.edges, self.edges[1:], strict=False)], dtype="float32"
        )
        r = (x - lo) / width  # (batch, T)
        t = len(self.edges) - 1
        if t == 1:
            return r
        first = ops.minimum(r[:, :1], 1.0)
        last = ops.maximum(r[:, -1:], 0.0)
        middle = ops.clip(r[:, 1:-1], 0.0, 1.0)
        return ops.concatenate([first, middle, last], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.edges) - 1)

    def get_config(self):
        return {**super().get_config(), "edges": self.edges}


def quantile_edges(values, bins: int) -> list[float]:
    """Up to ``bins`` + 1 distinct quantile edges of the finite ``values`` (fewer when values repeat)."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or bins < 1:
        return []
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, bins + 1)))
    return [float(e) for e in edges] if edges.size >= 2 else []


@keras.saving.register_keras_serializable(package="tfdl")
class TreeEnsemble(keras.layers.Layer):
    """A fitted scikit-learn HistGradientBoosting model evaluated in the graph: every tree is walked from its
    root, one level per step of a graph loop (a numeric split sends ``x <= threshold`` left, a missing value
    to the side the tree learnt), and the leaf values are summed per output with the model's baseline.

    The node arrays are non-trainable weights (saved in ``model.keras`` and the SavedModel); the config
    holds only their shapes. Fill them with :func:`tree_ensemble_weights`. Input ``(batch, features)``
    float32 with NaN = missing (categories as ordinal codes); output ``(batch, outputs)`` raw scores (the
    regression value, or logits). Zeros in training (``training=True``): :class:`Blend`, which reads it,
    trains the network alone.
    """

    def __init__(self, trees=1, nodes=1, depth=1, outputs=1, **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.trees, self.nodes, self.depth, self.outputs = int(trees), int(nodes), int(depth), int(outputs)
        tn = (self.trees * self.nodes,)

        def w(name, shape, dtype):
            return self.add_weight(name=name, shape=shape, dtype=dtype, initializer="zeros", trainable=False)

        self.feature = w("feature", tn, "int32")
        self.threshold = w("threshold", tn, "float32")
        self.missing_left = w("missing_left", tn, "int32")
        self.left = w("left", tn, "int32")
        self.right = w("right", tn, "int32")
        self.is_leaf = w("is_leaf", tn, "int32")
        self.value = w("value", tn, "float32")
        self.tree_output = w("tree_output", (self.trees, self.outputs), "float32")  # one-hot
        self.baseline = w("baseline", (self.outputs,), "float32")

    def call(self, x, training=None):
        if training:
            # a Blend trains its network alone: the trees' scores are not read in training, so the training
            # step does not walk them (a graph loop is not pruned as dead code: it would cost every step)
            return ops.zeros((ops.shape(x)[0], self.outputs), dtype="float32")
        # TensorFlow ops in a graph loop (this layer runs on the TensorFlow backend only): the loop body is
        # traced once whatever the depth (unrolled, a 20-deep ensemble traced ~1,000 ops, ~1.5 s per trace),
        # and one gather per level reads a node's feature, children and missing side together. Node ids
        # are global (tree * nodes + node); a leaf's children are itself, so a row that reached its leaf
        # stays there for the remaining levels.
        import tensorflow as tf

        x = tf.cast(x, tf.float32)
        ids = tf.range(self.trees * self.nodes, dtype=tf.int32)
        first = (ids // self.nodes) * self.nodes  # each node's tree offset
        leaf = self.is_leaf > 0
        table = tf.stack(
            [
                self.feature,
                tf.where(leaf, ids, first + self.left),
                tf.where(leaf, ids, first + self.right),
                self.missing_left,
            ],
            axis=1,
        )  # (trees * nodes, 4)
        roots = tf.range(self.trees, dtype=tf.int32) * self.nodes
        node = tf.zeros((tf.shape(x)[0], self.trees), tf.int32) + roots[None, :]

        def level(i, node):
            row = tf.gather(table, node)  # (batch, trees, 4)
            xv = tf.gather(x, row[..., 0], batch_dims=1)
            go_left = tf.where(tf.math.is_nan(xv), row[..., 3] > 0, xv <= tf.gather(self.threshold, node))
            return i + 1, tf.where(go_left, row[..., 1], row[..., 2])

        _, node = tf.while_loop(lambda i, _: i < self.depth, level, (tf.constant(0), node))
        leaves = tf.gather(self.value, node)  # (batch, trees)
        return tf.matmul(leaves, self.tree_output) + self.baseline

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "trees": self.trees,
            "nodes": self.nodes,
            "depth": self.depth,
            "outputs": self.outputs,
        }


def tree_ensemble_weights(model) -> tuple[dict, list]:
    """(TreeEnsemble config, weights in its order) for a fitted HistGradientBoosting model with numeric
    splits only (fit it without ``categorical_features``)."""
    import numpy as np

    trees = [(k, p.nodes) for per_iter in model._predictors for k, p in enumerate(per_iter)]
    if any(n["is_categorical"].any() for _, n in trees):
        raise ValueError("TreeEnsemble walks numeric splits only; fit without categorical_features")
    n_nodes = max(len(n) for _, n in trees)
    outputs = len(model._predictors[0]) if model._predictors else 1
    depth = max(1, max(int(n["depth"].max()) for _, n in trees))
    t = len(trees)
    arr = {
        k: np.zeros((t, n_nodes), d)
        for k, d in [
            ("feature", np.int32),
            ("threshold", np.float32),
            ("missing_left", np.int32),
            ("left", np.int32),
            ("right", np.int32),
            ("value", np.float32),
        ]
    }
    arr["is_leaf"] = np.ones((t, n_nodes), np.int32)  # padding nodes are leaves nobody reaches
    onehot = np.zeros((t, outputs), np.float32)
    for i, (k, n) in enumerate(trees):
        m = len(n)
        arr["feature"][i, :m] = n["feature_idx"]
        arr["threshold"][i, :m] = n["num_threshold"]
        arr["missing_left"][i, :m] = n["missing_go_to_left"]
        arr["left"][i, :m] = n["left"]
        arr["right"][i, :m] = n["right"]
        arr["is_leaf"][i, :m] = n["is_leaf"]
        arr["value"][i, :m] = n["value"]
        onehot[i, k] = 1.0
    baseline = np.asarray(model._baseline_prediction, np.float32).reshape(-1)
    config = {"trees": t, "nodes": n_nodes, "depth": depth, "outputs": outputs}
    order = ["feature", "threshold", "missing_left", "left", "right", "is_leaf", "value"]
    return config, [arr[k].reshape(-1) for k in order] + [onehot, baseline]


@keras.saving.register_keras_serializable(package="tfdl")
class Blend(keras.layers.Layer):
    """A convex blend of the members' outputs at inference, ``sum_i weight_i * member_i``; the network
    alone in training (so it learns the target, not the other members' residuals on data they have
    memorised).

    Inputs: ``[network, trees, *others]`` (``members`` of them). ``kind``: ``regression`` (every member in
    the standardised target space), ``binary`` (network class probabilities, trees one logit) or
    ``multiclass`` (network probabilities, trees logits); members after the trees (the linear model) give
    class probabilities or the standardised target as they are. The weights are a non-trainable variable
    (starting at ``[weight, 1 - weight, 0, ...]``), chosen on validation after training by ``rule`` (``min``:
    the lowest validation loss; ``1se``: the one-standard-error rule toward the last member; see
    ``apps.tabular``).
    """

    def __init__(self, kind="regression", weight=0.5, members=2, rule="min", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if kind not in ("regression", "binary", "multiclass"):
            raise ValueError(f"kind must be regression, binary or multiclass; got {kind!r}")
        if int(members) < 2:
            raise ValueError(f"a blend needs at least 2 members (network, trees); got {members!r}")
        self.kind, self.members, self.rule = kind, int(members), str(rule)
        start = [float(weight), 1.0 - float(weight)] + [0.0] * (self.members - 2)
        self.blend_weights = self.add_weight(
            name="weights",
            shape=(self.members,),
            initializer=keras.initializers.Constant(start),
            trainable=False,
        )

    def tree_output(self, trees):
        if self.kind == "binary":
            p = ops.sigmoid(trees)
            return ops.concatenate([1.0 - p, p], axis=-1)
        if self.kind == "multiclass":
            return ops.softmax(trees, axis=-1)
        return trees

    def outputs_of(self, inputs) -> list:
        """Every member's output in the blended space (class probabilities, or the standardised target)."""
        net, trees, *others = (ops.cast(t, "float32") for t in inputs)
        return [net, self.tree_output(trees), *others]

    def call(self, inputs, training=None):
        if training:
            return ops.cast(inputs[0], "float32")
        parts = self.outputs_of(inputs)
        return sum(self.blend_weights[i] * p for i, p in enumerate(parts))

    def load_own_variables(self, store):
        # A model saved before the blend had a linear member holds one scalar weight (the network's).
        old = len(store) == 1 and getattr(store["0"], "ndim", 1) == 0
        if old:
            w = float(store["0"][()])
            self.blend_weights.assign([w, 1.0 - w] + [0.0] * (self.members - 2))
            return
        super().load_own_variables(store)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "members": self.members, "rule": self.rule}
