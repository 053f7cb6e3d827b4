"""The TensorFlow Serving REST contract around one served version: JSON bodies, signature names,
metadata (GetModelMetadataResponse), and the friendly upload route's file -> inputs path."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from fastapi import Request

from tfdl.serving.store import ServedVersion
from tfdl.serving.tensors import RequestError, to_array

_DTYPES = {
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "float16": "DT_HALF",
    "uint8": "DT_UINT8",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint16": "DT_UINT16",
    "uint32": "DT_UINT32",
    "uint64": "DT_UINT64",
    "bool": "DT_BOOL",
    "object": "DT_STRING",
    "bfloat16": "DT_BFLOAT16",
}
PREDICT_BODY = {
    "type": "object",
    "properties": {"signature_name": {"type": "string"}, "instances": {"type": "array"}, "inputs": {}},
}
EXAMPLES_BODY = {
    "type": "object",
    "required": ["examples"],
    "properties": {
        "signature_name": {"type": "string"},
        "context": {"type": "object"},
        "examples": {"type": "array", "items": {"type": "object"}},
    },
}


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)  # accepts NaN / Infinity tokens, as TensorFlow Serving does
    except (ValueError, RecursionError) as e:
        raise RequestError(f"malformed JSON body: {str(e)[:200]}") from None


def check_signature(body: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(body, dict) and body.get("signature_name") not in (None, "", *allowed):
        raise RequestError(
            f"signature '{str(body['signature_name'])[:60]}' not found; this model has serving_default"
        )


def is_classifier(sv: ServedVersion) -> bool:
    from tfdl.tasks import TASKS

    task = sv.meta.get("task")
    if task in TASKS:
        return TASKS[task].classifier
    return task is None and bool(sv.meta.get("labels"))


def metadata(sv: ServedVersion) -> dict[str, Any]:
    def tensors(spec: dict, prefix: str) -> dict:
        return {
            n: {
                "dtype": _DTYPES.get(dt, "DT_INVALID"),
                "name": f"{prefix}{n}:0",
                "tensor_shape": {
                    "dim": [{"size": str(-1 if d is None else d), "name": ""} for d in shape],
                    "unknown_rank": False,
                },
            }
            for n, (shape, dt) in spec.items()
        }

    sig = {
        "inputs": tensors(sv.spec, "serving_default_"),
        "outputs": tensors(sv.outputs, "StatefulPartitionedCall:"),
        "method_name": "tensorflow/serving/predict",
    }
    card = {k: v for k, v in sv.meta.items() if k not in ("config", "libraries")}
    return {
        "model_spec": {"name": sv.name, "signature_name": "", "version": str(sv.version)},
        "metadata": {"signature_def": {"signature_def": {"serving_default": sig}}},
        "model_card": card,
    }


def upload_codec(sv: ServedVersion):
    from tfdl.app import get_app
    from tfdl.errors import TfdlError

    try:
        codec = get_app(str(sv.meta.get("app"))).codec
    except TfdlError as e:
        raise RequestError(f"model '{sv.name}' cannot take uploads: {e}") from None
    if codec is None:
        raise RequestError(f"model '{sv.name}' (app {sv.meta.get('app')}) has no upload reader; use :predict")
    return codec


def read_upload(codec, data: bytes, suffix: str, meta: dict) -> Any:
    """The model input ``x`` of an upload (see :func:`read_upload_context`)."""
    return read_upload_context(codec, data, suffix, meta)[0]


def read_upload_context(codec, data: bytes, suffix: str, meta: dict) -> tuple[Any, dict]:
    """Write the upload to a temporary file and let the app's codec read it (422 if it cannot).

    Returns the codec's ``(x, context)``; ``context`` belongs to this request alone. The card goes in
    read-only: it is the served version's, shared by every concurrent request."""
    from tfdl.errors import TfdlError

    if not data:
        raise RequestError("the uploaded file is empty", 422)
    with tempfile.TemporaryDirectory(prefix="tfdl-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            x, context = codec.read(path, MappingProxyType(meta))
            return x, dict(context or {})
        except TfdlError as e:
            raise RequestError(str(e).replace(str(path), "the upload"), 422) from None
        except (ValueError, OSError, KeyError, IndexError, UnicodeDecodeError) as e:
            raise RequestError(
                f"could not read the upload: {type(e).__name__}: {str(e)[:200]}", 422
            ) from None


def upload_inputs(x: Any, sv: ServedVersion) -> dict[str, np.ndarray]:
    """Codec output (array, or dict of columns) -> validated {input name: array}."""
    if not isinstance(x, dict):
        x = {next(iter(sv.spec)): x}
    if set(x) != set(sv.spec):
        raise RequestError(f"the upload gave columns {sorted(x)}; the model takes {sorted(sv.spec)}", 422)
    out = {}
    for n, (shape, dt) in sv.spec.items():
        v = np.asarray(x[n])
        if (
            dt != "object"
            and v.dtype.kind == "f"
            and not sv.allow_nan
            and v.size
            and not np.isfinite(v).all()
        ):
            raise RequestError(f"the upload has missing or non-finite values in '{n}'", 422)
        out[n] = to_array(v.tolist(), n, shape, dt, allow_nan=True) if v.dtype.kind in "OUS" else v.astype(dt)
    if any(not math.prod(a.shape[:1]) for a in out.values()):
        raise RequestError("the upload holds no examples", 422)
    return out
