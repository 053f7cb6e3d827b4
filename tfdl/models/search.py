"""Turn a factory's declared ``SEARCH_SPACE`` into Keras Tuner hyperparameters and factory kwargs.

A space is ``{kwarg_name: spec}`` with spec one of ``("choice", [values])``, ``("int", lo, hi, step)``,
``("float", lo, hi, "linear" | "log")``. Keras Tuner's ``Choice`` only holds scalars, so tuple values
are stored as strings (``(32, 64)`` -> ``"32,64"``) and ``None`` as ``"none"``, and decoded back.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword arguments of ``factory`` that have defaults, with those defaults."""
    return {
        name: p.default
        for name, p in inspect.signature(factory).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def sample(
    hp: Any,
    space: dict[str, tuple],
    fixed: dict[str, Any] | None = None,
    *,
    factory: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Register ``space`` on ``hp`` (a ``keras_tuner.HyperParameters``) and return factory kwargs.

    ``fixed`` pins values (registered with ``hp.Fixed``, returned as given). The default of each
    hyperparameter is the factory's own default when it lies in the range / among the choices;
    the factory is ``factory`` or, when ``space`` is one of ``tfdl.models.SEARCH_SPACES``, its owner.
    """
    fixed = dict(fixed or {})
    factory = factory or _owner(space)
    factory_defaults = defaults(factory) if factory is not None else {}
    out: dict[str, Any] = {}
    for name, value in fixed.items():
        hp.Fixed(name, _encode(value))
        out[name] = value
    for name, spec in space.items():
        if name in fixed:
            continue
        if not isinstance(spec, tuple) or not spec:
            raise ValueError(f"search space entry {name!r} must be a tuple spec. Received: {spec!r}")
        kind, default = spec[0], factory_defaults.get(name)
        if kind == "choice":
            values = list(spec[1])
            labels = [_encode(v) for v in values]
            by_label = dict(zip(labels, values, strict=True))
            d = _encode(default) if default in values else None
            out[name] = by_label[hp.Choice(name, labels, default=d)]
        elif kind == "int":
            _, lo, hi, step = spec
            ok = isinstance(default, int) and lo <= default <= hi and (default - lo) % step == 0
            out[name] = hp.Int(name, lo, hi, step=step, default=default if ok else None)
        elif kind == "float":
            _, lo, hi, sampling = spec
            ok = isinstance(default, (int, float)) and not isinstance(default, bool) and lo <= default <= hi
            out[name] = hp.Float(name, lo, hi, sampling=sampling, default=float(default) if ok else None)
        else:
            raise ValueError(f"unknown search space kind {kind!r} for {name!r}; use choice, int or float")
    return out


def _encode(value: Any) -> Any:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return value


def _owner(space: dict) -> Callable[..., Any] | None:
    from tfdl.models import FACTORIES, SEARCH_SPACES

    for key, candidate in SEARCH_SPACES.items():
        if candidate is space:
            return FACTORIES[key]
    return None
