"""A ``keras_tuner.HyperModel`` over one app model: the builder, training core and split of ``tfdl train``."""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import keras_tuner as kt

from tfdl import pipeline
from tfdl.app import App
from tfdl.config import RunConfig
from tfdl.data.splits import Splits, n_rows
from tfdl.models.search import sample
from tfdl.training.budget import set_bn_momentum
from tfdl.training.callbacks import NaNGuard, ema_swap
from tfdl.training.fit import compile_model, fit_targets, model_callbacks
from tfdl.training.precision import apply_policy
from tfdl.tuning import space as S


def objective_for(task: str) -> kt.Objective:
    """The task's validation objective (:meth:`tfdl.tasks.Task.tuner_objective`): accuracy for
    classification, the loss otherwise."""
    from tfdl.tasks import get_task

    return kt.Objective(*get_task(task).tuner_objective())


class AppHyperModel(kt.HyperModel):
    """Builds ``app.models[cfg.model.name](splits, cfg, **params)`` with sampled params and trains it
    on the fixed split with the compile-and-fit core of ``tfdl train`` (:mod:`tfdl.training.fit`: the
    task's loss and metrics, the model's own optimizer and callbacks) and the NaN guard.

    ``cfg.model`` keyword arguments are fixed (``hp.Fixed``); training knobs the user set are fixed too.
    ``last`` holds facts of the newest fit (epochs reached, seconds) for the trial record.
    """

    def __init__(self, app: App, cfg: RunConfig, splits: Splits, policy: str) -> None:
        super().__init__(name=f"{app.name}-{cfg.model.name}")
        self.app, self.cfg, self.splits, self.policy = app, cfg, splits, policy
        self.builder = app.models[cfg.model.name]
        self.model_space = S.model_space(app, cfg.model.name)
        self.model_defaults = S.builder_defaults(self.builder)
        self.train_defaults = {k: getattr(cfg.train, k) for k in S.TRAINING_SPACE}
        self.fixed_model = cfg.model.params()
        self.fixed_train = S.fixed_training(app, cfg)
        self.objective = objective_for(cfg.task)
        self.declaring = False  # True while Keras Tuner only collects the space (no model is built)
        self.trial_cfg: RunConfig | None = None
        self.last: dict[str, Any] = {}
        self.last_callbacks: list = []  # the newest fit's callbacks (the model's own included)
        self.y_train, self.y_val = fit_targets(app, cfg, splits)

    def sample_config(self, hp: kt.HyperParameters) -> RunConfig:
        """Register the space on ``hp`` and return the run config of these values."""
        model_params = sample(
            hp, self.model_space, self.fixed_model, factory=S.defaults_callable(self.model_defaults)
        )
        train_params = sample(
            hp, S.TRAINING_SPACE, self.fixed_train, factory=S.defaults_callable(self.train_defaults)
        )
        return S.apply_values(self.cfg, model_params, train_params)

    def build(self, hp: kt.HyperParameters):
        # Free the previous trial's graph and layers first: memory stays flat over a long search.
        keras.backend.clear_session()
        cfg = self.sample_config(hp)
        if self.declaring:
            return None
        self.trial_cfg = cfg
        keras.utils.set_random_seed(cfg.train.seed)
        apply_policy(self.policy)
        steps = max(1, -(-n_rows(self.splits.x_train) // cfg.train.batch_size))
        model = pipeline.build_model(self.app, cfg, self.splits)
        set_bn_momentum(model, cfg.train.bn_momentum, steps)  # as in training: short epochs, lower momentum
        compile_model(self.app, cfg, model, self.splits, steps)  # the per-model optimizer hook too
        self.steps = steps
        return model

    def fit(self, hp: kt.HyperParameters, model, *args, **kwargs):
        """Train on the tuner's budget (``epochs``/``initial_epoch`` from Hyperband, else train.epochs)."""
        cfg = self.trial_cfg or self.sample_config(hp)
        batch, seed = cfg.train.batch_size, cfg.train.seed
        train_ds = pipeline.make_dataset(self.splits.x_train, self.y_train, batch, shuffle=True, seed=seed)
        val_ds = pipeline.make_dataset(self.splits.x_val, self.y_val, batch, shuffle=False, seed=seed)
        guard = NaNGuard()
        steps = getattr(self, "steps", max(1, -(-n_rows(self.splits.x_train) // batch)))
        # The model's own callbacks (vision transfer: gradual unfreezing), as in `tfdl train`.
        own = model_callbacks(self.app, cfg, model, steps)
        # train.ema: the average first, so Keras Tuner's own callbacks record and save it
        callbacks = [*ema_swap(cfg.train.ema), *kwargs.pop("callbacks", []), guard, *own]
        self.last_callbacks = callbacks
        if cfg.train.early_stopping_patience > 0:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=self.objective.name,
                    mode=self.objective.direction,
                    patience=cfg.train.early_stopping_patience,
                    restore_best_weights=True,
                )
            )
        epochs = int(kwargs.pop("epochs", cfg.train.epochs))
        initial_epoch = int(kwargs.pop("initial_epoch", 0))
        t0 = time.perf_counter()
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=kwargs.pop("verbose", 0),
            shuffle=False,
        )
        self.last = {
            "epochs": (max(history.epoch) + 1) if history.epoch else initial_epoch,
            "fit_seconds": round(time.perf_counter() - t0, 3),
        }
        bad = guard.bad_epoch
        for key in ("loss", "val_loss"):
            values = history.history.get(key, [])
            if bad is None and values and not math.isfinite(float(values[-1])):
                bad = history.epoch[-1] + 1
        if bad is not None:
            # FailedTrialError: recorded as FAILED, not retried, the search goes on.
            raise kt.errors.FailedTrialError(
                f"loss became NaN/inf in epoch {bad} "
                f"(learning_rate={cfg.train.learning_rate}, optimizer={cfg.train.optimizer})"
            )
        return history
