"""The one compile-and-fit core shared by ``tfdl train``, ``tfdl tune`` and ``tfdl cv`` (which trains
through ``train``): the same loss, metrics, optimizer and per-model callbacks everywhere.

A model's own hooks (declared on its builder, see :func:`tfdl.app.model_hooks`) take precedence over the
task's defaults: a per-model ``loss``, an ``optimizer`` (vision transfer: discriminative learning rates
per base stage) and ``callbacks`` (gradual unfreezing) apply to a tuning trial as to a training run.
"""

from __future__ import annotations

from typing import Any

from tfdl.tasks import get_task


def fit_targets(app, cfg, splits) -> tuple[Any, Any]:
    """(y_train, y_val) the model is fitted on: the labels, or the model's own ``targets`` hook (an
    autoencoder reconstructs its scaled input)."""
    from tfdl.app import model_hooks

    targets = model_hooks(app, cfg).targets
    return targets(splits) if targets else (splits.y_train, splits.y_val)


def compile_model(app, cfg, model, splits, steps_per_epoch: int) -> None:
    """Compile ``model`` with the model's loss hook or the task's loss, the task's Keras metrics and the
    model's optimizer hook or the config's optimizer (``train.*``, schedule over ``steps_per_epoch``)."""
    from tfdl.app import model_hooks
    from tfdl.training.optimizers import build_optimizer

    hooks = model_hooks(app, cfg)
    task = get_task(cfg.task)
    loss = hooks.loss(cfg, splits) if hooks.loss else task.loss(cfg, splits)
    optimizer = hooks.optimizer(model, cfg, steps_per_epoch) if hooks.optimizer else None
    model.compile(
        optimizer=optimizer if optimizer is not None else build_optimizer(cfg.train, steps_per_epoch),
        loss=loss,
        metrics=task.keras_metrics(),
        steps_per_execution=cfg.train.steps_per_execution,
    )


def model_callbacks(app, cfg, model, steps_per_epoch: int) -> list:
    """The model's own Keras callbacks (appended after the standard ones of train / tune)."""
    from tfdl.app import model_hooks

    hooks = model_hooks(app, cfg)
    return list(hooks.callbacks(model, cfg, steps_per_epoch)) if hooks.callbacks else []
