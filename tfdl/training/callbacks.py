"""The callback list every run uses, in the order that makes resume work."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


class NaNGuard(keras.callbacks.Callback):
    """Stop on a NaN/inf loss and remember where, so the pipeline can say how to fix it."""

    def __init__(self) -> None:
        super().__init__()
        self.bad_epoch: int | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.bad_epoch = self._epoch + 1
            self.model.stop_training = True


def ema_swap(ema: float | None) -> list[keras.callbacks.Callback]:
    """``[SwapEMAWeights(swap_on_epoch=True)]`` when the optimizer keeps a moving average of the weights
    (``train.ema`` set), else ``[]``: placed before the callbacks that read validation or save weights, they
    see the average (Keras evaluates validation with it in either case)."""
    return [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema is not None else []


def standard_callbacks(
    run_dir: Path,
    *,
    early_stopping_patience: int,
    monitor: str = "val_loss",
    tensorboard: bool = True,
    ema: float | None = None,
) -> tuple[list[keras.callbacks.Callback], NaNGuard]:
    """BackupAndRestore FIRST (a killed run resumes at its last finished epoch with the same weights
    and optimizer step), then NaN guard, early stopping with best weights, checkpoint, CSV history,
    TensorBoard. With ``ema`` (``train.ema`` set: the optimizer keeps a moving average of the weights), Keras'
    ``SwapEMAWeights`` comes after the backup (which saves the raw weights and, in the optimizer, the
    average) and before early stopping and the checkpoint: validation, the best epoch's weights and the
    checkpoint are the average's."""
    guard = NaNGuard()
    cbs: list[keras.callbacks.Callback] = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup"), delete_checkpoint=True),
        guard,
    ]
    cbs += ema_swap(ema)
    if early_stopping_patience > 0:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=early_stopping_patience, restore_best_weights=True
            )
        )
    cbs.append(
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.weights.h5"),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
        )
    )
    # append=True keeps the epochs logged before a kill; the pipeline trims rows past the resume point.
    cbs.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True))
    if tensorboard:
        cbs.append(
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False, profile_batch=0)
        )
    return cbs, guard
