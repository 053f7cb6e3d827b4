"""The hot path: ``POST .../{name}[/versions/{v}]:predict`` for a loaded version, as plain ASGI.

FastAPI's routing, dependency resolution and response encoding cost ~0.3 ms per request; on a 2-core
machine that shared with the clients is a third of the budget for 1,000 req/s. This middleware answers
the predict route itself when the version is loaded and the body takes the fast numeric JSON (or
binary ``b64``) path of ``fastjson``; the response is written with orjson. Everything else (a version
still to load, strings, NaN tokens, a body the fast parser does not take, every other route) goes on
to FastAPI unchanged, with the body replayed, so both paths give the same answers and the same errors.
"""

from __future__ import annotations

import re
import time

from tfdl.serving import fastjson
from tfdl.serving.middleware import TFServingJSON
from tfdl.serving.tensors import RequestError, format_predict

_PREDICT_RE = re.compile(
    r"^/v1/models/([A-Za-z0-9][A-Za-z0-9_.\-]{0,127})(?:/versions/([0-9]{1,18}))?:predict$"
)
_JSON = [(b"content-type", b"application/json")]


class FastPredict:
    def __init__(self, app, store, metrics):
        self.app, self.store, self.metrics = app, store, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(":predict"):
            return await self.app(scope, receive, send)
        match = _PREDICT_RE.match(scope["path"])
        sv = None
        if match:
            version = match.group(2)
            if version is None or int(version) in self.store.served.get(match.group(1), {}):
                sv = self.store.get_loaded(match.group(1), None if version is None else int(version))
        if sv is None:
            return await self.app(scope, receive, send)
        start = scope.get("tfdl.start", time.perf_counter())
        chunks, more = [], True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":  # client went away
                return
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        raw = b"".join(chunks)
        try:
            parsed = fastjson.parse_fast(raw, sv.spec)
        except RequestError as e:
            return await _send(send, e.status, TFServingJSON({"error": str(e)}).body)
        if parsed is None:
            return await self.app(scope, _replay(raw, receive), send)
        inputs, rows = parsed
        try:
            out = await sv.batcher.submit(inputs)
        except RequestError as e:
            return await _send(send, e.status, TFServingJSON({"error": str(e)}).body)
        except Exception as e:
            if type(e).__name__ == "InvalidArgumentError":
                msg = f"the model rejected the input: {str(e).splitlines()[0][:300]}"
                return await _send(send, 400, TFServingJSON({"error": msg}).body)
            msg = f"internal error ({type(e).__name__}); the server keeps running"
            return await _send(send, 500, TFServingJSON({"error": msg}).body)
        if len(out) == 1:
            content = {("predictions" if rows else "outputs"): next(iter(out.values()))}
            body = fastjson.dumps(content)
        else:
            body = None
        if body is None:
            body = TFServingJSON(format_predict(out, rows)).body
        await _send(send, 200, body)
        self.metrics.observe_model(
            sv.name, sv.version, "serving_default", "predict", "rest", time.perf_counter() - start
        )


async def _send(send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _replay(raw: bytes, receive):
    sent = False

    async def again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return again
