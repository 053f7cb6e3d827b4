"""The FastAPI app: TensorFlow Serving's REST routes + upload, health, Prometheus metrics, OpenAPI docs.

Routes (``{v}`` optional as ``/versions/{v}``; newest version when omitted)::

    GET  /v1/models/{name}[/versions/{v}]               status   (GetModelStatusResponse JSON)
    GET  /v1/models/{name}[/versions/{v}]/metadata      signature (GetModelMetadataResponse JSON + model card)
    POST /v1/models/{name}[/versions/{v}]:predict       {"instances"|"inputs"} -> {"predictions"|"outputs"}
    POST /v1/models/{name}[/versions/{v}]:classify      {"examples"} -> {"results": [[[label, score]...]...]}
    POST /v1/models/{name}[/versions/{v}]:regress       {"examples"} -> {"results": [value, ...]}
    POST /v1/models/{name}[/versions/{v}]:upload        multipart ``file`` -> label, confidence, scores
    POST /v1/models/{name}[/versions/{v}]:explain       multipart ``file`` or one JSON instance -> heatmap
                                                        (Grad-CAM, else occlusion) / text word weights
    GET  /          a web page to try a model (``page``)
    GET  /healthz   GET /metrics   GET /docs

Errors are ``{"error": "..."}``; a request can fail, the server cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from tfdl.serving import metrics as m
from tfdl.serving.contract import (
    EXAMPLES_BODY,
    PREDICT_BODY,
    check_signature,
    is_classifier,
    json_body,
    metadata,
    read_upload,
    read_upload_context,
    upload_codec,
    upload_inputs,
)
from tfdl.serving.fastpath import FastPredict
from tfdl.serving.middleware import Guard, TFServingJSON, error_response
from tfdl.serving.page import PAGE
from tfdl.serving.store import ModelStore, ServedVersion
from tfdl.serving.tensors import (
    RequestError,
    classify_results,
    decisions,
    format_predict,
    parse_examples,
    parse_predict,
)
from tfdl.tasks import get_task

log = logging.getLogger("tfdl.serving")
DEFAULT_MAX_BODY = 16 * 1024 * 1024


def create_app(
    model_root: str | Path,
    max_batch: int = 32,
    batch_wait_ms: float = 5.0,
    poll_seconds: float = 2.0,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    backend: str = "savedmodel",
    grpc_port: int | None = None,
    grpc_host: str = "127.0.0.1",
    log_requests: str | Path | None = None,
    log_max_mb: float = 50.0,
) -> FastAPI:
    """The server for every model under ``model_root``; versions are polled every ``poll_seconds``.

    ``backend="tflite"`` answers from each version's checked .tflite file where it has one.
    ``grpc_port`` (0 = a free port, in ``app.state.grpc_port`` once started) also serves TF Serving's gRPC
    API from the same event loop, store and batcher. ``log_requests`` keeps a bounded, summarised sample of
    requests in that folder (``tfdl.monitoring.requestlog``) and a drift gauge per model in /metrics."""
    registry = m.Metrics()
    # Two model threads: one batch computes while the next is gathered; TF parallelises inside a call.
    predict_pool = ThreadPoolExecutor(2, thread_name_prefix="tfdl-predict")
    loader_pool = ThreadPoolExecutor(1, thread_name_prefix="tfdl-loader")
    store = ModelStore(
        model_root, predict_pool, max_batch, batch_wait_ms / 1000.0, registry.observe_batch, backend=backend
    )
    request_log = None
    if log_requests is not None:
        from tfdl.monitoring.requestlog import DriftGauges, RequestLogger

        request_log = RequestLogger(
            log_requests, model_root, int(log_max_mb * 1024 * 1024), gauges=DriftGauges(registry.registry)
        )
        store.on_predict = request_log.record

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
        if request_log is not None:
            request_log.start()
        await asyncio.get_running_loop().run_in_executor(loader_pool, store.refresh)
        registry.set_loaded(store)
        task = asyncio.create_task(poll())
        grpc_server = None
        if grpc_port is not None:
            from tfdl.serving.grpc_service import Services, start_grpc

            services = Services(store, served, registry)
            grpc_server = await start_grpc(services, grpc_host, grpc_port, max_body_bytes)
            app.state.grpc_port = grpc_server.port
            log.info(
                "gRPC (TensorFlow Serving PredictionService, ModelService) on %s:%s",
                grpc_host,
                grpc_server.port,
            )
        try:
            yield
        finally:
            task.cancel()
            if grpc_server is not None:
                await grpc_server.stop(grace=2)
            for vs in store.served.values():
                for sv in vs.values():
                    await sv.batcher.close()
            predict_pool.shutdown(wait=False, cancel_futures=True)
            loader_pool.shutdown(wait=False, cancel_futures=True)
            if request_log is not None:
                request_log.stop()

    app = FastAPI(
        title="tfdl serving",
        version="1",
        lifespan=lifespan,
        default_response_class=TFServingJSON,
        description="TensorFlow Serving's REST API for the models under the model root.",
    )
    app.state.store = store
    app.state.metrics = registry
    app.state.request_log = request_log
    # Pure ASGI (not @app.middleware): BaseHTTPMiddleware re-streams every response as chunks, which costs
    # a 40 ms delayed-ACK stall per request on loopback.
    app.add_middleware(FastPredict, store=store, metrics=registry)  # inside Guard: 413 and metrics apply
    app.add_middleware(Guard, limit=max_body_bytes, metrics=registry, store=store)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        return error_response(exc.status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in exc.errors()]
        return error_response(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unhandled error")
        return error_response(500, f"internal error ({type(exc).__name__}); the server keeps running")

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

    def observe(request: Request, sv: ServedVersion, verb: str) -> None:
        """Per model / version / signature latency, from the start of the request (set by Guard)."""
        start = request.scope.get("tfdl.start")
        if start is not None:
            registry.observe_model(
                sv.name, sv.version, "serving_default", verb, "rest", time.perf_counter() - start
            )

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
        return metadata(await served(name, None))

    @app.get("/v1/models/{name}/versions/{version}/metadata", tags=["TensorFlow Serving"])
    async def version_metadata(name: str, version: str):
        return metadata(await served(name, version))

    # ---- predict / classify / regress ----------------------------------------------------------
    async def predict(request: Request, name: str, version: str | None):
        sv = await served(name, version)
        body = await json_body(request)
        check_signature(body, ("serving_default",))
        inputs, rows = parse_predict(body, sv.spec, sv.allow_nan)
        out = format_predict(await run(sv, inputs), rows)
        observe(request, sv, "predict")
        return out

    async def classify(request: Request, name: str, version: str | None):
        sv = await served(name, version)
        if not is_classifier(sv):
            raise RequestError(
                f"model '{sv.name}' is a {sv.meta.get('task', 'non-classification')} model; use :regress"
            )
        body = await json_body(request)
        check_signature(body, ("serving_default", "tensorflow/serving/classify"))
        out = await run(sv, parse_examples(body, sv.spec, sv.allow_nan))
        observe(request, sv, "classify")
        probs = next(iter(out.values()))
        labels = list(sv.meta.get("labels") or [])
        return {"results": classify_results(probs, labels), **decisions(probs, sv.meta)}

    async def regress(request: Request, name: str, version: str | None):
        sv = await served(name, version)
        body = await json_body(request)
        check_signature(body, ("serving_default", "tensorflow/serving/regress"))
        first_shape = next(iter(sv.outputs.values()))[0]
        if is_classifier(sv) or len(first_shape) > 2 or (len(first_shape) == 2 and first_shape[1] != 1):
            raise RequestError(
                f"model '{sv.name}' does not output one value per example; use :predict or :classify"
            )
        out = await run(sv, parse_examples(body, sv.spec, sv.allow_nan))
        observe(request, sv, "regress")
        return {"results": [float(v) for v in np.asarray(next(iter(out.values()))).reshape(-1)]}

    for verb, fn, schema in (
        ("predict", predict, PREDICT_BODY),
        ("classify", classify, EXAMPLES_BODY),
        ("regress", regress, EXAMPLES_BODY),
    ):
        extra = {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
        _add_verb_routes(app, verb, fn, extra)

    # ---- friendly upload -----------------------------------------------------------------------
    async def upload(name: str, version: str | None, file: UploadFile):
        sv = await served(name, version)
        codec = upload_codec(sv)
        data = await file.read()
        suffix = Path(file.filename or "").suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
        loop = asyncio.get_running_loop()
        x, context = await loop.run_in_executor(None, read_upload_context, codec, data, suffix, sv.meta)
        inputs = upload_inputs(x, sv)
        first = next(iter((await run(sv, inputs)).values()))
        answers = [codec.describe(row, sv.meta, context) for row in first]
        head = answers[0] if len(answers) == 1 else {}
        return {**head, "model": sv.name, "version": sv.version, "results": answers}

    @app.post("/v1/models/{name}:upload", tags=["friendly"])
    async def upload_latest(name: str, file: UploadFile = File(...)):
        return await upload(name, None, file)

    @app.post("/v1/models/{name}/versions/{version}:upload", tags=["friendly"])
    async def upload_version(name: str, version: str, file: UploadFile = File(...)):
        return await upload(name, version, file)

    # ---- explain: Grad-CAM (the version's gradcam signature) or occlusion through the served model --
    async def explain_input(request: Request, sv: ServedVersion, image: bool) -> np.ndarray:
        """One example (1, ...) from a multipart ``file`` (read by the app's codec) or a JSON body in
        :predict's format holding one instance. Every refusal is a 400 with a one-line message."""
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            try:
                form = await request.form()
            except StarletteHTTPException as e:
                raise RequestError(f"malformed multipart body: {str(e.detail)[:200]}") from None
            file = form.get("file")
            if not isinstance(file, StarletteUploadFile):
                raise RequestError(
                    "send the example as the multipart file field 'file' (or a JSON body "
                    '{"instances": [one example]})'
                )
            data = await file.read()
            try:
                x = await asyncio.get_running_loop().run_in_executor(
                    None, read_upload, upload_codec(sv), data, ".png" if image else ".txt", sv.meta
                )
                return next(iter(upload_inputs(x, sv).values()))[:1]
            except RequestError as e:  # :upload answers 422 for an unreadable file; :explain says 400
                raise RequestError(" ".join(str(e).split()), 400 if e.status == 422 else e.status) from None
        body = await json_body(request)
        check_signature(body, ("serving_default", "gradcam"))
        inputs, _ = parse_predict(body, sv.spec, sv.allow_nan)
        first = next(iter(inputs.values()))
        if len(first) != 1:
            raise RequestError(f":explain takes one example; the body has {len(first)}")
        return first

    async def explain(request: Request, name: str, version: str | None):
        sv = await served(name, version)
        shape, dtype = next(iter(sv.spec.values()))
        image = len(sv.spec) == 1 and len(shape) == 4 and dtype != "object"
        text = len(sv.spec) == 1 and dtype == "object" and len(shape) <= 2
        if not is_classifier(sv) or not (image or text):
            raise RequestError(
                f"model '{sv.name}' is not an image or text classifier; :explain draws image heatmaps and "
                "text word weights"
            )
        first = await explain_input(request, sv, image)
        labels = list(sv.meta.get("labels") or [])
        answer = {"model": sv.name, "version": sv.version}

        def decide(row: np.ndarray) -> tuple[int, np.ndarray]:
            """(class id as :upload labels it — the card's decision threshold for a binary model —,
            class probabilities; a one-column sigmoid row becomes [1 - p, p])."""
            p = np.asarray(row, dtype=np.float64).reshape(-1)
            p = np.array([1.0 - p[0], p[0]]) if p.size == 1 else p
            return get_task("classification").decide(p, sv.meta), p

        def named(k: int, p: np.ndarray, method: str) -> dict:
            label = labels[k] if k < len(labels) else str(k)
            return {**answer, "method": method, "label": label, "confidence": round(float(p[k]), 6)}

        if image and sv.loaded.gradcam is not None:
            from tfdl.explain.signature import call_gradcam

            loop = asyncio.get_running_loop()
            fn = sv.loaded.gradcam
            heat, cls, scores = await loop.run_in_executor(predict_pool, call_gradcam, fn, first)
            k, p = decide(scores[0])
            if k != int(cls[0]):  # a decision threshold chose another class than the argmax: explain it
                heat, cls, scores = await loop.run_in_executor(predict_pool, call_gradcam, fn, first, [k])
            if start := request.scope.get("tfdl.start"):
                registry.observe_model(sv.name, sv.version, "gradcam", "explain", "rest",
                                       time.perf_counter() - start)  # fmt: skip
            return {**named(k, p, "grad-cam"), "heatmap": heat[0].round(4).tolist()}
        key = next(iter(sv.spec))
        if image:
            batch, grid = occlusion_batch(first)
        else:
            words = first.reshape(-1)[0]
            words = (words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)).split()[
                :64
            ]
            variants = [" ".join(words)] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
            batch = np.array([v.encode() for v in variants], dtype=object).reshape((-1, *first.shape[1:]))
        probs = next(iter((await run(sv, {key: batch})).values()))
        probs = np.stack([decide(row)[1] for row in probs.reshape(len(batch), -1)])
        k = decide(probs[0])[0]
        observe(request, sv, "explain")
        drop = probs[0, k] - probs[1:, k]  # how much the answer falls without each region / word
        if image:
            heat = np.maximum(drop, 0).reshape(grid, grid)
            heat = heat / heat.max() if heat.max() > 0 else heat
            return {**named(k, probs[0], "occlusion"), "heatmap": heat.round(4).tolist()}
        scale = float(np.abs(drop).max()) if len(drop) else 0.0
        weights = drop / scale if scale > 0 else drop
        return {
            **named(k, probs[0], "occlusion"),
            "words": words,
            "weights": [round(float(w), 4) for w in weights],
        }

    explain_body = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "application/json": {"schema": PREDICT_BODY},
            },
        }
    }

    @app.post("/v1/models/{name}:explain", tags=["friendly"], openapi_extra=explain_body)
    async def explain_latest(request: Request, name: str):
        return await explain(request, name, None)

    @app.post("/v1/models/{name}/versions/{version}:explain", tags=["friendly"], openapi_extra=explain_body)
    async def explain_version(request: Request, name: str, version: str):
        return await explain(request, name, version)

    # ---- the web page --------------------------------------------------------------------------
    @app.get("/", tags=["friendly"], response_class=HTMLResponse)
    async def page():
        return HTMLResponse(PAGE)

    # ---- operations ----------------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    async def healthz():
        return {
            "status": "ok",
            "pid": os.getpid(),  # which worker answered (tfdl serve --workers N)
            "models": {n: v for n, v in sorted(store.latest.items())},
            "failed": {f"{n}/{v}": msg for (n, v), msg in store.failed.items()},
            "backends": {
                f"{n}/{v}": sv.backend for n, vs in sorted(store.served.items()) for v, sv in vs.items()
            },
        }

    @app.get("/metrics", tags=["operations"])
    async def metrics():
        body, content_type = registry.render()
        return Response(body, media_type=content_type)

    return app


def occlusion_batch(image: np.ndarray, grid: int = 7) -> tuple[np.ndarray, int]:
    """``image`` (1, H, W, C) -> (1 + grid*grid, H, W, C): the image, then one copy per grid cell with that
    cell set to the image's mean (how much the answer drops when a region is hidden = its importance)."""
    _, h, w, _ = image.shape
    grid = max(1, min(grid, h, w))
    rows, cols = np.array_split(np.arange(h), grid), np.array_split(np.arange(w), grid)
    fillv = image.mean().astype(image.dtype)
    out = np.repeat(image, 1 + grid * grid, axis=0)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            out[1 + i * grid + j, r[0] : r[-1] + 1, c[0] : c[-1] + 1] = fillv
    return out, grid


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


def serve(
    model_root: str | Path = "saved_models",
    host: str = "127.0.0.1",
    port: int = 8501,
    max_batch: int = 32,
    batch_wait_ms: float = 5.0,
    poll_seconds: float = 2.0,
    backend: str = "savedmodel",
    grpc_port: int | None = None,
    workers: int = 1,
    log_requests: str | Path | None = None,
    log_max_mb: float = 50.0,
) -> None:
    """Run the server with uvicorn until interrupted. Binds loopback unless ``host`` says otherwise.
    ``workers`` > 1 runs that many processes behind the one port (``tfdl.serving.workers``)."""
    import uvicorn

    from tfdl.errors import TfdlError

    if not Path(model_root).is_dir():
        raise TfdlError(f"--model-root '{model_root}' is not a folder; export a model first (`make vision`)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding %s: the server is reachable from other machines (no authentication)", host)
    if backend not in ("savedmodel", "tflite"):
        raise TfdlError(f"--backend must be savedmodel or tflite; got '{backend}'")
    options = dict(
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        poll_seconds=poll_seconds,
        backend=backend,
        grpc_port=grpc_port,
        log_requests=None if log_requests is None else str(log_requests),
        log_max_mb=log_max_mb,
    )
    if log_requests is not None:
        try:
            Path(log_requests).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TfdlError(f"--log-requests '{log_requests}' cannot be a folder here ({e.strerror}); give a "
                            "writable folder for the request log") from None  # fmt: skip
    if workers > 1:
        from tfdl.serving.workers import run_workers

        return run_workers(str(model_root), options, host, port, workers)
    if workers < 1:
        raise TfdlError(f"--workers must be 1 or more; got {workers}")
    app = create_app(model_root, **options)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
