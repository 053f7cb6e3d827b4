"""The App contract: an app declares its data, model choices and task; the library does the rest.

App modules (``apps/<name>.py``) must not import TensorFlow at import time (``tfdl apps`` lists
them without it): import keras inside the builder functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfdl.config import RunConfig
from tfdl.data.splits import Splits
from tfdl.errors import TfdlError

# build(splits, cfg, **params) -> uncompiled keras.Model that takes RAW inputs (preprocessing inside).
ModelBuilder = Callable[..., Any]
# fit_predict(splits) -> test predictions in the model's output format (probabilities / values), or
# (predictions, evaluation kwargs) when the baseline calibrates its own (e.g. an anomaly threshold).
Baseline = Callable[[Splits], np.ndarray]
# explain(model, splits, cfg, out_dir, input_path) -> list of written files.
Explainer = Callable[..., list[Path]]


def forwards(factory: str, *fixed: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Mark a model builder whose ``**kw`` go on to a shared factory (``"tfdl.models:build_cnn"``).

    ``model.*`` keys are then checked against the builder's own keyword arguments plus the factory's,
    less ``fixed`` (the factory arguments the builder sets itself), before any data or run folder exists.
    The factory is named as a string so that importing an app module does not import TensorFlow.
    """

    def mark(builder: ModelBuilder) -> ModelBuilder:
        builder.forwards_to = factory  # type: ignore[attr-defined]
        builder.fixed_args = fixed  # type: ignore[attr-defined]
        return builder

    return mark


@dataclass(frozen=True)
class ModelHooks:
    """What one model does differently from its task's defaults (every field optional)."""

    targets: Callable[[Splits], tuple[Any, Any]] | None = None  # -> (y_train, y_val) to fit on
    loss: Callable[[RunConfig, Splits], Any] | None = None  # -> a Keras loss (default: the task's)
    predict: Callable[[Any, Any], np.ndarray] | None = None  # (model, x) -> outputs to evaluate
    # (model, splits, metrics) -> the model to export, before the task's output transform
    serving_model: Callable[[Any, Splits, dict], Any] | None = None
    # (model, cfg, steps_per_epoch) -> a Keras optimizer, or None = the config's (vision transfer: per-stage
    # learning rates); used by train, tune and cv alike (tfdl/training/fit.py)
    optimizer: Callable[[Any, RunConfig, int], Any] | None = None
    # (model, cfg, steps_per_epoch) -> extra Keras callbacks, appended after the standard ones
    callbacks: Callable[[Any, RunConfig, int], list] | None = None
    # more defaults (dotted keys) on top of App.defaults, still below the config file and --set
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # the Keras Tuner space of the builder's model.* keys: {kwarg: spec} of its own, or the name of the
    # tfdl.models factory whose SEARCH_SPACE applies ("rnn"); a @forwards builder has its factory's already
    search_space: Mapping[str, tuple] | str | None = None


def hooks(**kw: Any) -> Callable[[ModelBuilder], ModelBuilder]:
    """Declare a model builder's own hooks (the fields of :class:`ModelHooks`), e.g.
    ``@hooks(optimizer=per_stage_rates, callbacks=unfreeze)`` or ``@hooks(defaults={"train.epochs": 20})``.
    Stacks with :func:`forwards`; the pipeline, tuner and export read them through :func:`model_hooks`."""
    declared = ModelHooks(**kw)  # a misspelt hook name fails at import, not in the middle of a run

    def mark(builder: ModelBuilder) -> ModelBuilder:
        builder.hooks = declared  # type: ignore[attr-defined]
        return builder

    return mark


_NO_HOOKS = ModelHooks()


def model_hooks(app: App, cfg_or_name: Any) -> ModelHooks:
    """The hooks declared on the builder of model ``cfg.model.name`` (or a model name) of ``app``."""
    name = getattr(getattr(cfg_or_name, "model", None), "name", cfg_or_name)
    builder = app.models.get(name or app.default_model)
    return getattr(builder, "hooks", _NO_HOOKS)


@dataclass(frozen=True)
class Codec:
    """Raw request <-> tensors, for ``tfdl predict`` and the server's upload route.

    ``read(path, card)`` turns a user file (image, CSV, text lines, window) into model input ``x`` and
    returns ``(x, context)``: ``context`` is a dict of what this one request's answer needs besides the
    model output (the time-series window's last timestamp and step), ``{}`` when nothing.
    ``describe(row, card, context)`` turns one row of model output into a JSON-able answer (label,
    confidence, scores), reading request facts from ``context`` only. The card is the served version's
    model card, shared by concurrent requests: read-only (the server hands it in as a read-only mapping).
    """

    read: Callable[[Path, Mapping[str, Any]], tuple[Any, dict]]  # (path, card) -> (x, context)
    describe: Callable[[np.ndarray, Mapping[str, Any], dict], dict]  # (output row, card, context) -> answer


def describe_class_scores(row: np.ndarray, meta: Mapping[str, Any], context: dict | None = None) -> dict:
    """One row of class probabilities -> {label, confidence, scores} (labels from the model card)."""
    from tfdl.tasks import get_task

    return get_task("classification").describe(row, meta)


@dataclass(frozen=True)
class App:
    name: str
    task: str  # a registered tfdl.tasks name: classification | regression | forecast | anomaly | ...
    summary: str  # one line for `tfdl apps`
    default_data: str  # the embedded data set, in words
    load_data: Callable[[RunConfig], Splits]
    models: Mapping[str, ModelBuilder]
    default_model: str
    baselines: Mapping[str, Baseline]  # first = the headline baseline in metrics.json
    config_class: type[RunConfig] = RunConfig
    explainers: Mapping[str, Explainer] = field(default_factory=dict)
    codec: Codec | None = None
    # (model, splits, metrics, predictions {"model": ..., baseline: ...}, run_dir) -> (extra plots, extra
    # report sections [(title, markdown)]), run after evaluation; may add keys to metrics (written after it).
    # vision: top-loss images with Grad-CAM, confused pairs; timeseries: forecast days, error by horizon.
    # Only `tfdl train` / `tfdl evaluate` draw the report; `tfdl export` never does.
    report: Callable[[Any, Splits, dict, dict, Path], tuple[list[Path], list[tuple[str, str]]]] | None = None
    # (model, splits, cfg) -> DataInfo fields to set (see DataInfo.update), computed after fit on train/val
    # only and again by `tfdl export` (so: no plots): the anomaly threshold, the tabular blend weight.
    fit_state: Callable[[Any, Splits, RunConfig], dict] | None = None
    # (model, splits) -> more files for the SavedModel's assets/ read off the trained model (text: the
    # vectorizer's vocabulary and idf), so a run exported later ships them too
    assets: Callable[[Any, Splits], dict[str, str]] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)  # app's default overrides (dotted keys)
    # name -> (model, splits) -> dict: measurements of a trained model that a `tfdl study` can ask for by
    # name (anomaly: "representation", the autoencoder-vs-pca study); the library never imports an app.
    analyses: Mapping[str, Callable[[Any, Splits], dict]] = field(default_factory=dict)
    # What one model does differently (its fit targets, loss, optimizer, callbacks, outputs, defaults) is
    # declared on its builder with @hooks(...), not here.

    def model_names(self) -> list[str]:
        return list(self.models)


# Apps are registered as entry points of this group: ``name = module:APP`` (setup.cfg
# ``[options.entry_points]`` for the built-in apps; any installed package can add one).
APPS_GROUP = "tfdl.apps"


def _entry_point_apps() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=APPS_GROUP)}


def _local_apps() -> dict[str, str]:
    """The ``apps/`` package's modules (``apps/<name>.py`` or ``apps/<name>/``, no leading ``_``), found
    without the package metadata: a checkout whose installed metadata is stale (installed before an app
    was added, or before apps were entry points) still finds its apps."""
    import pkgutil

    spec = importlib.util.find_spec("apps")
    if spec is None or not spec.submodule_search_locations:
        return {}
    return {
        m.name: f"apps.{m.name}:APP"
        for m in pkgutil.iter_modules(spec.submodule_search_locations)
        if not m.name.startswith("_")
    }


def _importable(target: str) -> bool:
    try:
        return importlib.util.find_spec(target.split(":")[0]) is not None
    except (ImportError, ValueError):  # a parent package that is gone (stale metadata)
        return False


def app_registry() -> dict[str, str]:
    """App name -> ``module:attribute``: entry points of ``tfdl.apps`` first, then ``apps/`` modules they do
    not name. Entries whose module cannot be found (metadata left by an uninstalled package) are skipped.
    Nothing is imported but the packages that hold the modules (no TensorFlow)."""
    found = {name: t for name, t in _entry_point_apps().items() if _importable(t)}
    for name, target in _local_apps().items():
        found.setdefault(name, target)
    return found


def available_apps() -> list[str]:
    """Apps that this installation can load (see :func:`app_registry`)."""
    return list(app_registry())


def get_app(name: str) -> App:
    registry = app_registry()
    if name not in registry:
        raise TfdlError(f"unknown app '{name}'; choose one of: {', '.join(registry)} (see `tfdl apps`)")
    module_name, _, attr = registry[name].partition(":")
    app = getattr(importlib.import_module(module_name), attr or "APP", None)
    if not isinstance(app, App):
        raise TfdlError(
            f"app '{name}' is registered as {registry[name]}, which is not a tfdl App; fix the package's "
            f"'{APPS_GROUP}' entry point"
        )
    return app
