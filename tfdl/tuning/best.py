"""The best trial as a ``tfdl train`` config; its retraining on train+val into a new SavedModel version."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from tfdl.app import App
from tfdl.config import RunConfig
from tfdl.data.splits import Splits


def best_config(search, hypermodel, rows: list[dict[str, Any]]) -> tuple[RunConfig, dict[str, Any]]:
    """(config of the best trial with ``train.epochs`` = the epochs it needed to reach its best score,
    its trials.csv row). Hyperband's own ``tuner/*`` values are bookkeeping, not settings: dropped."""
    trial = search.oracle.get_best_trials(1)[0]
    # Re-registering on a copy of the trial's own hyperparameters returns its recorded values.
    cfg = hypermodel.sample_config(trial.hyperparameters.copy())
    row = next(r for r in rows if r["trial_id"] == trial.trial_id)
    epochs = row.get("best_epoch") or row.get("epochs") or cfg.train.epochs
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": int(epochs)})})
    return cfg, row


def merge_train_val(splits: Splits) -> Splits:
    """Train = train + val (arrays or dicts of columns); val is kept as it was, for the logs only."""

    def cat(a, b):
        if isinstance(a, dict):
            return {k: np.concatenate([np.asarray(a[k]), np.asarray(b[k])]) for k in a}
        return np.concatenate([np.asarray(a), np.asarray(b)])

    y = None if splits.y_train is None else cat(splits.y_train, splits.y_val)
    return dataclasses.replace(splits, x_train=cat(splits.x_train, splits.x_val), y_train=y)


def retrain(
    app: App, best_cfg: RunConfig, splits: Splits, tune_dir: Path, best: dict, settings: dict, log=print
) -> list[Path]:
    """Train ``best_cfg`` on train+val through the full pipeline (report, baselines on the same rows, test
    metrics), early stopping off, then export a new SavedModel version whose card records the search."""
    from tfdl import pipeline
    from tfdl.export.savedmodel import export_run_model

    merged = merge_train_val(splits)
    train = best_cfg.train.model_copy(update={"early_stopping_patience": 0})
    # data.limit was applied before the merge; the merged rows are the training set as given.
    data = best_cfg.data.model_copy(update={"limit": None})
    cfg = best_cfg.model_copy(update={"train": train, "data": data})
    n = merged.sizes()["n_train"]
    log(f"retraining the best config on train+val ({n} rows) for {train.epochs} epochs")
    retrain_app = dataclasses.replace(app, load_data=lambda _cfg: merged)
    result = pipeline.train(retrain_app, cfg, export=False, log=log)
    search = {
        "tune_dir": str(tune_dir),
        "tuner": settings["tuner"],
        "max_trials": settings["max_trials"],
        "max_epochs": settings["max_epochs"],
        "objective": settings["objective"],
        "best_trial": best["trial_id"],
        "best_objective": best["objective"],
        "hyperparameters": {k[3:]: v for k, v in best.items() if k.startswith("hp.")},
        "retrained_on": "train+val",
        "epochs": train.epochs,
    }
    files = list(result.files)
    if best_cfg.export.enabled:
        version = export_run_model(app, cfg, result.model, result.splits, result.metrics, result.run_dir,
                                   extra={"tuning": search})  # fmt: skip
        files.append(version)
        log(f"exported {version}")
    return files
