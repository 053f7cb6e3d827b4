"""Per-layer gradient norms over the first training steps (``train.log_gradients=true``).

The vanishing / exploding gradient picture (lessons 2 and 12): before each of the first ``steps``
optimizer steps, the gradient of the training loss on one fixed batch of training data is taken at the
current weights, and the L2 norm of each layer's kernel gradient is recorded. A fixed batch makes the
steps comparable (the change is the weights', not the batch's). The norms go to TensorBoard (scalars
``gradient_norm/<layer>``) and stay on the callback (``norms``: layer -> list per step) for the run's
metrics and the studies.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


def kernel_layers(model) -> list:
    """Layers with a trainable ``kernel`` (Dense, Conv, ...), in forward order, nested models included."""
    out, seen = [], set()

    def walk(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and getattr(kernel, "trainable", False) and layer is not model:
            out.append(layer)
        for sub in getattr(layer, "layers", None) or []:
            walk(sub)

    walk(model)
    return out


class GradientNorms(keras.callbacks.Callback):
    """Record ``||dL/dW||`` of each kernel layer before each of the first ``steps`` training steps.

    ``x``, ``y``: the fixed probe batch (a slice of the training data). ``log_dir``: TensorBoard folder,
    or None. Costs one forward + backward pass per logged step (TensorFlow backend)."""

    def __init__(self, x, y, steps: int = 30, log_dir: str | Path | None = None) -> None:
        super().__init__()
        self.x, self.y, self.steps = x, y, int(steps)
        self.log_dir = str(log_dir) if log_dir else None
        self.norms: dict[str, list[float]] = {}
        self._step = 0
        self._writer = None
        self._fn = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        layers = kernel_layers(self.model)
        self._layers = layers
        self.norms = {layer.name: [] for layer in layers}
        kernels = [layer.kernel for layer in layers]
        model = self.model
        x = tf.nest.map_structure(tf.convert_to_tensor, self.x)  # an array, or a dict of columns (tabular)
        y = tf.nest.map_structure(tf.convert_to_tensor, self.y)

        @tf.function
        def norms():
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                loss = model.compute_loss(x=x, y=y, y_pred=pred, training=True)
            grads = tape.gradient(loss, [k.value if hasattr(k, "value") else k for k in kernels])
            return [tf.norm(tf.cast(g, "float32")) if g is not None else tf.constant(np.nan) for g in grads]

        self._fn = norms
        if self.log_dir and self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_train_batch_begin(self, batch, logs=None):
        if self._step >= self.steps:
            return
        # training=True (dropout, batch statistics) without leaving a trace: BatchNorm's moving statistics
        # and the dropout seed state are put back, so the logged run trains exactly as an unlogged one.
        state = [v.numpy() for v in self.model.non_trainable_variables]
        values = [float(v) for v in self._fn()]
        for v, s in zip(self.model.non_trainable_variables, state):
            v.assign(s)
        for layer, v in zip(self._layers, values):
            self.norms[layer.name].append(v)
        if self._writer is not None:
            import tensorflow as tf

            with self._writer.as_default(step=self._step):
                for layer, v in zip(self._layers, values):
                    tf.summary.scalar(f"gradient_norm/{layer.name}", v)
            self._writer.flush()
        self._step += 1

    def summary(self) -> dict:
        """{layer: {"first": norm at step 0, "mean": mean over the logged steps, "per_step": [...]}}."""
        out = {}
        for name, vals in self.norms.items():
            arr = np.asarray(vals, dtype=float)
            out[name] = {
                "first": float(arr[0]) if arr.size else None,
                "mean": float(np.nanmean(arr)) if arr.size else None,
                "per_step": [round(float(v), 8) for v in arr],
            }
        return out
