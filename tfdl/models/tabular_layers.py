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
