"""TensorFlow Serving's gRPC API, driven by an unchanged TF Serving client (tensorflow-serving-api stubs)."""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
import pytest

from tests.serving.helpers import export_tabular, export_vision, running

grpc = pytest.importorskip("grpc")
apis = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tfdl.serving.server import create_app

    root = tmp_path_factory.mktemp("saved_models")
    export_vision(root)
    export_tabular(root, "credit", "classification")
    export_tabular(root, "price", "regression")
    app = create_app(
        root, max_batch=16, batch_wait_ms=2, poll_seconds=60, max_body_bytes=100_000, grpc_port=0
    )
    with running(app) as base:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.state.grpc_port}")
        yield base, channel
        channel.close()


def _stubs(channel):
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    return prediction_service_pb2_grpc.PredictionServiceStub(
        channel
    ), model_service_pb2_grpc.ModelServiceStub(channel)


def _predict_request(
    values=(0, 255), name="vision", version=None, signature="", dtype=np.uint8, shape=(8, 8, 1)
):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    req = predict_pb2.PredictRequest()
    req.model_spec.name = name
    if version is not None:
        req.model_spec.version.value = version
    req.model_spec.signature_name = signature
    x = np.stack([np.full(shape, v) for v in values]).astype(dtype)
    req.inputs["image"].CopyFrom(tf.make_tensor_proto(x))
    return req


def _examples(kind: str, rows: list[dict], name: str):
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    req = (
        classification_pb2.ClassificationRequest if kind == "classify" else regression_pb2.RegressionRequest
    )()
    req.model_spec.name = name
    for row in rows:
        ex = req.input.example_list.examples.add()
        for k, v in row.items():
            ex.features.feature[k].float_list.value.append(v)
    del tf
    return req


def _good(predict) -> None:
    import tensorflow as tf

    resp = predict.Predict(_predict_request(), timeout=30)
    probs = tf.make_ndarray(next(iter(resp.outputs.values())))
    assert probs.shape == (2, 3) and list(np.argmax(probs, axis=1)) == [0, 2]


def test_predict_classify_regress(server):
    import tensorflow as tf

    _, channel = server
    predict, _ = _stubs(channel)
    resp = predict.Predict(_predict_request(version=1), timeout=30)
    assert resp.model_spec.name == "vision" and resp.model_spec.version.value == 1
    assert resp.model_spec.signature_name == "serving_default"
    probs = tf.make_ndarray(next(iter(resp.outputs.values())))
    assert list(np.argmax(probs, axis=1)) == [0, 2] and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # The same numbers as the REST API.
    base, _ = server
    rest = httpx.post(
        f"{base}/v1/models/vision:predict", json={"instances": np.full((2, 8, 8, 1), 0).tolist()}
    )
    assert np.allclose(rest.json()["predictions"][0], probs[0], atol=1e-6)

    c = predict.Classify(
        _examples("classify", [{"a": 3.0, "b": 0.0}, {"a": 0.0, "b": 3.0}], "credit"), timeout=30
    )
    classes = [[(k.label, k.score) for k in r.classes] for r in c.result.classifications]
    assert [cl[0] for cl in classes[0]] == ["no", "yes"]
    assert classes[0][1][1] > 0.9 and classes[1][1][1] < 0.1
    r = predict.Regress(_examples("regress", [{"a": 1.0, "b": 2.0}], "price"), timeout=30)
    assert r.result.regressions[0].value == pytest.approx(9.0, abs=1e-4)


def test_metadata_and_status(server):
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

    _, channel = server
    predict, models = _stubs(channel)
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "vision"
    req.metadata_field.append("signature_def")
    resp = predict.GetModelMetadata(req, timeout=30)
    sigmap = get_model_metadata_pb2.SignatureDefMap()
    resp.metadata["signature_def"].Unpack(sigmap)
    image = sigmap.signature_def["serving_default"].inputs["image"]
    assert image.dtype == 4  # DT_UINT8
    assert [d.size for d in image.tensor_shape.dim] == [-1, 8, 8, 1]
    assert resp.model_spec.version.value == 1

    sreq = get_model_status_pb2.GetModelStatusRequest()
    sreq.model_spec.name = "credit"
    status = models.GetModelStatus(sreq, timeout=30)
    assert [(s.version, s.state) for s in status.model_version_status] == [(1, 30)]  # AVAILABLE


def _bad_requests():
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

    C = grpc.StatusCode
    IA = C.INVALID_ARGUMENT
    nan = _examples("regress", [{"a": float("nan"), "b": 1.0}], "price")
    strings = _predict_request()
    strings.inputs["image"].CopyFrom(tf.make_tensor_proto(np.array([b"x"], dtype=object)))
    extra = _predict_request()
    extra.inputs["other"].CopyFrom(tf.make_tensor_proto(np.zeros(1, np.float32)))
    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = "vision"
    meta.metadata_field.append("nonsense")
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "nope"
    big = _predict_request(values=range(256), shape=(8, 8, 1), dtype=np.int64)  # 131 kB > 100 kB limit
    return [
        ("unknown model", "Predict", _predict_request(name="nope"), C.NOT_FOUND),
        ("unknown version", "Predict", _predict_request(version=99), C.NOT_FOUND),
        ("unknown signature", "Predict", _predict_request(signature="x"), IA),
        ("out of uint8 range", "Predict", _predict_request(values=(300,), dtype=np.int32), IA),
        ("fraction for uint8", "Predict", _predict_request(values=(0.5,), dtype=np.float32), IA),
        ("wrong shape", "Predict", _predict_request(shape=(8, 7, 1)), IA),
        ("strings for numbers", "Predict", strings, IA),
        ("unknown input", "Predict", extra, IA),
        ("nan", "Regress", nan, IA),
        ("missing feature", "Regress", _examples("regress", [{"a": 1.0}], "price"), IA),
        ("classify a regressor", "Classify", _examples("classify", [{"a": 1.0, "b": 1.0}], "price"), IA),
        ("regress a classifier", "Regress", _examples("regress", [{"a": 1.0, "b": 1.0}], "credit"), IA),
        ("no examples", "Classify", _examples("classify", [], "credit"), IA),
        ("metadata field", "GetModelMetadata", meta, IA),
        ("status of unknown model", "GetModelStatus", status, C.NOT_FOUND),
        ("too large", "Predict", big, C.RESOURCE_EXHAUSTED),
    ]


BAD = [
    "unknown model", "unknown version", "unknown signature", "out of uint8 range", "fraction for uint8",
    "wrong shape", "strings for numbers", "unknown input", "nan", "missing feature", "classify a regressor",
    "regress a classifier", "no examples", "metadata field", "status of unknown model", "too large",
]  # fmt: skip


@pytest.mark.parametrize("what", BAD)
def test_bad_request_then_good(server, what):
    _, channel = server
    predict, models = _stubs(channel)
    case = {c[0]: c for c in _bad_requests()}[what]
    _, method, request, code = case
    stub = models if method == "GetModelStatus" else predict
    with pytest.raises(grpc.RpcError) as err:
        getattr(stub, method)(request, timeout=30)
    assert err.value.code() == code, (what, err.value.code(), err.value.details())
    assert err.value.details()
    _good(predict)


@pytest.mark.slow
def test_load_mixed_rest_and_grpc_no_server_errors(server):
    """16 gRPC threads + 16 REST clients, every third request bad: no 5xx, no INTERNAL, right answers."""
    import tensorflow as tf

    base, channel = server
    predict, _ = _stubs(channel)
    bad = [c for c in _bad_requests() if c[1] == "Predict" and c[0] != "too large"]
    grpc_errors: list[str] = []

    def grpc_client(k: int) -> None:
        for i in range(30):
            if (k + i) % 3 == 0:
                _, _, req, code = bad[(k + i) % len(bad)]
                try:
                    predict.Predict(req, timeout=60)
                    grpc_errors.append("a bad request was answered")
                except grpc.RpcError as e:
                    if e.code() != code:
                        grpc_errors.append(f"{e.code()}: {e.details()}")
            else:
                v = 0 if (k + i) % 2 else 255
                resp = predict.Predict(_predict_request(values=(v,)), timeout=60)
                got = int(np.argmax(tf.make_ndarray(next(iter(resp.outputs.values())))[0]))
                if got != (0 if v == 0 else 2):
                    grpc_errors.append(f"wrong answer {got} for {v}")

    async def rest_clients() -> list[int]:
        async def one(c: httpx.AsyncClient, k: int) -> list[int]:
            codes = []
            for i in range(30):
                body = {"instances": [[[[0]] * 8] * 8]} if (k + i) % 3 else {"instances": [[[[300]] * 8] * 8]}
                codes.append((await c.post(f"{base}/v1/models/vision:predict", json=body)).status_code)
            return codes

        async with httpx.AsyncClient(timeout=120) as c:
            return [s for r in await asyncio.gather(*[one(c, k) for k in range(16)]) for s in r]

    threads = [threading.Thread(target=grpc_client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    codes = asyncio.run(rest_clients())
    for t in threads:
        t.join()
    assert not grpc_errors, grpc_errors[:5]
    assert len(codes) == 16 * 30 and not [c for c in codes if c >= 500] and set(codes) == {200, 400}
