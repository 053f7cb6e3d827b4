"""Helpers shared by the model factories: argument checks, the input/preprocess pair, the output head."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import keras

OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear", "tanh", "softplus", None)


def check_positive_int(name: str, value: Any, *, allow_zero: bool = False) -> None:
    lo = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"`{name}` must be an integer >= {lo}. Received: {name}={value!r}")


def check_int_tuple(name: str, value: Any, *, allow_empty: bool = False) -> tuple[int, ...]:
    """Accept an int or a sequence of positive ints; return it as a tuple."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or (not value and not allow_empty)
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in value)
    ):
        raise ValueError(
            f"`{name}` must be a {'possibly empty ' if allow_empty else 'non-empty '}sequence of positive "
            f"integers. Received: {name}={value!r}"
        )
    return tuple(int(v) for v in value)


def check_rate(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")


def check_output_activation(value: Any) -> None:
    check_choice("output_activation", value, OUTPUT_ACTIVATIONS)


def resolve_inputs(
    input_shape: Any,
    inputs: Any,
    preprocess: Callable[[Any], Any] | None,
    *,
    dtype: str = "float32",
    min_rank: int = 1,
) -> tuple[Any, Any]:
    """Return ``(model_inputs, x)``: the model's inputs and the tensor the body starts from.

    ``inputs`` (a KerasTensor or a dict of them) replaces ``keras.Input(input_shape)``; ``preprocess``
    maps the inputs to the body's input so raw-input preprocessing lives inside the model.
    """
    if preprocess is not None and not callable(preprocess):
        raise ValueError(
            f"`preprocess` must be a callable inputs -> tensor or None. Received: {preprocess!r}"
        )
    if inputs is None:
        if input_shape is None:
            raise ValueError(
                "`input_shape` is required when `inputs` is not given. Received: input_shape=None"
            )
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise ValueError(
                f"`input_shape` must be a tuple of dimensions without the batch axis. "
                f"Received: input_shape={input_shape!r}"
            ) from None
        if len(shape) < min_rank or any(d is not None and (not isinstance(d, int) or d < 1) for d in shape):
            raise ValueError(
                f"`input_shape` must have at least {min_rank} positive (or None) dimension(s), without the "
                f"batch axis. Received: input_shape={input_shape!r}"
            )
        inputs = keras.Input(shape=shape, dtype=dtype, name="inputs")
    else:
        tensors = list(inputs.values()) if isinstance(inputs, dict) else [inputs]
        if not tensors or not all(isinstance(t, keras.KerasTensor) for t in tensors):
            raise ValueError(
                f"`inputs` must be a KerasTensor (keras.Input) or a dict of them. Received: inputs={inputs!r}"
            )
    x = preprocess(inputs) if preprocess is not None else inputs
    if isinstance(x, dict) or not isinstance(x, keras.KerasTensor):
        raise ValueError(
            "the model body needs one tensor: pass `preprocess` that maps dict/multiple inputs to a single "
            f"tensor. Received: {type(x).__name__}"
        )
    if len(x.shape) - 1 < min_rank:
        raise ValueError(
            f"the body input must have at least {min_rank} non-batch dimension(s). Received shape: {x.shape}"
        )
    return inputs, x


def check_l2(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"`l2` must be a float >= 0. Received: l2={value!r}")


def l2_regularizer(l2: float):
    """``keras.regularizers.L2(l2)`` (adds ``l2 * sum(w**2)`` of the kernel to the training loss), or None.

    An L2 penalty in the loss is not decoupled weight decay (``train.weight_decay``): with an adaptive
    optimizer its gradient is rescaled per weight like the data loss's (Loshchilov & Hutter, 2019)."""
    return keras.regularizers.L2(float(l2)) if l2 else None


def output_head(
    x: Any, units: int, activation: str | None, name: str = "predictions", *, l2: float = 0.0
) -> Any:
    """Final Dense kept in float32 so softmax/sigmoid/regression outputs are exact under mixed precision."""
    return keras.layers.Dense(
        units,
        activation=activation or "linear",
        dtype="float32",
        kernel_regularizer=l2_regularizer(l2),
        name=name,
    )(x)
