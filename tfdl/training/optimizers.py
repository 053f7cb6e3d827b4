"""Optimizers and learning-rate schedules from the config's names."""

from __future__ import annotations

import keras

from tfdl.config import TrainConfig


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


def build_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr = build_schedule(cfg, steps_per_epoch)
    wd = cfg.weight_decay
    name = cfg.optimizer
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr)
    if name == "lion":
        # Lion wants a ~3-10x smaller learning rate than AdamW and a larger weight decay (Chen et al. 2023).
        return keras.optimizers.Lion(learning_rate=lr, weight_decay=wd or None)
    if name == "adafactor":
        return keras.optimizers.Adafactor(learning_rate=lr)
    raise ValueError(f"unknown optimizer. Received: optimizer={name}")
