"""JSON <-> NumPy in TensorFlow Serving's REST encoding (row ``instances``, columnar ``inputs``, ``b64``).

Every function here is pure (no TensorFlow): it takes the signature as ``{name: (shape, dtype_name)}``
with ``shape`` a list whose ``None`` entries are free dimensions, and raises ``RequestError`` with a
message a client can act on.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np

Spec = dict[str, tuple[list[int | None], str]]  # input name -> (shape incl. batch dim, numpy dtype name)


class RequestError(Exception):
    """A bad request: ``status`` is the HTTP code, the message goes to ``{"error": ...}``."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _decode_strings(value: Any) -> Any:
    """Nested lists of str / {"b64": ...} -> nested lists of bytes."""
    if isinstance(value, list):
        return [_decode_strings(v) for v in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise RequestError(
                'a binary value must be {"b64": "<base64 string>"}; got an object with other keys'
            )
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError('invalid base64 in a {"b64": ...} value') from None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise RequestError(f'expected a string or {{"b64": ...}} value; got {type(value).__name__}')


def _nulls_to(value: Any, missing: Any) -> Any:
    """Nested lists with JSON nulls -> the same lists with ``missing`` in their place."""
    if isinstance(value, list):
        return [_nulls_to(v, missing) for v in value]
    return missing if value is None else value


def _check_numbers(value: Any, name: str = "", allow_nan: bool = False) -> None:
    """Reject strings/objects/booleans-for-numbers early: numpy would otherwise coerce them silently."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            raise RequestError("expected numbers; got an object (b64 values are only for string inputs)")
        elif isinstance(v, str):
            raise RequestError(f"expected numbers; got the string {v[:30]!r}")
        elif v is None and allow_nan:
            raise RequestError(
                f"input '{name}' takes no null (missing values are for float inputs); send numbers"
            )
        elif v is None:
            raise RequestError(
                f"input '{name}' has a null (a missing value) and this model does not impute missing values "
                "(its model card has allow_nan false); send numbers"
            )


def to_array(
    value: Any, name: str, shape: list[int | None], dtype: str, allow_nan: bool = False
) -> np.ndarray:
    """One input's JSON value (batch dim included) -> array of ``dtype`` whose shape fits ``shape``.

    A feature column given as a flat list for an input of shape (None, 1) is reshaped to (N, 1).
    ``allow_nan`` (a model that imputes missing values, its card's ``allow_nan``): NaN passes in float
    inputs, and a JSON ``null`` is a missing value: NaN in a float input, ``""`` in a string input.
    """
    if dtype == "object" and allow_nan:
        value = _nulls_to(value, "")
    if dtype == "object":  # tf.string
        try:
            arr = np.asarray(_decode_strings(value), dtype=object)
        except ValueError:
            raise RequestError(
                f"input '{name}': ragged nested lists; every row must have the same shape"
            ) from None
    else:
        try:
            raw = np.asarray(value)  # fast path in C; strings / null / objects show up as a non-numeric dtype
        except ValueError:
            raise RequestError(
                f"input '{name}': ragged nested lists; every row must have the same shape"
            ) from None
        if raw.dtype == object and allow_nan and np.dtype(dtype).kind == "f":
            raw = np.asarray(_nulls_to(value, float("nan")))  # null = a missing value the model imputes
        if raw.dtype == object or raw.dtype.kind not in "biuf":
            _check_numbers(value, name, allow_nan)  # names the offending value
            raise RequestError(f"input '{name}' expects numbers of type {dtype}; got {raw.dtype} values")
        target = np.dtype(dtype)
        if raw.dtype.kind == "f" and not allow_nan and raw.size and not np.isfinite(raw).all():
            raise RequestError(
                f"input '{name}' contains NaN or Infinity and this model does not impute missing values "
                "(its model card has allow_nan false); send finite numbers"
            )
        if target.kind in "iu":
            if raw.dtype.kind == "f" and raw.size and not np.all(np.isfinite(raw) & (raw == np.round(raw))):
                raise RequestError(f"input '{name}' expects integers ({dtype}); got fractional numbers")
            info = np.iinfo(target)
            if raw.size and (raw.min() < info.min or raw.max() > info.max):
                raise RequestError(
                    f"input '{name}' expects {dtype} values in [{info.min}, {info.max}]; "
                    f"got values in [{raw.min()}, {raw.max()}]"
                )
        elif target.kind == "b" and raw.dtype.kind != "b":
            raise RequestError(f"input '{name}' expects true/false values; got {raw.dtype}")
        arr = raw.astype(target)
    if arr.ndim == len(shape) - 1 and shape[-1] == 1:
        arr = arr[..., None]  # a flat column for a (None, 1) input
    want = ["N" if d is None else d for d in shape]
    if arr.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, arr.shape)):
        raise RequestError(f"input '{name}' expects shape {want} (N = batch); got {list(arr.shape)}")
    return arr


def parse_predict(body: Any, spec: Spec, allow_nan: bool = False) -> tuple[dict[str, np.ndarray], bool]:
    """A ``:predict`` body -> ({input name: array}, row_format)."""
    if not isinstance(body, dict):
        raise RequestError('the body must be a JSON object with "instances" (rows) or "inputs" (columns)')
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise RequestError('give exactly one of "instances" (row format) or "inputs" (columnar format)')
    names = list(spec)
    if has_rows:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise RequestError('"instances" must be a non-empty list, one item per example')
        if len(names) == 1 and not all(isinstance(r, dict) and names[0] in r and len(r) == 1 for r in rows):
            columns = {names[0]: rows}
        else:
            if not all(isinstance(r, dict) for r in rows):
                raise RequestError(f"this model has named inputs {names}: each instance must be an object")
            columns = {}
            for n in names:
                if any(n not in r for r in rows):
                    raise RequestError(f"every instance needs the input '{n}' (inputs: {names})")
                columns[n] = [r[n] for r in rows]
            extra = {k for r in rows for k in r} - set(names)
            if extra:
                raise RequestError(f"unknown inputs {sorted(extra)}; this model takes {names}")
    else:
        cols = body["inputs"]
        if isinstance(cols, dict) and not (len(names) == 1 and set(cols) == {"b64"}):
            missing, extra = set(names) - set(cols), set(cols) - set(names)
            if missing or extra:
                raise RequestError(f'"inputs" must have exactly the keys {names}; got {sorted(cols)}')
            columns = dict(cols)
        elif len(names) == 1:
            columns = {names[0]: cols}
        else:
            raise RequestError(f'this model has named inputs {names}: "inputs" must be an object of them')
    arrays = {n: to_array(columns[n], n, *spec[n], allow_nan=allow_nan) for n in names}
    sizes = {len(a) for a in arrays.values()}
    if len(sizes) != 1:
        raise RequestError(f"all inputs need the same batch size; got {sorted(sizes)}")
    return arrays, has_rows


def parse_examples(body: Any, spec: Spec, allow_nan: bool = False) -> dict[str, np.ndarray]:
    """A ``:classify`` / ``:regress`` body (``examples`` + optional ``context``) -> {input name: array}."""
    if not isinstance(body, dict) or not isinstance(body.get("examples"), list) or not body["examples"]:
        raise RequestError(
            'the body must be a JSON object with a non-empty "examples" list of feature objects'
        )
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise RequestError('"context" must be an object of features shared by all examples')
    rows = []
    for i, ex in enumerate(body["examples"]):
        if not isinstance(ex, dict):
            raise RequestError(f"example {i} must be an object of features; got {type(ex).__name__}")
        clash = set(ex) & set(context)
        if clash:
            raise RequestError(f"features {sorted(clash)} appear both in context and in example {i}")
        rows.append({**context, **ex})
    missing = set(spec) - set().union(*rows)
    if missing:
        raise RequestError(f"examples lack the features {sorted(missing)}; this model takes {list(spec)}")
    return parse_predict({"instances": rows}, spec, allow_nan)[0]


def jsonable(arr: np.ndarray) -> Any:
    """Array -> nested lists; bytes as str when UTF-8, else {"b64": ...}; NaN stays NaN (TF Serving does)."""
    if arr.dtype == object or arr.dtype.kind == "S":

        def enc(v):
            if isinstance(v, bytes):
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(v).decode("ascii")}
            return v

        return np.vectorize(enc, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    return arr.tolist()


def format_predict(outputs: dict[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """Model outputs -> ``{"predictions": ...}`` (rows) or ``{"outputs": ...}`` (columns)."""
    if len(outputs) == 1:
        only = jsonable(next(iter(outputs.values())))
        return {"predictions": only} if row_format else {"outputs": only}
    if not row_format:
        return {"outputs": {k: jsonable(v) for k, v in outputs.items()}}
    n = len(next(iter(outputs.values())))
    cols = {k: jsonable(v) for k, v in outputs.items()}
    return {"predictions": [{k: cols[k][i] for k in cols} for i in range(n)]}


def classify_results(probs: np.ndarray, labels: list[str]) -> list[list[list[Any]]]:
    """(N, K) probabilities, or (N, 1) / (N,) sigmoid -> [[[label, score], ...], ...] per example."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        q = p.reshape(-1, 1)
        p = np.concatenate([1.0 - q, q], axis=1)
    names = labels if len(labels) == p.shape[1] else [str(i) for i in range(p.shape[1])]
    return [[[names[k], _num(row[k])] for k in range(len(row))] for row in p]


def decisions(probs: np.ndarray, meta: dict) -> dict[str, Any]:
    """``:classify`` beside TF Serving's ``results``: the decided label per example, by the model card's
    ``decision_threshold`` (binary, chosen on validation for ``eval.threshold``) or the argmax, and that
    threshold. Single-label classifiers only (a multi-label card has no one decision)."""
    if meta.get("task") not in (None, "classification"):
        return {}
    from tfdl.tasks import get_task

    p = np.asarray(probs, dtype=np.float64)
    p = p.reshape(len(p), -1)
    labels = list(meta.get("labels") or [])
    k = max(p.shape[1], 2)
    names = labels if len(labels) == k else [str(i) for i in range(k)]
    task = get_task("classification")
    out: dict[str, Any] = {"decisions": [names[task.decide(row, meta)] for row in p]}
    if meta.get("decision_threshold") is not None:
        out["threshold"] = float(meta["decision_threshold"])
    return out


def _num(v: float) -> float:
    return float(v) if math.isfinite(v) else float("nan")
