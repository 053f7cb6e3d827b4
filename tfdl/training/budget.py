"""The training budget on small data: a floor on optimizer steps, and BatchNorm statistics that keep up.

Why (issue 14): 1,400 training images at batch 128 are 11 optimizer steps per epoch. Ten epochs are 110
steps, too few to fit the model; and Keras' BatchNormalization averages its inference statistics with
momentum 0.99 (a memory of ~100 steps), so after a few short epochs they still weigh the initial values
(mean 0, variance 1) and weights from several epochs ago: the validation accuracy falls while the training
accuracy rises. Both fixes work for any model with BatchNormalization, nested ones included.
"""

from __future__ import annotations

import math

# "auto": the initial moving statistics weigh at most this much after the first epoch.
BN_RESIDUAL = 0.05
BN_MIN_MOMENTUM = 0.5


def steps_per_epoch(n_train: int, batch_size: int, epochs: int, min_steps: int = 0) -> int:
    """Optimizer steps per epoch: one pass over the training rows, or more (the data repeats) when
    ``epochs`` passes stay below ``min_steps`` in total."""
    one_pass = max(1, math.ceil(n_train / batch_size))
    return max(one_pass, math.ceil(min_steps / max(1, epochs)))


def auto_bn_momentum(steps: int, default: float = 0.99) -> float:
    """The momentum whose initial value weighs at most ``BN_RESIDUAL`` after ``steps`` updates
    (momentum ** steps <= BN_RESIDUAL), never above the layer's ``default`` nor below BN_MIN_MOMENTUM.
    Large data (hundreds of steps per epoch) keeps Keras' 0.99."""
    return float(min(default, max(BN_MIN_MOMENTUM, BN_RESIDUAL ** (1.0 / max(1, steps)))))


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of ``model``, also inside nested models and layers."""
    import keras

    found, seen = [], set()

    def walk(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        for sub in getattr(layer, "layers", None) or getattr(layer, "_layers", None) or []:
            walk(sub)

    walk(model)
    return found


def set_bn_momentum(model, setting, steps: int) -> float | None:
    """Apply ``train.bn_momentum`` (``auto`` | ``keep`` | a number) to every BN layer before compile;
    ``steps`` is the optimizer steps per epoch. Returns the momentum set (None: none set / no BN)."""
    layers = batchnorm_layers(model)
    if not layers or setting == "keep":
        return None
    value = None
    for layer in layers:
        value = auto_bn_momentum(steps, layer.momentum) if setting == "auto" else float(setting)
        layer.momentum = value
    return value
