"""The FastAPI app: TensorFlow Serving's REST routes + upload, health, Prometheus metrics, OpenAPI docs.

Routes (``{v}`` optional as ``/versions/{v}``; newest version when omitted)::

    GET  /v1/models/{name}[/versions/{v}]               status   (GetModelStatusResponse JSON)
    GET  /v1/models/{name}[/versions/{v}]/metadata      signature (GetModelMetadataResponse JSON + model card)
    POST /v1/models/{name}[/versions/{v}]:predict       {"instances"|"inputs"} -> {"predictions"|"outputs"}
    POST /v1/models/{name}[/versions/{v}]:classify      {"examples"} -> {"results": [[[label, score]...]...]}
    POST /v1/models/{name}[/versions/{v}]:regress       {"examples"} -> {"results": [value, ...]}
    POST /v1/models/{name}[/versions/{v}]:upload        multipart ``file`` -> label, confidence, scores
    GET  /healthz   GET /metrics   GET /docs

Errors are ``{"error": "..."}``; a request can fail, the server cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tfdl.serving import metrics as m
from tfdl.serving.store import ModelStore, ServedVersion
from tfdl.serving.tensors import (
    RequestError,
    classify_results,
    format_predict,
    parse_examples,
    parse_predict,
    to_array,
)

log = logging.getLogger("tfdl.serving")
DEFAULT_MAX_BODY = 16 * 1024 * 1024
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
_PREDICT_BODY = {
    "type": "object",
    "properties": {"signature_name": {"type": "string"}, "instances": {"type": "array"}, "inputs": {}},
}
_EXAMPLES_BODY = {
    "type": "object",
    "required": ["examples"],
    "properties": {
        "signature_name": {"type": "string"},
        "context": {"type": "object"},
        "examples": {"type": "array", "items": {"type": "object"}},
    },
}


class TFServingJSON(JSONResponse):
    """JSON that may carry NaN / Infinity, as TensorFlow Serving's REST API does."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=True, separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str) -> TFServingJSON:
    return TFServingJSON({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: 413 for a body over ``limit`` bytes (by Content-Length or while streaming), and
    request count / latency / error metrics per model and verb."""

    def __init__(self, app, limit: int, metrics: m.Metrics, store: ModelStore):
        self.app, self.limit, self.metrics, self.store = app, limit, metrics, store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500
        seen, started = 0, False

        async def counted():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        async def tracked(msg):
            nonlocal started, status
            if msg["type"] == "http.response.start":
                started, status = True, msg["status"]
            await send(msg)

        too_big = _error(413, f"request body over the {self.limit} byte limit")
        length = dict(scope.get("headers") or []).get(b"content-length")
        try:
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                await too_big(scope, receive, tracked)
            else:
                await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await too_big(scope, receive, tracked)
        finally:
            name, verb = _route_labels(scope.get("path", ""), self.store)
            self.metrics.observe_request(name, verb, status, time.perf_counter() - start)


class _TooLarge(Exception):
    pass


def create_app(
    model_root: str | Path,
    max_batch: int = 32,
    batch_wait_ms: float = 5.0,
    poll_seconds: float = 2.0,
    max_body_bytes: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The server for every model under ``model_root``; versions are polled every ``poll_seconds``."""
    registry = m.Metrics()
    # Two model threads: one batch computes while the next is gathered; TF parallelises inside a call.
    predict_pool = ThreadPoolExecutor(2, thread_name_prefix="tfdl-predict")
    loader_pool = ThreadPoolExecutor(1, thread_name_prefix="tfdl-loader")
    store = ModelStore(model_root, predict_pool, max_batch, batch_wait_ms / 1000.0, registry.observe_batch)

    async def poll() -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(poll_seconds)
            try:
                await loop.run_in_executor(loader_pool, store.refresh)
                registry.set_loaded(store)
            except Exception:  # a scan racing a deletion: try again next poll
                log.exception("model poll failed")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.get_running_loop().run_in_executor(loader_pool, store.refresh)
        registry.set_loaded(store)
        task = asyncio.create_task(poll())
        try:
            yield
        finally:
            task.cancel()
            for vs in store.served.values():
                for sv in vs.values():
                    await sv.batcher.close()
            predict_pool.shutdown(wait=False, cancel_futures=True)
            loader_pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="tfdl serving",
        version="1",
        lifespan=lifespan,
        default_response_class=TFServingJSON,
        description="TensorFlow Serving's REST API for the models under the model root.",
    )
    app.state.store = store
    # Pure ASGI (not @app.middleware): BaseHTTPMiddleware re-streams every response as chunks, which costs
    # a 40 ms delayed-ACK stall per request on loopback.
    app.add_middleware(Guard, limit=max_body_bytes, metrics=registry, store=store)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        return _error(exc.status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in exc.errors()]
        return _error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unhandled error")
        return _error(500, f"internal error ({type(exc).__name__}); the server keeps running")

    async def served(name: str, version: str | None) -> ServedVersion:
        name, v = store.resolve(name, version)
        sv = store.get_loaded(name, v)
        if sv is None:
            if v is None:
                raise RequestError(f"model '{name}' is still loading", 503)
            sv = await asyncio.get_running_loop().run_in_executor(loader_pool, store.load_explicit, name, v)
        return sv

    async def run(sv: ServedVersion, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return await sv.batcher.submit(inputs)
        except RequestError:
            raise
        except Exception as e:
            if type(e).__name__ == "InvalidArgumentError":  # the graph rejected a value (e.g. a lookup)
                raise RequestError(f"the model rejected the input: {str(e).splitlines()[0][:300]}") from None
            raise

    # ---- status and metadata -------------------------------------------------------------------
    @app.get("/v1/models/{name}", tags=["TensorFlow Serving"])
    async def model_status(name: str):
        if name not in store.on_disk:
            store.resolve(name, None)  # raises the 404 with the list of models
        return store.status(name, None)

    @app.get("/v1/models/{name}/versions/{version}", tags=["TensorFlow Serving"])
    async def version_status(name: str, version: str):
        n, v = store.resolve(name, version)
        return store.status(n, v)

    @app.get("/v1/models/{name}/metadata", tags=["TensorFlow Serving"])
    async def model_metadata(name: str):
        return _metadata(await served(name, None))

    @app.get("/v1/models/{name}/versions/{version}/metadata", tags=["TensorFlow Serving"])
    async def version_metadata(name: str, version: str):
        return _metadata(await served(name, version))

    # ---- predict / classify / regress ----------------------------------------------------------
    async def predict(request: Request, name: str, version: str | None):
        sv = await served(name, version)
        body = await _json_body(request)
        _check_signature(body, ("serving_default",))
        inputs, rows = parse_predict(body, sv.spec, sv.allow_nan)
        return format_predict(await run(sv, inputs), rows)

    async def classify(request: Request, name: str, version: str | None):
        sv = await served(name, version)
        if not _is_classifier(sv):
            raise RequestError(
                f"model '{sv.name}' is a {sv.meta.get('task', 'non-classification')} model; use :regress"
            )
        body = await _json_body(request)
        _check_signature(body, ("serving_default", "tensorflow/serving/classify"))
        out = await run(sv, parse_examples(body, sv.spec, sv.allow_nan))
        return {"results": classify_results(next(iter(out.values())), list(sv.meta.get("labels") or []))}

    async def regress(request: Request, name: str, version: str | None):
        sv = await served(name, version)
        body = await _json_body(request)
        _check_signature(body, ("serving_default", "tensorflow/serving/regress"))
        first_shape = next(iter(sv.outputs.values()))[0]
        if _is_classifier(sv) or len(first_shape) > 2 or (len(first_shape) == 2 and first_shape[1] != 1):
            raise RequestError(
                f"model '{sv.name}' does not output one value per example; use :predict or :classify"
            )
        out = await run(sv, parse_examples(body, sv.spec, sv.allow_nan))
        return {"results": [float(v) for v in np.asarray(next(iter(out.values()))).reshape(-1)]}

    for verb, fn, schema in (
        ("predict", predict, _PREDICT_BODY),
        ("classify", classify, _EXAMPLES_BODY),
        ("regress", regress, _EXAMPLES_BODY),
    ):
        extra = {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
        _add_verb_routes(app, verb, fn, extra)

    # ---- friendly upload -----------------------------------------------------------------------
    async def upload(name: str, version: str | None, file: UploadFile):
        sv = await served(name, version)
        codec = _codec(sv)
        data = await file.read()
        suffix = Path(file.filename or "").suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
        loop = asyncio.get_running_loop()
        x = await loop.run_in_executor(None, _read_upload, codec, data, suffix, sv.meta)
        inputs = _as_inputs(x, sv)
        first = next(iter((await run(sv, inputs)).values()))
        answers = [codec.describe(row, sv.meta) for row in first]
        head = answers[0] if len(answers) == 1 else {}
        return {**head, "model": sv.name, "version": sv.version, "results": answers}

    @app.post("/v1/models/{name}:upload", tags=["friendly"])
    async def upload_latest(name: str, file: UploadFile = File(...)):
        return await upload(name, None, file)

    @app.post("/v1/models/{name}/versions/{version}:upload", tags=["friendly"])
    async def upload_version(name: str, version: str, file: UploadFile = File(...)):
        return await upload(name, version, file)

    # ---- operations ----------------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    async def healthz():
        return {
            "status": "ok",
            "models": {n: v for n, v in sorted(store.latest.items())},
            "failed": {f"{n}/{v}": msg for (n, v), msg in store.failed.items()},
        }

    @app.get("/metrics", tags=["operations"])
    async def metrics():
        body, content_type = registry.render()
        return Response(body, media_type=content_type)

    return app


def _add_verb_routes(app: FastAPI, verb: str, fn, extra: dict) -> None:
    async def latest(request: Request, name: str):
        return await fn(request, name, None)

    async def versioned(request: Request, name: str, version: str):
        return await fn(request, name, version)

    app.add_api_route(
        f"/v1/models/{{name}}:{verb}",
        latest,
        methods=["POST"],
        tags=["TensorFlow Serving"],
        name=f"{verb}_latest",
        openapi_extra=extra,
    )
    app.add_api_route(
        f"/v1/models/{{name}}/versions/{{version}}:{verb}",
        versioned,
        methods=["POST"],
        tags=["TensorFlow Serving"],
        name=f"{verb}_version",
        openapi_extra=extra,
    )


_VERB_RE = re.compile(r"^/v1/models/([^/:]+)(?:/versions/[^/:]+)?(?::(\w+)|/(metadata))?$")


def _route_labels(path: str, store: ModelStore) -> tuple[str, str]:
    """(model, verb) metric labels; unknown names collapse to "unknown" (bounded label cardinality)."""
    match = _VERB_RE.match(path)
    if not match:
        return "-", path if path in ("/healthz", "/metrics", "/docs", "/openapi.json") else "other"
    name = match.group(1) if match.group(1) in store.on_disk else "unknown"
    verb = match.group(2) or match.group(3) or "status"
    return name, verb if verb in (
        "predict",
        "classify",
        "regress",
        "upload",
        "metadata",
        "status",
    ) else "other"


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)  # accepts NaN / Infinity tokens, as TensorFlow Serving does
    except (ValueError, RecursionError) as e:
        raise RequestError(f"malformed JSON body: {str(e)[:200]}") from None


def _check_signature(body: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(body, dict) and body.get("signature_name") not in (None, "", *allowed):
        raise RequestError(
            f"signature '{str(body['signature_name'])[:60]}' not found; this model has serving_default"
        )


def _is_classifier(sv: ServedVersion) -> bool:
    task = sv.meta.get("task")
    return task == "classification" or (task is None and bool(sv.meta.get("labels")))


def _metadata(sv: ServedVersion) -> dict[str, Any]:
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


def _codec(sv: ServedVersion):
    from tfdl.app import get_app
    from tfdl.errors import TfdlError

    try:
        codec = get_app(str(sv.meta.get("app"))).codec
    except TfdlError as e:
        raise RequestError(f"model '{sv.name}' cannot take uploads: {e}") from None
    if codec is None:
        raise RequestError(f"model '{sv.name}' (app {sv.meta.get('app')}) has no upload reader; use :predict")
    return codec


def _read_upload(codec, data: bytes, suffix: str, meta: dict):
    """Write the upload to a temporary file and let the app's codec read it (422 if it cannot)."""
    from tfdl.errors import TfdlError

    if not data:
        raise RequestError("the uploaded file is empty", 422)
    with tempfile.TemporaryDirectory(prefix="tfdl-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return codec.read(path, meta)
        except TfdlError as e:
            raise RequestError(str(e).replace(str(path), "the upload"), 422) from None
        except (ValueError, OSError, KeyError, IndexError, UnicodeDecodeError) as e:
            raise RequestError(
                f"could not read the upload: {type(e).__name__}: {str(e)[:200]}", 422
            ) from None


def _as_inputs(x: Any, sv: ServedVersion) -> dict[str, np.ndarray]:
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


def serve(
    model_root: str | Path = "saved_models",
    host: str = "127.0.0.1",
    port: int = 8501,
    max_batch: int = 32,
    batch_wait_ms: float = 5.0,
    poll_seconds: float = 2.0,
) -> None:
    """Run the server with uvicorn until interrupted. Binds loopback unless ``host`` says otherwise."""
    import uvicorn

    from tfdl.errors import TfdlError

    if not Path(model_root).is_dir():
        raise TfdlError(f"--model-root '{model_root}' is not a folder; export a model first (`make vision`)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding %s: the server is reachable from other machines (no authentication)", host)
    app = create_app(model_root, max_batch=max_batch, batch_wait_ms=batch_wait_ms, poll_seconds=poll_seconds)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
