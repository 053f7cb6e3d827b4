"""The server against a real uvicorn on loopback: TensorFlow Serving's contract, errors, hot reload."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time

import httpx
import numpy as np
import pytest

from tests.serving.helpers import LABELS, export_tabular, export_vision, running


def _png(value: int, size: int = 8) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    export_vision(root)
    export_tabular(root, "credit", "classification")
    export_tabular(root, "price", "regression")
    return root


@pytest.fixture(scope="module")
def url(root):
    from tfdl.serving.server import create_app

    app = create_app(root, max_batch=16, batch_wait_ms=20, poll_seconds=0.3, max_body_bytes=100_000)
    with running(app) as base:
        yield base


def _images(*values: int) -> list:
    return [np.full((8, 8, 1), v, np.uint8).tolist() for v in values]


def _good(client: httpx.Client, url: str) -> None:
    """The check after every bad request: a correct prediction still comes back."""
    r = client.post(f"{url}/v1/models/vision:predict", json={"instances": _images(0, 255)})
    assert r.status_code == 200, r.text
    assert [int(np.argmax(p)) for p in r.json()["predictions"]] == [0, 2]


def test_status_and_metadata(url):
    with httpx.Client() as c:
        s = c.get(f"{url}/v1/models/vision").json()
        assert s["model_version_status"][0] == {
            "version": "1",
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
        }
        assert c.get(f"{url}/v1/models/vision/versions/1").status_code == 200
        meta = c.get(f"{url}/v1/models/vision/metadata").json()
        assert meta["model_spec"] == {"name": "vision", "signature_name": "", "version": "1"}
        sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
        image = sig["inputs"]["image"]
        assert image["dtype"] == "DT_UINT8"
        assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
        assert meta["model_card"]["labels"] == LABELS
        tab = c.get(f"{url}/v1/models/credit/versions/1/metadata").json()
        assert set(tab["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]) == {
            "a",
            "b",
        }


def test_predict_row_and_columnar(url):
    with httpx.Client() as c:
        rows = c.post(f"{url}/v1/models/vision:predict", json={"instances": _images(0, 128, 255)}).json()
        probs = np.array(rows["predictions"])
        assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
        assert probs.argmax(1).tolist() == [0, 1, 2]
        cols = c.post(
            f"{url}/v1/models/vision/versions/1:predict", json={"inputs": _images(0, 128, 255)}
        ).json()
        assert np.allclose(np.array(cols["outputs"]), probs, atol=1e-6)
        # Named inputs: rows of objects, or one object of columns; same answers.
        r = c.post(
            f"{url}/v1/models/price:predict",
            json={"instances": [{"a": [1.0], "b": [2.0]}, {"a": [0], "b": [0]}]},
        )
        assert np.allclose(r.json()["predictions"], [[9.0], [1.0]], atol=1e-4)
        r = c.post(
            f"{url}/v1/models/price:predict", json={"inputs": {"a": [[1.0], [0.0]], "b": [[2.0], [0.0]]}}
        )
        assert np.allclose(r.json()["outputs"], [[9.0], [1.0]], atol=1e-4)


def test_classify_and_regress(url):
    with httpx.Client() as c:
        r = c.post(
            f"{url}/v1/models/credit:classify",
            json={"examples": [{"a": 3.0, "b": 0.0}, {"a": 0.0, "b": 3.0}]},
        )
        res = r.json()["results"]
        assert [lab for lab, _ in res[0]] == ["no", "yes"]
        assert res[0][1][1] > 0.9 and res[1][0][1] > 0.9
        body = {
            "signature_name": "tensorflow/serving/regress",
            "context": {"b": 1.0},
            "examples": [{"a": 1.0}, {"a": 2.0}],
        }
        r = c.post(f"{url}/v1/models/price:regress", json=body)
        assert np.allclose(r.json()["results"], [6.0, 8.0], atol=1e-4)
        # The wrong verb for the task is a clear 400, not a guess.
        assert c.post(f"{url}/v1/models/price:classify", json=body).status_code == 400
        assert c.post(f"{url}/v1/models/vision:regress", json=body).status_code == 400
        _good(c, url)


def test_upload_image(url):
    with httpx.Client() as c:
        r = c.post(f"{url}/v1/models/vision:upload", files={"file": ("x.png", _png(250, 20), "image/png")})
        assert r.status_code == 200, r.text
        ans = r.json()
        assert ans["label"] == "bright" and ans["confidence"] > 0.5 and set(ans["scores"]) == set(LABELS)
        assert ans["version"] == 1 and len(ans["results"]) == 1


BAD_REQUESTS = [
    ("malformed json", "vision:predict", b'{"instances": [1, 2', 400),
    ("not an object", "vision:predict", b"[1, 2, 3]", 400),
    ("both formats", "vision:predict", json.dumps({"instances": _images(0), "inputs": _images(0)}), 400),
    ("neither format", "vision:predict", json.dumps({"foo": 1}), 400),
    ("empty instances", "vision:predict", json.dumps({"instances": []}), 400),
    ("wrong shape", "vision:predict", json.dumps({"instances": [[1, 2, 3]]}), 400),
    ("ragged", "vision:predict", json.dumps({"instances": [[[0]] * 8, [[0]] * 7]}), 400),
    ("strings for uint8", "vision:predict", json.dumps({"instances": [[[["a"]] * 8] * 8]}), 400),
    ("out of uint8 range", "vision:predict", json.dumps({"instances": [[[[300]] * 8] * 8]}), 400),
    ("fraction for uint8", "vision:predict", json.dumps({"instances": [[[[0.5]] * 8] * 8]}), 400),
    ("nan", "price:predict", '{"instances": [{"a": NaN, "b": 1.0}]}', 400),
    ("infinity", "price:regress", '{"examples": [{"a": Infinity, "b": 1.0}]}', 400),
    ("missing input", "price:predict", json.dumps({"instances": [{"a": 1.0}]}), 400),
    ("unknown input", "price:predict", json.dumps({"instances": [{"a": 1.0, "b": 1.0, "c": 2}]}), 400),
    (
        "context clash",
        "price:regress",
        json.dumps({"context": {"a": 1}, "examples": [{"a": 1, "b": 1}]}),
        400,
    ),
    ("bad b64", "vision:predict", json.dumps({"instances": [{"b64": "!!"}]}), 400),
    (
        "unknown signature",
        "vision:predict",
        json.dumps({"signature_name": "x", "instances": _images(0)}),
        400,
    ),
    ("unknown model", "nope:predict", json.dumps({"instances": _images(0)}), 404),
    ("unknown version", "vision/versions/99:predict", json.dumps({"instances": _images(0)}), 404),
    ("non-integer version", "vision/versions/abc:predict", json.dumps({"instances": _images(0)}), 404),
    ("traversal name", "..:predict", json.dumps({"instances": _images(0)}), 404),
    ("encoded traversal", "%2E%2E%2Fvision:predict", json.dumps({"instances": _images(0)}), 404),
    ("too large", "vision:predict", json.dumps({"instances": _images(*range(256), *range(256))}), 413),
]


@pytest.mark.parametrize("what,route,body,status", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_then_good(url, what, route, body, status):
    with httpx.Client() as c:
        r = c.post(f"{url}/v1/models/{route}", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, (what, r.text)
        assert isinstance(r.json()["error"], str) and r.json()["error"]
        _good(c, url)


@pytest.mark.parametrize(
    "content", [b"this is not an image", _png(10)[:30], b""], ids=["text", "corrupt", "empty"]
)
def test_bad_upload_then_good(url, content):
    with httpx.Client() as c:
        r = c.post(f"{url}/v1/models/vision:upload", files={"file": ("x.png", content, "image/png")})
        assert r.status_code == 422, r.text
        assert "error" in r.json()
        assert c.post(f"{url}/v1/models/vision:upload").status_code == 422  # no file at all
        assert c.post(
            f"{url}/v1/models/price:upload", files={"file": ("x.png", _png(1), "image/png")}
        ).status_code in (400, 422)
        _good(c, url)


def test_unknown_routes_and_status_errors(url):
    with httpx.Client() as c:
        assert c.get(f"{url}/v1/models/nope").status_code == 404
        assert c.get(f"{url}/v1/models/vision/versions/7").status_code == 404
        r = c.get(f"{url}/v1/nothing/here")
        assert r.status_code == 404 and "error" in r.json()
        assert c.get(f"{url}/v1/models/vision:predict").status_code in (404, 405)
        _good(c, url)


def test_concurrent_requests_are_batched(url):
    async def main():
        async with httpx.AsyncClient(timeout=30) as c:
            values = list(range(0, 256, 8))
            rs = await asyncio.gather(
                *[c.post(f"{url}/v1/models/vision:predict", json={"instances": _images(v)}) for v in values]
            )
            return values, rs

    before = _batch_stats(url)
    values, rs = asyncio.run(main())
    after = _batch_stats(url)
    assert all(r.status_code == 200 for r in rs)
    # Each answer is that request's own row, not a neighbour's.
    for v, r in zip(values, rs, strict=True):
        want = 0 if v < 80 else (2 if v > 176 else None)
        if want is not None:
            assert int(np.argmax(r.json()["predictions"][0])) == want, v
    calls, rows = after[0] - before[0], after[1] - before[1]
    assert rows == len(values) and calls < len(values) / 2, (calls, rows)


def _batch_stats(url: str) -> tuple[float, float]:
    text = httpx.get(f"{url}/metrics").text
    count = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('tfdl_batch_size_count{model="vision"')
    )
    total = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('tfdl_batch_size_sum{model="vision"')
    )
    return count, total


def test_healthz_metrics_docs(url):
    with httpx.Client() as c:
        h = c.get(f"{url}/healthz").json()
        assert h["status"] == "ok" and h["models"]["credit"] == 1
        text = c.get(f"{url}/metrics").text
        assert "tfdl_requests_total" in text and "tfdl_request_latency_seconds_bucket" in text
        assert 'tfdl_request_errors_total{code="404"' in text
        assert c.get(f"{url}/docs").status_code == 200
        spec = c.get(f"{url}/openapi.json").json()
        assert "/v1/models/{name}:predict" in spec["paths"]


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` (summed), from /metrics text."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total, found = total + float(line.rsplit(" ", 1)[1]), True
    assert found, (name, labels)
    return total


def test_metrics_per_model_version_signature(url):
    """Latency and batch-size histograms carry model, version and signature labels, per protocol."""
    sig = {"model": "vision", "version": "1", "signature": "serving_default"}
    with httpx.Client() as c:
        before = c.get(f"{url}/metrics").text
        n0 = _metric(before, "tfdl_model_latency_seconds_count", verb="predict", protocol="rest", **sig)
        b0 = _metric(before, "tfdl_batch_size_sum", **sig)
        for v in (0, 255, 128):  # the fast path (numeric JSON) ...
            assert c.post(
                f"{url}/v1/models/vision/versions/1:predict", json={"instances": _images(v)}
            ).is_success
        body = {"signature_name": "serving_default", "instances": [{"image": _images(0)[0]}]}
        assert c.post(f"{url}/v1/models/vision/versions/1:predict", json=body).is_success  # ... and FastAPI's
        r = c.post(f"{url}/v1/models/credit/versions/1:classify", json={"examples": [{"a": 1.0, "b": 0.0}]})
        assert r.is_success
        after = c.get(f"{url}/metrics").text
    assert (
        _metric(after, "tfdl_model_latency_seconds_count", verb="predict", protocol="rest", **sig) == n0 + 4
    )
    assert _metric(after, "tfdl_batch_size_sum", **sig) == b0 + 4
    le = _metric(
        after, "tfdl_model_latency_seconds_bucket", le="+Inf", verb="predict", protocol="rest", **sig
    )
    assert le == n0 + 4
    credit = {"model": "credit", "version": "1", "signature": "serving_default"}
    assert _metric(after, "tfdl_model_latency_seconds_count", verb="classify", **credit) >= 1
    assert _metric(after, "tfdl_batch_size_count", **credit) >= 1


@pytest.mark.slow
def test_load_mixed_good_and_bad_no_5xx(url):
    """32 concurrent clients x 50 requests on loopback, every third one bad: zero 5xx, good ones correct."""
    bad = [b[2] for b in BAD_REQUESTS if b[3] == 400]

    async def client(c: httpx.AsyncClient, k: int) -> list[tuple[int, int, int | None]]:
        out = []
        for i in range(50):
            if (k + i) % 3 == 0:
                body = bad[(k * 20 + i) % len(bad)]
                r = await c.post(f"{url}/v1/models/vision/versions/1:predict", content=body)
                out.append((r.status_code, 400, None))
            else:
                v = 0 if (k + i) % 2 else 255
                r = await c.post(f"{url}/v1/models/vision/versions/1:predict", json={"instances": _images(v)})
                got = int(np.argmax(r.json()["predictions"][0])) if r.status_code == 200 else None
                out.append((r.status_code, 200, (got, 0 if v == 0 else 2)))
        return out

    async def main():
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=32)) as c:
            return await asyncio.gather(*[client(c, k) for k in range(32)])

    results = [r for rs in asyncio.run(main()) for r in rs]
    assert len(results) == 32 * 50
    assert not [r for r in results if r[0] >= 500]
    assert all(code == want for code, want, _ in results)
    assert all(pair[0] == pair[1] for _, _, pair in results if pair is not None)


def test_hot_reload_switches_to_new_version(root, url):
    with httpx.Client() as c:
        mid = {"instances": _images(128)}
        before = c.post(f"{url}/v1/models/vision:predict", json=mid).json()["predictions"][0]
        assert int(np.argmax(before)) == 1
        export_vision(root, bias=30.0)  # version 2 says "dark" for everything
        deadline = time.monotonic() + 30
        while c.get(f"{url}/healthz").json()["models"]["vision"] != 2:
            assert time.monotonic() < deadline, "version 2 was not picked up"
            # The old version keeps answering while the new one loads.
            assert c.post(f"{url}/v1/models/vision:predict", json=mid).status_code == 200
            time.sleep(0.1)
        after = c.post(f"{url}/v1/models/vision:predict", json=mid).json()["predictions"][0]
        assert int(np.argmax(after)) == 0
        old = c.post(f"{url}/v1/models/vision/versions/1:predict", json=mid).json()["predictions"][0]
        assert np.allclose(old, before, atol=1e-6)
        assert [s["version"] for s in c.get(f"{url}/v1/models/vision").json()["model_version_status"]] == [
            "2",
            "1",
        ]


def test_b64_strings_decode():
    from tfdl.serving.tensors import RequestError, parse_predict

    spec = {"text": ([None], "object")}
    raw = base64.b64encode(b"\xff\x00bytes").decode()
    arrays, rows = parse_predict({"instances": [{"b64": raw}, "plain"]}, spec)
    assert rows and arrays["text"].tolist() == [b"\xff\x00bytes", b"plain"]
    with pytest.raises(RequestError):
        parse_predict({"instances": [{"b64": raw, "x": 1}]}, spec)
