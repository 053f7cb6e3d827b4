"""``tfdl tune``: a Keras Tuner search over one app model, resumable, distributable, with its results.

Layout: ``runs/<app>/tune-<UTC time>/`` holds ``search/`` (the tuner's own state: oracle, trials,
checkpoints), ``tfdl_trials/`` (per-attempt timing records), ``search.json`` (the search settings),
``trials.csv``, ``best.yaml`` and ``objective.png``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from tfdl import config as cfgmod
from tfdl.app import App
from tfdl.config import RunConfig
from tfdl.errors import TfdlError

PROJECT = "search"
TUNERS = ("random", "hyperband", "bayesian")
MAX_CONSECUTIVE_FAILURES = 3


def tune_dir_for(cfg: RunConfig, app: App, *, resume: bool, directory: Path | None) -> Path:
    """``directory`` when given; with ``resume`` the newest ``tune-*`` of the app; else a new folder."""
    if directory is not None:
        return Path(directory)
    root = Path(cfg.runs_dir) / app.name
    if resume:
        found = sorted(p for p in root.glob("tune-*") if (p / PROJECT).is_dir()) if root.is_dir() else []
        if not found:
            raise TfdlError(
                f"--resume found no search under {root}; start one without --resume: tfdl tune {app.name}"
            )
        return found[-1]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path, n = root / f"tune-{stamp}", 1
    while path.exists():
        n += 1
        path = root / f"tune-{stamp}-{n}"
    return path


def distributed_env(distributed: str | None, oracle: str | None) -> dict[str, str]:
    """The KERASTUNER_* variables of Keras Tuner's chief/worker mode (empty when not distributed).

    Workers are ``tuner<N>`` with N from env ``TFDL_TUNER_ID`` (a number or a full id), else a host+pid
    id: two workers must never share an id (the oracle would hand them the same trial)."""
    if distributed is None:
        if oracle:
            raise TfdlError("--oracle needs --distributed chief|worker; add it or drop --oracle")
        return {}
    if distributed not in ("chief", "worker"):
        raise TfdlError(f"--distributed expects chief or worker; got {distributed!r}")
    host, _, port = (oracle or "").rpartition(":")
    if not host or not port.isdigit():
        raise TfdlError(f"--oracle expects HOST:PORT of the chief (e.g. 127.0.0.1:8000); got {oracle!r}")
    if distributed == "chief":
        tuner_id = "chief"
    else:
        given = os.environ.get("TFDL_TUNER_ID", "").strip()
        if given:
            tuner_id = f"tuner{given}" if given.isdigit() else given
        else:
            tuner_id = f"tuner-{socket.gethostname()}-{os.getpid()}"
        if "chief" in tuner_id:
            raise TfdlError(f"a worker's TFDL_TUNER_ID must not contain 'chief'; got {tuner_id!r}")
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": port}


def _check_settings(tdir: Path, settings: dict, resume: bool) -> None:
    """A resumed search must keep its tuner (Keras Tuner cannot reload one tuner's state into another)."""
    path = tdir / "search.json"
    if resume and path.is_file():
        old = json.loads(path.read_text())
        if old.get("tuner") != settings["tuner"] or old.get("model") != settings["model"]:
            raise TfdlError(
                f"--resume: the search in {tdir} used --tuner {old.get('tuner')}, model {old.get('model')}; "
                f"got --tuner {settings['tuner']} on model {settings['model']}: use the same ones"
            )


def tune(
    app: App,
    cfg: RunConfig,
    *,
    tuner: str = "hyperband",
    max_trials: int = 10,
    max_epochs: int | None = None,
    resume: bool = False,
    retrain_best: bool = False,
    distributed: str | None = None,
    oracle: str | None = None,
    directory: Path | None = None,
    log=print,
) -> list[Path]:
    """Search ``cfg.model.name``'s space for ``app``; returns the written paths (tune folder first).

    Each trial trains on the same split (``app.load_data`` once, ``data.limit`` honoured) for up to
    ``max_epochs`` (default ``train.epochs``) with early stopping on the app's validation objective.
    Three failed trials in a row stop the search with a TfdlError that shows the first error."""
    if tuner not in TUNERS:
        raise TfdlError(f"--tuner expects one of {', '.join(TUNERS)}; got {tuner!r}")
    if max_trials < 1:
        raise TfdlError(f"--max-trials expects a positive number; got {max_trials}")
    if max_epochs is not None and max_epochs < 1:
        raise TfdlError(f"--max-epochs expects a positive number; got {max_epochs}")
    if distributed and directory is None:
        raise TfdlError("--distributed needs --directory: the chief and every worker must share one folder")
    env = distributed_env(distributed, oracle)
    if max_epochs is not None:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": max_epochs})})
    tdir = tune_dir_for(cfg, app, resume=resume, directory=directory)
    is_worker = distributed == "worker"
    settings = {"app": app.name, "model": cfg.model.name, "tuner": tuner, "max_trials": max_trials,
                "max_epochs": cfg.train.epochs, "objective": None}  # fmt: skip
    _check_settings(tdir, settings, resume or is_worker)
    tdir.mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    try:
        return _search(app, cfg, tdir, settings, resume=resume, retrain_best=retrain_best,
                       is_worker=is_worker, is_chief=distributed == "chief", log=log)  # fmt: skip
    finally:
        for k in env:
            os.environ.pop(k, None)


def _search(app, cfg, tdir, settings, *, resume, retrain_best, is_worker, is_chief, log) -> list[Path]:
    from tfdl.pipeline import check_model_params, load_splits
    from tfdl.training.precision import choose_policy
    from tfdl.tuning import results as R
    from tfdl.tuning.hypermodel import AppHyperModel
    from tfdl.tuning.tuners import make_tuner

    policy, why = choose_policy(cfg.train.precision)
    log(f"precision policy: {policy} ({why})")
    check_model_params(app, cfg, forwarded=True)
    splits = load_splits(app, cfg)
    sizes = splits.sizes()
    log(f"data: {splits.info.name} train={sizes['n_train']} val={sizes['n_val']} (test unused)")
    hypermodel = AppHyperModel(app, cfg, splits, policy)
    settings["objective"] = f"{hypermodel.objective.name} ({hypermodel.objective.direction})"
    if not is_worker:
        (tdir / "search.json").write_text(json.dumps({**settings, "config": cfgmod.to_dict(cfg)}, indent=2))
    # Workers never overwrite: the chief owns the folder. Without --resume a fresh search starts over.
    overwrite = not resume and not is_worker
    search = make_tuner(settings["tuner"], hypermodel, tdir, PROJECT, overwrite=overwrite,
                        max_trials=settings["max_trials"], max_epochs=cfg.train.epochs,
                        seed=cfg.train.seed, max_failures=MAX_CONSECUTIVE_FAILURES)  # fmt: skip
    log(f"search: {tdir} ({settings['tuner']}, up to {settings['max_trials']} trials, "
        f"{cfg.train.epochs} epochs each, objective {settings['objective']})")  # fmt: skip
    failure: RuntimeError | None = None
    try:
        search.search(verbose=0)
    except RuntimeError as exc:
        if "consecutive failures" not in str(exc):
            raise
        failure = exc
    if is_worker:
        return [tdir]
    rows = R.trial_rows(search.oracle, tdir)
    paths = [tdir, R.write_trials_csv(rows, tdir / "trials.csv")]
    if rows:
        paths.append(R.plot_objective(rows, tdir / "objective.png", hypermodel.objective.direction))
    if failure is not None:
        raise TfdlError(_failure_message(search.oracle, tdir / "trials.csv"))
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    if not completed:
        raise TfdlError(f"no trial completed; see the errors in {tdir / 'trials.csv'}")
    from tfdl.tuning.best import best_config, retrain

    best_cfg, best = best_config(search, hypermodel, rows)
    best_yaml = tdir / "best.yaml"
    cfgmod.dump_yaml(best_cfg, best_yaml)
    paths.append(best_yaml)
    log(f"best trial {best['trial_id']}: {best['metric']}={best['objective']:.4f} "
        f"({len(completed)} of {len(rows)} trials completed)")  # fmt: skip
    if retrain_best:
        paths.extend(retrain(app, best_cfg, splits, tdir, best, settings, log=log))
    return paths


def _failure_message(oracle, csv_path: Path) -> str:
    from tfdl.tuning.results import error_line

    streak = []
    for tid in oracle.end_order:
        streak = [*streak, tid] if oracle.trials[tid].status == "FAILED" else []
    first = oracle.trials[streak[0]] if streak else None
    what = error_line(first.message) if first is not None else "unknown error"
    return (
        f"{MAX_CONSECUTIVE_FAILURES} trials failed in a row, search stopped; first error "
        f"(trial {first.trial_id if first else '?'}): {what}; fix the model settings or narrow the "
        f"search with --set (all errors in {csv_path})"
    )
