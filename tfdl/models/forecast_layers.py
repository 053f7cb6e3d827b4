"""Layers of the time-series forecaster that are not learned: a seasonal-profile forecaster that lives in the
Keras graph, and the convex mix of the forecasters the app chooses after training.

``SeasonalProfile`` is MSTL + simple exponential smoothing (the ``mstl_ets`` baseline's recipe) for a model
that only sees a window: the seasonal shape comes from MSTL fitted on the series before the forecast part
(one period of the summed seasonal components, a constant of the model); the window's phase in that period
is the shift that fits the window best (least squares, after removing both means); the level is the
exponentially smoothed seasonally adjusted window. Nothing in it trains, so gradients never reach it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="tfdl")
class SeasonalProfile(keras.layers.Layer):
    """Raw window ``(N, lookback, features)`` -> ``(N, horizon)`` forecast of feature ``0`` in its own units.

    ``profile``: one period (length ``period``) of the seasonal component; ``alpha``: the smoothing weight of
    the level. Both are non-trainable weights, so the app can set them after building (the profile refitted
    on more history, the weight chosen on validation) and the saved model carries them.
    """

    def __init__(self, period, lookback, horizon, alpha=0.2, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.period, self.lookback, self.horizon = int(period), int(lookback), int(horizon)
        if not 1 < self.period <= self.lookback:
            raise ValueError(f"period must be in (1, lookback={self.lookback}]; got {self.period}")
        self.profile = self.add_weight(
            name="profile", shape=(self.period,), initializer="zeros", trainable=False
        )
        self.alpha = self.add_weight(
            name="alpha", shape=(), initializer=keras.initializers.Constant(float(alpha)), trainable=False
        )
        shifts = np.arange(self.period)[:, None]
        self._window_index = (shifts + np.arange(self.lookback)[None, :]) % self.period  # (period, lookback)
        self._forecast_index = (shifts + self.lookback + np.arange(self.horizon)[None, :]) % self.period
        self._age = np.arange(self.lookback - 1, -1, -1, dtype="float32")  # steps before the window's end

    def level_weights(self):
        """Simple exponential smoothing over the window as one weight per step: ``alpha (1 - alpha)^age``,
        the oldest step taking the rest (the level starts at it), so the weights sum to 1."""
        a = ops.cast(self.alpha, "float32")
        w = a * ops.power(1.0 - a, self._age)
        first = ops.power(1.0 - a, float(self.lookback - 1))
        return ops.concatenate([ops.reshape(first, (1,)), w[1:]], axis=0)

    def _shapes(self, index):
        """The profile at every shift: ``(period, len(index[0]))`` (a gather with constant indices)."""
        import tensorflow as tf

        return tf.gather(tf.cast(self.profile, "float32"), index)

    def phase(self, target):
        """The shift of the profile (0 .. period-1 at the window's first step) that fits each window best."""
        shapes = self._shapes(self._window_index)  # (period, lookback)
        shapes = shapes - ops.mean(shapes, axis=1, keepdims=True)
        centred = target - ops.mean(target, axis=1, keepdims=True)
        sse = -2.0 * ops.matmul(centred, ops.transpose(shapes)) + ops.sum(shapes * shapes, axis=1)[None, :]
        import tensorflow as tf

        return tf.argmin(sse, axis=1, output_type="int32")  # keras.ops.argmin adds a TF-Select-only op

    def call(self, inputs):
        target = ops.cast(inputs[:, :, 0], "float32")
        # The phase picks rows by a one-hot product (TFLite builtins only; no gather on a computed index).
        pick = ops.stop_gradient(ops.one_hot(self.phase(target), self.period, dtype="float32"))
        seasonal = ops.matmul(pick, self._shapes(self._window_index))  # (N, lookback)
        level = ops.sum((target - seasonal) * self.level_weights()[None, :], axis=1, keepdims=True)
        return level + ops.matmul(pick, self._shapes(self._forecast_index))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.horizon)

    def get_config(self):
        return {**super().get_config(), "period": self.period, "lookback": self.lookback,
                "horizon": self.horizon}  # fmt: skip


@keras.saving.register_keras_serializable(package="tfdl")
class ForecastMix(keras.layers.Layer):
    """Inputs ``[network, *fixed forecasters]`` (same shape): ``sum_i weights_i * input_i`` at inference, the
    network alone in training (it learns the target, not what the fixed forecasters leave). ``weights`` is
    a non-trainable vector the app sets after training on windows training never saw
    (:func:`apps.timeseries.models.choose_forecaster`), so the saved and exported model serve that choice.
    """

    def __init__(self, members=2, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.members = int(members)
        start = [1.0] + [0.0] * (self.members - 1)
        self.mix_weights = self.add_weight(
            name="weights", shape=(self.members,), initializer=keras.initializers.Constant(start),
            trainable=False,
        )  # fmt: skip

    def call(self, inputs, training=None):
        if training:
            return ops.cast(inputs[0], "float32")
        return sum(self.mix_weights[i] * ops.cast(t, "float32") for i, t in enumerate(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "members": self.members}
