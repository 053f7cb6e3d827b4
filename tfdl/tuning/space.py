"""The search space of one app model: its factory's ``SEARCH_SPACE`` plus the training knobs.

Architecture ranges are declared once, beside each factory (``tfdl.models.<factory>.SEARCH_SPACE``);
the training knobs every model shares are declared here, once. The default of every hyperparameter is
the value the plain ``tfdl train`` would use (the app builder's default, the resolved config's value),
so the tuner's first guess is the default configuration.

The builder says which space is its own (``@hooks(search_space=...)``: a dict in the same spec format, or
the name of a factory), or it forwards to a factory (``@forwards("tfdl.models:build_rnn")``); a factory's
space is cut down to the builder's own keyword arguments whose defaults have a compatible shape (a
tuple-valued range never feeds an int argument). No model name is matched against anything.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from tfdl.app import App
from tfdl.config import RunConfig

# Training knobs: Lion wants a smaller learning rate than Adam(W), so the log range spans both.
TRAINING_SPACE: dict[str, tuple] = {
    "learning_rate": ("float", 1e-4, 1e-2, "log"),
    "optimizer": ("choice", ["adamw", "adam", "lion"]),
    "batch_size": ("choice", [32, 64, 128, 256]),
}


def factory_name(builder: Callable[..., Any]) -> str | None:
    """The ``tfdl.models`` factory whose ``SEARCH_SPACE`` a builder's arguments come from, as the builder
    declares it: ``@hooks(search_space="rnn")``, else the factory of its ``@forwards(...)``; else None."""
    from tfdl.models import SEARCH_SPACES

    declared = getattr(getattr(builder, "hooks", None), "search_space", None)
    if isinstance(declared, str):
        if declared not in SEARCH_SPACES:
            raise ValueError(
                f"search_space={declared!r} names no tfdl.models factory; one of {sorted(SEARCH_SPACES)}"
            )
        return declared
    forwarded = getattr(builder, "forwards_to", "")  # "tfdl.models:build_rnn"
    key = forwarded.partition(":")[2].removeprefix("build_")
    return key if key in SEARCH_SPACES else None


def builder_defaults(builder: Callable[..., Any]) -> dict[str, Any]:
    """Keyword-only arguments the builder names explicitly, with their defaults (``**kw`` excluded: a
    builder may pass some factory arguments itself, so only what it names is safe to set)."""
    return {
        n: p.default for n, p in inspect.signature(builder).parameters.items() if p.kind == p.KEYWORD_ONLY
    }


def _is_seq(value: Any) -> bool:
    return isinstance(value, (tuple, list))


def _compatible(spec: tuple, default: Any) -> bool:
    """Whether a spec can feed an argument whose default is ``default`` (``None`` takes anything)."""
    if default is None:
        return True
    if spec[0] == "choice":
        return all(_is_seq(v) == _is_seq(default) for v in spec[1] if v is not None)
    return not _is_seq(default)


def model_space(app: App, model_name: str) -> dict[str, tuple]:
    """The architecture search space of ``app.models[model_name]`` as ``{kwarg: spec}``."""
    from tfdl.models import SEARCH_SPACES

    builder = app.models[model_name]
    declared = getattr(getattr(builder, "hooks", None), "search_space", None)
    if declared is not None and not isinstance(declared, str):
        return dict(declared)
    key = factory_name(builder)
    if key is None:
        return {}
    accepted = builder_defaults(builder)
    out = {}
    for name, spec in SEARCH_SPACES[key].items():
        if name in TRAINING_SPACE or name not in accepted:
            continue
        if _compatible(spec, accepted[name]):
            out[name] = spec
    return out


def defaults_callable(values: dict[str, Any]) -> Callable[..., None]:
    """A do-nothing callable whose signature carries ``values`` as keyword defaults: the form
    ``tfdl.models.search.sample(factory=...)`` reads defaults from."""

    def f(**kw: Any) -> None:
        return None

    f.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in values.items()]
    )
    return f


def fixed_training(app: App, cfg: RunConfig) -> dict[str, Any]:
    """Training knobs the user set (config file or ``--set``) are fixed, not searched. A value equal to the
    app's own default (``App.defaults``) counts as not set."""
    out = {}
    for name in TRAINING_SPACE:
        if name not in cfg.train.model_fields_set:
            continue
        value = getattr(cfg.train, name)
        key = f"train.{name}"
        if key in app.defaults and app.defaults[key] == value:
            continue
        out[name] = value
    return out


def apply_values(cfg: RunConfig, model_params: dict[str, Any], train_params: dict[str, Any]) -> RunConfig:
    """A copy of ``cfg`` with model keyword arguments and training knobs set (validated again)."""
    from tfdl import config as cfgmod

    raw = cfgmod.to_dict(cfg)
    model = {k: list(v) if isinstance(v, tuple) else v for k, v in model_params.items()}
    raw["model"] = {**raw["model"], **model}
    raw["train"] = {**raw["train"], **train_params}
    return cfgmod.build_config(type(cfg), raw)
