"""Keras Tuner's tuners with a per-trial record (seconds, epochs reached, RSS, tuner id) added."""

from __future__ import annotations

import os
import time
from pathlib import Path

import keras_tuner as kt

from tfdl.tuning import results as R
from tfdl.tuning.hypermodel import AppHyperModel


class _Recording:
    """Mixin: writes ``tfdl_trials/<trial>.<tuner>.<pid>.start`` when a trial begins and a ``.json`` record
    when it ends (also when it fails), in the process that ran it."""

    def run_trial(self, trial, *args, **kwargs):
        tdir = Path(self.directory)
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
        R.attempt_path(tdir, trial.trial_id, tuner_id, "start").touch()
        t0 = time.perf_counter()
        hm: AppHyperModel = self.hypermodel
        hm.last = {}
        record = {"trial_id": trial.trial_id, "tuner_id": tuner_id, "pid": os.getpid(), "status": "ok"}
        try:
            return super().run_trial(trial, *args, **kwargs)
        except Exception as exc:
            record.update(status="error", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        finally:
            record.update(seconds=round(time.perf_counter() - t0, 3), rss_mb=R.rss_mb(), **hm.last)
            R.write_attempt(tdir, trial.trial_id, tuner_id, record)


class RandomSearch(_Recording, kt.RandomSearch):
    pass


class Hyperband(_Recording, kt.Hyperband):
    pass


class BayesianOptimization(_Recording, kt.BayesianOptimization):
    pass


def make_tuner(
    kind: str,
    hypermodel: AppHyperModel,
    directory: Path,
    project_name: str,
    *,
    overwrite: bool,
    max_trials: int,
    max_epochs: int,
    seed: int,
    max_failures: int,
):
    """A tuner of ``kind`` (random | hyperband | bayesian) over ``hypermodel``; Hyperband is capped at
    ``max_trials`` too (its own budget comes from ``max_epochs``): every search has a stated budget."""
    common = dict(
        hypermodel=hypermodel,
        objective=hypermodel.objective,
        seed=seed,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite,
        max_consecutive_failed_trials=max_failures,
    )
    # While the tuner collects the space it builds the hypermodel once: register hps, build no model.
    hypermodel.declaring = True
    try:
        if kind == "random":
            return RandomSearch(max_trials=max_trials, **common)
        if kind == "bayesian":
            return BayesianOptimization(max_trials=max_trials, **common)
        tuner = Hyperband(max_epochs=max_epochs, factor=3, **common)
        tuner.oracle.max_trials = max_trials
        return tuner
    finally:
        hypermodel.declaring = False
