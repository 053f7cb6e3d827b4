"""The one pipeline every app runs: data -> model -> train -> evaluate vs baselines -> report -> export.

An app never re-implements a step; it plugs hooks into :class:`tfdl.app.App`.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfdl import config as cfgmod
from tfdl.app import App, model_hooks
from tfdl.data.splits import Splits, limit_train, n_rows
from tfdl.errors import TfdlError
from tfdl.tasks import get_task


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    files: list[Path] = field(default_factory=list)
    model: Any = None
    splits: Splits | None = None


def resolve_config(app: App, raw: dict | None = None, overrides: list[str] | None = None) -> cfgmod.RunConfig:
    """App defaults < the model's defaults (``@hooks(defaults=...)`` on its builder) < config file < --set
    overrides; the app name is filled in."""
    base = cfgmod.apply_overrides({}, [f"{k}={v}" for k, v in app.defaults.items()])
    cfg = cfgmod.build_config(app.config_class, _deep_merge(base, raw or {}), overrides)
    per_model = model_hooks(app, cfg.model.name or app.default_model).defaults
    if per_model:
        base = cfgmod.apply_overrides(base, [f"{k}={v}" for k, v in per_model.items()])
        cfg = cfgmod.build_config(app.config_class, _deep_merge(base, raw or {}), overrides)
    cfg.app = app.name
    if cfg.task is None:
        cfg.task = app.task
    if cfg.model.name is None:
        cfg.model.name = app.default_model
    if cfg.model.name not in app.models:
        raise TfdlError(
            f"unknown model '{cfg.model.name}' for app {app.name}; choose one of: {', '.join(app.models)}"
        )
    check_model_params(app, cfg)
    return cfg


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def model_param_names(app: App, model_name: str, *, forwarded: bool = False) -> list[str] | None:
    """The ``model.*`` keys a model builder accepts, or None when it cannot be told without importing
    its factory (a builder with ``**kw``; ``forwarded=True`` imports the factory named by ``forwards``)."""
    builder = app.models[model_name]
    params = inspect.signature(builder).parameters.values()
    own = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    if not any(p.kind == p.VAR_KEYWORD for p in params):
        return own
    target = getattr(builder, "forwards_to", None)
    if not forwarded or target is None:
        return None
    module, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    fixed = set(getattr(builder, "fixed_args", ()))
    more = [
        p.name
        for p in inspect.signature(factory).parameters.values()
        if p.default is not p.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return [*own, *(n for n in more if n not in fixed and n not in own)]


def check_model_params(app: App, cfg: cfgmod.RunConfig, *, forwarded: bool = False) -> None:
    """Unknown ``model.*`` keys are one-line errors naming the allowed ones. At config time builders with
    ``**kw`` pass; ``forwarded=True`` (train/tune, TensorFlow already imported) checks them too."""
    allowed = model_param_names(app, cfg.model.name, forwarded=forwarded)
    if allowed is None:
        return
    for key in cfg.model.params():
        if key not in allowed:
            raise TfdlError(
                f"unknown config key 'model.{key}' for model {cfg.model.name}; allowed: "
                f"name, {', '.join(allowed)}"
            )


def default_loss(cfg: cfgmod.RunConfig, splits: Splits | None = None):
    """The task's loss (:meth:`tfdl.tasks.Task.loss`)."""
    return get_task(cfg.task).loss(cfg, splits)


def default_metrics(task: str) -> list:
    """The task's compiled Keras metrics (:meth:`tfdl.tasks.Task.keras_metrics`)."""
    return get_task(task).keras_metrics()


def make_dataset(x, y, batch_size: int, *, shuffle: bool, seed: int):
    """tf.data pipeline from in-memory arrays: cache -> shuffle (train only) -> batch -> prefetch."""
    import tensorflow as tf

    data = (x, y) if y is not None else x
    ds = tf.data.Dataset.from_tensor_slices(data).cache()
    if shuffle:
        ds = ds.shuffle(min(n_rows(x), 50_000), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_verbosity() -> int:
    """Keras ``verbose``: a per-step progress bar on a terminal (1), one line per epoch in logs and CI (2)."""
    import sys

    return 1 if sys.stdout.isatty() else 2


def build_model(app: App, cfg: cfgmod.RunConfig, splits: Splits):
    try:
        return app.models[cfg.model.name](splits, cfg, **cfg.model.params())
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        key = str(exc).rsplit("argument", 1)[-1].strip(" '\"")
        raise TfdlError(
            f"unknown config key 'model.{key}' for model {cfg.model.name}; check the spelling"
        ) from None


def predict(app: App, model, x, batch_size: int = 512, cfg: cfgmod.RunConfig | None = None) -> np.ndarray:
    """Outputs to evaluate: the model's ``predict`` hook (anomaly: scores), else ``model.predict``."""
    hook = model_hooks(app, cfg).predict
    if hook is not None:
        return hook(model, x)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def evaluate_all(app: App, cfg: cfgmod.RunConfig, model, splits: Splits, log=print) -> tuple[dict, dict]:
    """Test metrics of the model and of every baseline on the same split. Returns (metrics, predictions)."""
    from tfdl.evaluation import metrics as M

    kw = evaluation_kwargs(app, cfg, splits)
    log(f"evaluating on the test split ({n_rows(splits.x_test)} examples)")
    raw = predict(app, model, splits.x_test, cfg=cfg)
    # What is served (classification: probabilities divided by the calibration temperature) is judged.
    pred = get_task(cfg.task).served_output(raw, splits.info)
    test = M.evaluate(cfg.task, splits.y_test, pred, splits.info, **kw)
    baselines: dict[str, dict] = {}
    preds = {"model": pred}
    # The model's decision threshold (eval.threshold) is its own: baselines are scored at their 0.5.
    base_kw = {k: v for k, v in kw.items() if k != "decision_threshold"}
    kws = {"model": kw}
    for name, fn in app.baselines.items():
        log(f"fitting baseline {name}")
        bpred, bkw = baseline_output(fn(splits))
        if bpred is None:  # the baseline does not apply to this data (e.g. a daily season on monthly data)
            log(f"baseline {name} does not apply to this data; skipped")
            continue
        preds[name] = bpred
        # A baseline may calibrate its own evaluation (its own validation threshold) while fitting.
        kws[name] = {**base_kw, **bkw}
        baselines[name] = M.evaluate(cfg.task, splits.y_test, bpred, splits.info, **kws[name])
    # "_kws" / "_raw" are for evaluation_summary (bootstrap, calibration), not metrics.json.
    return {"test": test, "baselines": baselines, "_kws": kws, "_raw": raw}, preds


def baseline_output(out) -> tuple[np.ndarray, dict]:
    """A baseline returns test predictions, or ``(predictions, evaluation kwargs)`` when it calibrated
    something of its own on validation (anomaly baselines: their threshold)."""
    if isinstance(out, tuple):
        pred, kw = out
        return pred, dict(kw or {})
    return out, {}


def fit_state(app: App, cfg: cfgmod.RunConfig, model, splits: Splits) -> None:
    """Run the app's ``fit_state`` hook (train/val only: e.g. the anomaly threshold) and merge what it
    returns into the typed data info, which evaluation and export read. No plots: ``tfdl export`` runs
    it again on a finished run."""
    from tfdl.evaluation.review import fit_on_validation

    if app.fit_state is not None:
        splits.info.update(app.fit_state(model, splits, cfg))
    # Calibration temperature, decision threshold, forecast interval half-widths (validation only).
    splits.info.update(fit_on_validation(app, cfg, model, splits))


def evaluation_kwargs(app: App, cfg: cfgmod.RunConfig, splits: Splits) -> dict:
    """What the task's evaluation reads from the data info (labels, MASE scale, threshold)."""
    return get_task(cfg.task).evaluation_kwargs(splits.info)


def train(
    app: App,
    cfg: cfgmod.RunConfig,
    *,
    export: bool = True,
    log=print,
) -> RunResult:
    """Run the whole pipeline for ``app`` with the resolved ``cfg``; returns the run folder and metrics."""
    import keras

    from tfdl.evaluation.metrics import check_headline
    from tfdl.evaluation.review import check_eval
    from tfdl.runs import new_or_resumed_run
    from tfdl.tracking import check_uri
    from tfdl.training.budget import set_bn_momentum, steps_per_epoch
    from tfdl.training.callbacks import standard_callbacks
    from tfdl.training.fit import compile_model, fit_targets, model_callbacks
    from tfdl.training.precision import apply_policy, choose_policy
    from tfdl.training.strategy import build_strategy, is_chief

    check_model_params(app, cfg, forwarded=True)  # before the run folder: a typo leaves nothing behind
    check_uri(cfg.tracking.uri)  # an unreachable tracking server fails now, not after training
    check_headline(cfg.eval.headline)
    splits = load_splits(app, cfg)  # so does bad data
    check_eval(cfg, splits)  # eval.threshold / eval.groups that do not fit this data
    resolved = cfgmod.to_dict(cfg)
    run_dir, resumed = new_or_resumed_run(cfg.runs_dir, app.name, resolved)
    if not is_chief():
        run_dir = run_dir / f"worker-{os.getpid()}"
        run_dir.mkdir(parents=True, exist_ok=True)
    cfgmod.dump_yaml(cfg, run_dir / "config.yaml")
    log(f"{'resuming' if resumed else 'run'}: {run_dir}")

    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    policy, why = choose_policy(cfg.train.precision)
    apply_policy(policy)
    log(f"precision policy: {policy} ({why})")

    sizes = splits.sizes()
    log(f"data: {splits.info.name} train={sizes['n_train']} val={sizes['n_val']} test={sizes['n_test']}")
    y_train, y_val = fit_targets(app, cfg, splits)

    strategy = build_strategy(cfg.train.distribution)
    batch = cfg.train.batch_size
    one_pass = max(1, -(-sizes["n_train"] // batch))
    # train.min_steps: small data gets longer epochs (the data repeats) instead of too few steps.
    steps = steps_per_epoch(sizes["n_train"], batch, cfg.train.epochs, cfg.train.min_steps)
    if steps > one_pass:
        log(f"budget: {steps} steps per epoch ({steps / one_pass:.1f} passes) to reach train.min_steps")
    with strategy.scope():
        model = build_model(app, cfg, splits)
        bn = set_bn_momentum(model, cfg.train.bn_momentum, steps)
        compile_model(app, cfg, model, splits, steps)
    train_ds = make_dataset(splits.x_train, y_train, batch, shuffle=True, seed=cfg.train.seed)
    if steps > one_pass:
        train_ds = train_ds.repeat()
    val_ds = make_dataset(splits.x_val, y_val, batch, shuffle=False, seed=cfg.train.seed)
    callbacks, guard = standard_callbacks(
        run_dir, early_stopping_patience=cfg.train.early_stopping_patience, ema=cfg.train.ema
    )
    callbacks = [*callbacks, *model_callbacks(app, cfg, model, steps)]
    grad_log = gradient_callback(cfg, splits, y_train, run_dir / "tensorboard" / "gradients")
    if grad_log is not None:
        callbacks.append(grad_log)
    if resumed:
        _trim_history(run_dir / "history.csv", run_dir / "backup")

    t0 = time.perf_counter()
    if cfg.train.distribution == "multi_worker":
        # Keras 3's fit() fails under MultiWorkerMirroredStrategy (keras-team/keras#20585): own loop.
        from tfdl.training.distributed import fit_distributed

        repeated = make_dataset(splits.x_train, y_train, batch, shuffle=True, seed=cfg.train.seed).repeat()
        hist = fit_distributed(
            model,
            repeated,
            epochs=cfg.train.epochs,
            steps_per_epoch=steps,
            global_batch_size=batch,
            strategy=strategy,
            log=log,
        )
        history = type("History", (), {"epoch": list(range(len(hist["loss"]))), "history": hist})()
    else:
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.train.epochs,
            steps_per_epoch=steps if steps > one_pass else None,
            callbacks=callbacks,
            verbose=fit_verbosity(),
            shuffle=False,
        )
    train_seconds = time.perf_counter() - t0
    if guard.bad_epoch is not None:
        raise TfdlError(
            f"the loss became NaN/inf in epoch {guard.bad_epoch}; lower train.learning_rate "
            f"(now {cfg.train.learning_rate}) or set train.precision=float32"
        )
    # Epoch indices are absolute, so a resumed run still reports the epochs the model has seen.
    epochs_run = (max(history.epoch) + 1) if history.epoch else 0
    samples = len(history.epoch) * (sizes["n_train"] if steps == one_pass else steps * batch)

    summary, preds = evaluation_summary(app, cfg, model, splits, run_dir, log=log)
    metrics = {
        "app": app.name,
        "model": cfg.model.name,
        "task": cfg.task,
        "dataset": {
            "name": splits.info.name,
            "source": splits.info.source,
            "fingerprint": splits.info.fingerprint,
            **sizes,
            **({"cv": splits.info.cv} if splits.info.cv else {}),
        },
        "precision_policy": policy,
        "precision_reason": why,
        "epochs_run": epochs_run,
        "steps_per_epoch": steps,
        "optimizer_steps": len(history.epoch) * steps,
        "bn_momentum": bn,
        "parameters": int(model.count_params()),
        **({"gradient_norms": grad_log.summary()} if grad_log is not None else {}),
        "train_seconds": round(train_seconds, 2),
        "samples_per_second": round(samples / train_seconds, 1) if train_seconds > 0 else 0.0,
        "resumed": resumed,
        "deterministic": cfg.train.deterministic,
        **summary,
        "notes": splits.info.notes,
    }

    log("writing the report" + (" (plots, explanations of the top losses)" if app.report else ""))
    files = finish_run(app, cfg, model, splits, metrics, preds, run_dir)
    version = None
    if export and cfg.export.enabled and is_chief():
        from tfdl.export.savedmodel import export_run_model

        log("exporting a SavedModel version (reloaded in a fresh process to check its outputs)")
        version = export_run_model(app, cfg, model, splits, metrics, run_dir)
        files.append(version)
    if cfg.tracking.uri and is_chief():
        track(cfg, metrics, run_dir, version, log)
    return RunResult(run_dir, metrics, files, model, splits)


def gradient_callback(cfg: cfgmod.RunConfig, splits: Splits, y_train, log_dir: Path | None):
    """``train.log_gradients=true``: per-layer gradient norms on one fixed training batch over the first
    ``train.gradient_steps`` steps (:class:`tfdl.training.gradients.GradientNorms`), else None."""
    if not cfg.train.log_gradients:
        return None
    from tfdl.data.splits import take
    from tfdl.training.gradients import GradientNorms

    idx = np.arange(min(cfg.train.batch_size, n_rows(splits.x_train)))
    return GradientNorms(take(splits.x_train, idx), take(y_train, idx), cfg.train.gradient_steps, log_dir)


def track(cfg: cfgmod.RunConfig, metrics: dict, run_dir: Path, version: Path | None, log=print) -> None:
    """Log a finished run to MLflow; a failure here is a warning: the run folder is already complete."""
    from tfdl.tracking import log_run

    log(f"tracking: logging the run to MLflow at {cfg.tracking.uri} ...")
    try:
        run_id = log_run(cfg.tracking.uri, cfgmod.to_dict(cfg), metrics, run_dir, version)
    except Exception as err:  # the run itself succeeded; never lose it to a tracking hiccup
        log(f"warning: MLflow tracking failed ({type(err).__name__}: {str(err).splitlines()[0][:160]}); "
            f"the run is complete in {run_dir}")  # fmt: skip
        return
    log(f"tracking: MLflow run {run_id}")


def load_splits(app: App, cfg: cfgmod.RunConfig) -> Splits:
    """The app's splits (``data.limit`` applied); refuses ``data.folds`` without pooled data."""
    splits = limit_train(app.load_data(cfg), cfg.data.limit, cfg.data.seed)
    if splits.info.task:  # the loader decided the task from the data (tabular): one place sets it
        cfg.task = splits.info.task
    if cfg.data.folds and splits.info.cv is None:
        raise TfdlError(
            f"data.folds is not available for {app.name} on {splits.info.name}: it has a fixed (official) "
            "test split; remove data.folds or use a data set the app splits itself"
        )
    return splits


def evaluation_summary(app: App, cfg, model, splits: Splits, run_dir: Path, log=print) -> tuple[dict, dict]:
    """fit_state (train/val only), then test metrics of the model and every baseline, the headline
    baseline, the verdict and the task's own entries (classification: the per-class table).
    Returns (summary, predictions)."""
    from tfdl.evaluation.metrics import choose_headline, compare
    from tfdl.evaluation.review import review

    fit_state(app, cfg, model, splits)
    results, preds = evaluate_all(app, cfg, model, splits, log=log)
    kws, raw = results.pop("_kws"), results.pop("_raw")
    first = next(iter(app.baselines), None)
    override = getattr(getattr(cfg, "eval", None), "headline", None)
    chosen = choose_headline(cfg.task, splits.y_train, splits.info.labels, override)
    if chosen["metric"] not in results["test"]:
        have = ", ".join(k for k, v in results["test"].items() if isinstance(v, (int, float)))
        raise TfdlError(
            f"eval.headline '{chosen['metric']}' is not a test metric of this run; use one of: {have}"
        )
    # Bootstrap intervals, calibration, groups, forecast coverage (and their report sections).
    extra = review(app, cfg, splits, preds, kws, raw, chosen, run_dir, log=log)
    summary = {
        "test": results["test"],
        "headline": chosen,
        "baseline": {"name": first, "test": results["baselines"].get(first, {})},
        "baselines": results["baselines"],
        "comparison": (
            compare(
                cfg.task,
                results["test"],
                results["baselines"],
                n_test=n_rows(splits.x_test),
                metric=chosen["metric"],
                higher_is_better=chosen["higher_is_better"],
                intervals=extra.get("intervals"),
            )  # fmt: skip
            if first
            else {}
        ),
        **extra,
    }
    summary.update(get_task(cfg.task).summary(splits.y_test, preds["model"], splits.info))
    return summary, preds


def finish_run(app: App, cfg, model, splits: Splits, metrics: dict, preds: dict, run_dir: Path) -> list[Path]:
    """Write model.keras, plots, metrics.json and report.md (metrics.json last: it marks the run finished)."""
    from tfdl.evaluation.plots import task_plots
    from tfdl.evaluation.report import write_report

    model_path = run_dir / "model.keras"
    model.save(model_path)
    plots_dir = run_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    history = run_dir / "history.csv"
    plots = task_plots(
        cfg.task,
        splits.y_test,
        preds["model"],
        splits.info,
        plots_dir,
        history if history.is_file() else None,
    )
    sections = list(splits.info.report_sections)
    if app.report is not None:
        more_plots, more_sections = app.report(model, splits, metrics, preds, run_dir)
        plots, sections = [*plots, *more_plots], [*sections, *more_sections]
    report = write_report(run_dir, metrics, plots, sections)
    tmp = run_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2, default=_json_default))
    tmp.replace(run_dir / "metrics.json")
    return [run_dir, model_path, report, run_dir / "metrics.json", *plots]


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _trim_history(history: Path, backup: Path) -> None:
    """After a kill, CSVLogger may have logged nothing for the interrupted epoch; keep rows as they are,
    but drop duplicate epoch numbers the resumed run will write again (the newest row wins later)."""
    if not history.is_file():
        return
    lines = history.read_text().splitlines()
    if len(lines) <= 1:
        return
    seen: dict[str, str] = {}
    for line in lines[1:]:
        seen[line.split(",", 1)[0]] = line
    history.write_text("\n".join([lines[0], *seen.values()]) + "\n")


def load_run(app: App, run_dir: Path):
    """(cfg, model) of a finished run; the .keras file is loaded with safe_mode=True."""
    import keras

    import tfdl.models  # noqa: F401  (registers custom layers before loading)

    raw = cfgmod.load_yaml(run_dir / "config.yaml")
    cfg = cfgmod.build_config(app.config_class, raw)
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    return cfg, model


def evaluate_run(app: App, run_dir: Path, log=print) -> RunResult:
    """Re-evaluate a finished run's model on its (re-loaded, fingerprint-checked) test split."""
    cfg, model = load_run(app, run_dir)
    old = json.loads((run_dir / "metrics.json").read_text())
    # The same training subset as the run, so the baselines are refitted on what the model saw.
    splits = load_splits(app, cfg)
    if old["dataset"]["fingerprint"] != splits.info.fingerprint:
        log(f"warning: data fingerprint changed since training ({old['dataset']['fingerprint'][:19]}...)")
    summary, preds = evaluation_summary(app, cfg, model, splits, run_dir, log=log)
    metrics = {**old, **summary}
    files = finish_run(app, cfg, model, splits, metrics, preds, run_dir)
    return RunResult(run_dir, metrics, files, model, splits)
