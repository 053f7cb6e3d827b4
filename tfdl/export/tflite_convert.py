"""Keras model -> .tflite bytes with built-in ops only, in four precisions.

- ``none``: float32. ``dynamic``: int8 weights, float activations (no data needed). ``float16``: float16
  weights. ``int8``: int8 weights and activations, calibrated on a representative data set (float
  fallback allowed only for ops without an int8 kernel, e.g. the uint8 -> float cast of raw pixels).
  ``int8-io``: strictly int8 ops with integer inputs/outputs, for microcontroller-style targets.
- Before conversion the model is rebuilt in float32 (a mixed_bfloat16-trained model would put bfloat16
  ops in the file, which TFLite cannot run) and recurrent layers are unrolled: Keras 3 emits a WHILE loop
  that built-ins cannot convert with a variable batch, and whose full-int8 conversion crashes the
  converter (STACK.md). Unrolling needs a known number of time steps.
- Text models that take raw strings are cut after their TextVectorization layer: the file takes token
  ids and the vocabulary ships beside it (string ops are not built-ins).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfdl.data.splits import n_rows, take
from tfdl.errors import TfdlError
from tfdl.models.layers import text_vectorizers

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
REPRESENTATIVE_EXAMPLES = 200


@dataclass
class Prepared:
    """What the converter gets: a numeric-input Keras model and the data in its input format."""

    model: Any
    x_test: Any  # test inputs for the TFLite file (token ids for text)
    x_rep: Any  # representative examples from the training split (int8 calibration)
    vocabulary: list[str] | None = None
    notes: list[str] = field(default_factory=list)


def _layers(model) -> list:
    return list(model._flatten_layers(include_self=False, recursive=True))


def _rewrite(cfg: Any, stats: dict) -> Any:
    """Walk a serialized model: mixed dtype policies -> float32, recurrent layers -> unroll=True."""
    if isinstance(cfg, list):
        return [_rewrite(c, stats) for c in cfg]
    if not isinstance(cfg, dict):
        return cfg
    out = {k: _rewrite(v, stats) for k, v in cfg.items()}
    dtype = out.get("dtype")
    if isinstance(dtype, dict) and str(dtype.get("config", {}).get("name", "")).startswith("mixed"):
        out["dtype"] = {**dtype, "config": {**dtype["config"], "name": "float32"}}
        stats["float32"] += 1
    elif isinstance(dtype, str) and dtype.startswith("mixed"):
        out["dtype"] = "float32"
        stats["float32"] += 1
    if "unroll" in out and out["unroll"] is False:
        out["unroll"] = True
        stats["unrolled"] += 1
    return out


def tflite_ready(model, target: str = "TFLite") -> tuple[Any, list[str]]:
    """A float32, unrolled copy of ``model`` with the same weights (or ``model`` itself if no change is
    needed). Returns (model, notes)."""
    layers = _layers(model)
    mixed = any(getattr(layer.dtype_policy, "name", "").startswith("mixed") for layer in layers)
    rnn = [layer for layer in layers if isinstance(layer, keras.layers.RNN)]
    if not mixed and not any(not layer.unroll for layer in rnn):
        return model, []
    stats = {"float32": 0, "unrolled": 0}
    try:
        spec = _rewrite(keras.saving.serialize_keras_object(model), stats)
        clone = keras.saving.deserialize_keras_object(spec)
        clone.set_weights(model.get_weights())
    except Exception as err:  # a hand-written serving wrapper may not round-trip through its config
        raise TfdlError(
            f"could not rebuild the model in float32/unrolled for {target} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:120]}); retrain with --set train.precision=float32"
        ) from None
    notes = []
    if stats["float32"]:
        notes.append("rebuilt in float32 (trained with a mixed precision policy)")
    if stats["unrolled"]:
        notes.append(f"{stats['unrolled']} recurrent layer(s) unrolled (built-in ops, variable batch)")
    return clone, notes


def _is_string(t) -> bool:
    return "string" in str(t.dtype)


def prepare(
    model, splits, rep_examples: int = REPRESENTATIVE_EXAMPLES, seed: int = 0, target: str = "TFLite"
) -> Prepared:
    """Make ``model`` convertible and bring test and calibration data into its input format.
    ``target`` names the format in error messages (the ONNX export prepares models the same way)."""
    rng = np.random.default_rng(seed)
    n_train = n_rows(splits.x_train)
    rep_idx = np.sort(rng.choice(n_train, min(rep_examples, n_train), replace=False))
    x_test, x_rep = splits.x_test, take(splits.x_train, rep_idx)
    vocab, notes = None, []
    if not getattr(model, "inputs", None):
        raise TfdlError(
            f"the served model ({type(model).__name__}) has no keras.Input-defined inputs; {target} export "
            "needs a functional model — build the serving model with keras.Input"
        )
    strings = [t for t in model.inputs if _is_string(t)]
    if strings:
        tv = text_vectorizers(model)
        if len(model.inputs) > 1 or len(tv) != 1:
            names = ", ".join(t.name for t in strings)
            raise TfdlError(
                f"the model takes string input(s) ({names}) through lookups that {target} built-in ops "
                "cannot run; serve the SavedModel instead (tfdl serve), or feed those columns as numbers"
            )
        tv = tv[0]
        try:
            model = keras.Model(tv.output, model.outputs[0], name=f"{model.name}_token_ids")
        except Exception as err:
            raise TfdlError(
                f"could not cut the text model after its TextVectorization layer ({err}); the {target} file "
                "must take token ids: build the model with the vectorizer as its first layer"
            ) from None
        vocab = [str(v) for v in tv.get_vocabulary()]
        x_test, x_rep = _vectorize(tv, x_test), _vectorize(tv, x_rep)
        notes.append("takes token ids (TextVectorization stays outside the file); vocabulary in vocab.txt")
    model, more = tflite_ready(model, target)
    return Prepared(model, x_test, x_rep, vocab, notes + more)


def _vectorize(tv, x, batch: int = 1024) -> np.ndarray:
    x = np.asarray(x).astype(str)
    return np.concatenate([np.asarray(tv(tf.constant(x[i : i + batch]))) for i in range(0, len(x), batch)])


def save_for_conversion(model, directory: str | Path) -> Path:
    """Write ``model`` as a quiet SavedModel (variables frozen by the converter, no stdout listing)."""
    path = Path(directory) / "for_tflite"
    from tfdl.export.savedmodel import export_inference

    export_inference(model, path)
    return path


def _input_names(model) -> list[str]:
    struct = model.input
    return list(struct) if isinstance(struct, dict) else [t.name for t in model.inputs]


def convert(saved_dir: Path, mode: str, x_rep: Any = None, input_names: list[str] | None = None) -> bytes:
    """A SavedModel from :func:`save_for_conversion` -> .tflite bytes in ``mode``
    (none|dynamic|float16|int8|int8-io), built-in ops only. ``x_rep``: representative inputs (an array,
    or a dict keyed by ``input_names``), needed by the int8 modes."""
    if mode not in (*QUANTIZATIONS, "int8-io"):
        raise ValueError(f"mode must be one of {QUANTIZATIONS} or int8-io; received {mode!r}")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_dir), signature_keys=["serving_default"])
    builtins, int8_ops = tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.TFLITE_BUILTINS_INT8
    conv.target_spec.supported_ops = [builtins]
    if mode != "none":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if mode.startswith("int8"):
        if x_rep is None:
            raise ValueError("int8 modes need representative data (x_rep)")
        spec = tf.saved_model.load(str(saved_dir)).signatures["serving_default"].structured_input_signature[1]
        names = input_names or sorted(spec)
        cols = {k: np.asarray(x_rep[k] if isinstance(x_rep, dict) else x_rep) for k in names}
        cols = {k: v.astype(spec[k].dtype.as_numpy_dtype) for k, v in cols.items()}

        def representative():
            for i in range(len(next(iter(cols.values())))):
                yield {k: v[i : i + 1] for k, v in cols.items()}

        conv.representative_dataset = representative
        # int8: float fallback only for ops without an int8 kernel (weights are checked afterwards);
        # int8-io: strictly int8, integer in and out (inputs that are already integers stay as they are).
        conv.target_spec.supported_ops = [int8_ops, builtins] if mode == "int8" else [int8_ops]
        if mode == "int8-io":
            if all(s.dtype.is_floating for s in spec.values()):
                conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings():  # int8 calibration uses the deprecated tf.lite.Interpreter inside
            warnings.filterwarnings(
                "ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning
            )
            return conv.convert()
    except Exception as err:
        lines = str(err).splitlines() or [type(err).__name__]
        first = next((ln for ln in lines if "error" in ln.lower()), lines[0])
        raise TfdlError(
            f"TFLite conversion ({mode}) with built-in ops only failed: {first.strip()[:200]}; "
            "this model needs ops TFLite cannot run — serve the SavedModel instead"
        ) from None
