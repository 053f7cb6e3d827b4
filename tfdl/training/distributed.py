"""A custom training loop for MultiWorkerMirroredStrategy.

Keras 3's ``Model.fit`` cannot run under MultiWorkerMirroredStrategy (keras-team/keras#20585: the step
logs come back as PerReplica values it cannot convert). This loop uses ``strategy.run`` and the
strategy's all-reduce directly, so workers stay in lock-step and end with identical weights.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def fit_distributed(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    epochs: int,
    steps_per_epoch: int,
    global_batch_size: int,
    strategy,
    log=print,
) -> dict[str, list[float]]:
    """Train ``model`` (built and compiled under ``strategy.scope()``) on a repeated, batched ``dataset``
    (global batches). Returns {"loss": [per-epoch mean loss]}."""
    dist = strategy.experimental_distribute_dataset(dataset)
    loss_fn = model.loss
    optimizer = model.optimizer
    global_batch = global_batch_size

    def step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            # Per-example losses (no reduction), averaged over the GLOBAL batch across workers.
            per_example = loss_fn.call(y, pred) if hasattr(loss_fn, "call") else loss_fn(y, pred)
            per_example = tf.reshape(tf.cast(per_example, tf.float32), [-1])
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            loss += tf.add_n([tf.cast(v, tf.float32) for v in model.losses]) if model.losses else 0.0
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def dist_step(batch):
        losses = strategy.run(step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    history: dict[str, list[float]] = {"loss": []}
    it = iter(dist)
    for epoch in range(epochs):
        total = 0.0
        for _ in range(steps_per_epoch):
            batch = next(it)
            total += float(dist_step(batch))
        history["loss"].append(total / steps_per_epoch)
        log(f"epoch {epoch + 1}/{epochs} loss {history['loss'][-1]:.4f}")
    return history
