"""Optimizers and learning-rate schedules from the config's names."""

from __future__ import annotations

import inspect

import keras

from tfdl.config import TrainConfig
from tfdl.errors import TfdlError


def build_schedule(cfg: TrainConfig, steps_per_epoch: int):
    """``constant`` or ``cosine`` decay with linear warmup (warmup_epochs, then cosine to 0 over the rest)."""
    if cfg.schedule == "constant":
        return cfg.learning_rate
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total - 1)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0,
            decay_steps=total - warmup,
            warmup_target=cfg.learning_rate,
            warmup_steps=warmup,
        )
    return keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=total)


# Decoupled weight decay when train.weight_decay is unset: AdamW and Lion carry it by design.
DEFAULT_WEIGHT_DECAY = {"adamw": 1e-4, "lion": 1e-4}


def optimizer_class(name: str):
    """The Keras optimizer class of a ``train.optimizer`` name."""
    classes = {
        "adamw": keras.optimizers.AdamW,
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "lion": keras.optimizers.Lion,
        "adafactor": keras.optimizers.Adafactor,
    }
    if name not in classes:
        raise ValueError(f"unknown optimizer. Received: optimizer={name}")
    return classes[name]


def takes_weight_decay(cls) -> bool:
    """Whether the optimizer class accepts ``weight_decay`` (every Keras 3 built-in does, via its base)."""
    return "weight_decay" in inspect.signature(cls.__init__).parameters


def weight_decay(cfg: TrainConfig) -> float | None:
    """The decoupled weight decay the optimizer gets: ``train.weight_decay``, else its default (or None)."""
    return cfg.weight_decay if cfg.weight_decay is not None else DEFAULT_WEIGHT_DECAY.get(cfg.optimizer)


def build_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """``train.optimizer`` with the schedule, ``train.weight_decay`` (every optimizer that takes it; a
    one-line error for one that does not) and, for sgd / rmsprop, ``train.momentum`` (+ ``nesterov``).
    ``sgd`` alone is plain SGD. Lion wants a ~3-10x smaller learning rate than AdamW and a larger weight
    decay (Chen et al. 2023)."""
    lr = build_schedule(cfg, steps_per_epoch)
    cls = optimizer_class(cfg.optimizer)
    kw: dict = {"learning_rate": lr}
    wd = weight_decay(cfg)
    if wd == 0 and cls is keras.optimizers.AdamW:
        kw["weight_decay"] = 0.0  # AdamW's own default is 0.004: an explicit 0 must reach it
    elif wd:
        if not takes_weight_decay(cls):
            raise TfdlError(
                f"train.optimizer={cfg.optimizer} has no weight decay; remove train.weight_decay "
                "or use model.l2 (an L2 loss term) instead"
            )
        kw["weight_decay"] = wd
    if cfg.optimizer == "sgd":
        kw.update(momentum=cfg.momentum, nesterov=cfg.nesterov)
    elif cfg.optimizer == "rmsprop":
        kw["momentum"] = cfg.momentum
    if cfg.ema is not None:
        kw.update(use_ema=True, ema_momentum=cfg.ema)
    return cls(**kw)
