"""ASGI middleware for the server: TensorFlow Serving-style JSON errors, a body-size limit (413) and
request metrics per model and verb, without re-streaming responses (pure ASGI, not BaseHTTPMiddleware)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi.responses import JSONResponse

from tfdl.serving import metrics as m
from tfdl.serving.store import ModelStore


class TFServingJSON(JSONResponse):
    """JSON that may carry NaN / Infinity, as TensorFlow Serving's REST API does."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=True, separators=(",", ":")).encode("utf-8")


def error_response(status: int, message: str) -> TFServingJSON:
    return TFServingJSON({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: 413 for a body over ``limit`` bytes (by Content-Length or while streaming), and
    request count / latency / error metrics per model and verb."""

    def __init__(self, app, limit: int, metrics: m.Metrics, store: ModelStore):
        self.app, self.limit, self.metrics, self.store = app, limit, metrics, store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = scope["tfdl.start"] = time.perf_counter()
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

        too_big = error_response(413, f"request body over the {self.limit} byte limit")
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


_VERB_RE = re.compile(r"^/v1/models/([^/:]+)(?:/versions/[^/:]+)?(?::(\w+)|/(metadata))?$")


def _route_labels(path: str, store: ModelStore) -> tuple[str, str]:
    """(model, verb) metric labels; unknown names collapse to "unknown" (bounded label cardinality)."""
    match = _VERB_RE.match(path)
    if not match:
        return "-", path if path in ("/", "/healthz", "/metrics", "/docs", "/openapi.json") else "other"
    name = match.group(1) if match.group(1) in store.on_disk else "unknown"
    verb = match.group(2) or match.group(3) or "status"
    return name, verb if verb in (
        "predict",
        "classify",
        "regress",
        "upload",
        "explain",
        "metadata",
        "status",
    ) else "other"
