"""TensorFlow Serving's gRPC API (``--grpc-port``): PredictionService (Predict, Classify, Regress,
GetModelMetadata) and ModelService (GetModelStatus), from the protos of ``tensorflow-serving-api``, so an
unchanged TF Serving gRPC client works.

The server is ``grpc.aio`` in the same event loop as the REST server and shares its store, micro-batcher
and metrics: a gRPC request and a REST request for the same version can share one model call. Requests
are checked by the same rules as REST (``tensors``); a ``RequestError`` becomes a gRPC status:
400/422 -> INVALID_ARGUMENT, 404 -> NOT_FOUND, 413 -> RESOURCE_EXHAUSTED, 503 -> UNAVAILABLE; anything
unexpected -> INTERNAL (logged), and the server keeps running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import numpy as np

from tfdl.serving.contract import is_classifier
from tfdl.serving.store import ServedVersion
from tfdl.serving.tensors import RequestError, classify_results, parse_examples, to_array

log = logging.getLogger("tfdl.serving")
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
_SIGNATURES = {
    "predict": ("", "serving_default"),
    "classify": ("", "serving_default", "tensorflow/serving/classify"),
    "regress": ("", "serving_default", "tensorflow/serving/regress"),
}

Served = Callable[[str, str | None], Awaitable[ServedVersion]]


def _version(spec) -> str | None:
    if spec.HasField("version"):
        return str(spec.version.value)
    if spec.version_label:
        raise RequestError(
            f"version labels are not supported (got '{spec.version_label[:40]}'); give a version"
        )
    return None


def _check_signature(spec, verb: str) -> None:
    if spec.signature_name not in _SIGNATURES[verb]:
        raise RequestError(
            f"signature '{spec.signature_name[:60]}' not found; this model has serving_default"
        )


def _spec_out(response_spec, sv: ServedVersion, signature: str) -> None:
    response_spec.name = sv.name
    response_spec.version.value = sv.version
    response_spec.signature_name = signature or "serving_default"


def _tensor_to_array(proto, name: str, shape, dtype: str, allow_nan: bool) -> np.ndarray:
    import tensorflow as tf

    try:
        arr = tf.make_ndarray(proto)
    except Exception as e:  # an unknown dtype, content that does not fill the shape
        raise RequestError(f"input '{name}': not a readable TensorProto ({type(e).__name__})") from None
    if dtype == "object":
        if arr.dtype != object:
            raise RequestError(f"input '{name}' expects strings (DT_STRING); got {arr.dtype}")
        return to_array(arr.tolist(), name, shape, dtype)
    if arr.dtype == object:
        raise RequestError(f"input '{name}' expects numbers of type {dtype}; got strings")
    return to_array(arr, name, shape, dtype, allow_nan=allow_nan)


def _feature_value(feature) -> Any:
    kind = feature.WhichOneof("kind")
    if kind is None:
        return []
    values = list(getattr(feature, kind).value)
    return values[0] if len(values) == 1 else values


def _examples_body(request_input) -> dict:
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples, context = request_input.example_list.examples, None
    elif kind == "example_list_with_context":
        examples = request_input.example_list_with_context.examples
        context = request_input.example_list_with_context.context
    else:
        raise RequestError("the request has no input examples (example_list or example_list_with_context)")

    def features(ex) -> dict:
        return {k: _feature_value(f) for k, f in ex.features.feature.items()}

    body: dict[str, Any] = {"examples": [features(ex) for ex in examples]}
    if context is not None:
        body["context"] = features(context)
    return body


def _reshape_flat_features(body: dict, sv: ServedVersion) -> dict:
    """tf.Example features are flat lists: reshape one to its input's shape when the sizes fit."""
    for ex in body["examples"]:
        for name, (shape, _) in sv.spec.items():
            v = ex.get(name)
            inner = shape[1:]
            if isinstance(v, list) and len(inner) > 1 and all(d is not None for d in inner):
                if len(v) == int(np.prod(inner)):
                    ex[name] = np.asarray(v).reshape(inner).tolist()
    return body


class Services:
    """Both servicers' methods; ``add_to(server)`` registers them."""

    def __init__(self, store, served: Served, metrics):
        self.store, self.served, self.metrics = store, served, metrics

    def add_to(self, server) -> None:
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        outer = self

        class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
            async def Predict(self, request, context):  # noqa: N802 (gRPC method names)
                return await outer._guard(outer.predict, request, context)

            async def Classify(self, request, context):  # noqa: N802
                return await outer._guard(outer.classify, request, context)

            async def Regress(self, request, context):  # noqa: N802
                return await outer._guard(outer.regress, request, context)

            async def GetModelMetadata(self, request, context):  # noqa: N802
                return await outer._guard(outer.metadata, request, context)

        class Models(model_service_pb2_grpc.ModelServiceServicer):
            async def GetModelStatus(self, request, context):  # noqa: N802
                return await outer._guard(outer.status, request, context)

            async def HandleReloadConfigRequest(self, request, context):  # noqa: N802
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, "models are reloaded from the model root")

        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Prediction(), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), server)

    async def _guard(self, method, request, context):
        start = time.perf_counter()
        try:
            return await method(request, start)
        except RequestError as e:
            code = CODES.get(e.status, grpc.StatusCode.INVALID_ARGUMENT)
            await context.abort(code, str(e))
        except Exception as e:
            if type(e).__name__ == "InvalidArgumentError":
                msg = f"the model rejected the input: {str(e).splitlines()[0][:300]}"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, msg)
            if isinstance(e, grpc.aio.AbortError):
                raise
            log.exception("unhandled gRPC error")
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(e).__name__})")

    async def _run(self, sv: ServedVersion, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return await sv.batcher.submit(inputs)

    def _observe(self, sv: ServedVersion, verb: str, start: float) -> None:
        self.metrics.observe_model(
            sv.name, sv.version, "serving_default", verb, "grpc", time.perf_counter() - start
        )

    async def predict(self, request, start: float):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        _check_signature(request.model_spec, "predict")
        sv = await self.served(request.model_spec.name, _version(request.model_spec))
        names = set(request.inputs)
        if names != set(sv.spec):
            raise RequestError(f"inputs must be exactly {sorted(sv.spec)}; got {sorted(names)}")
        inputs = {
            n: _tensor_to_array(request.inputs[n], n, *sv.spec[n], allow_nan=sv.allow_nan) for n in sv.spec
        }
        if len({len(a) for a in inputs.values()}) != 1:
            raise RequestError("all inputs need the same batch size")
        wanted = list(request.output_filter) or list(sv.outputs)
        unknown = set(wanted) - set(sv.outputs)
        if unknown:
            raise RequestError(
                f"output_filter names unknown outputs {sorted(unknown)}; outputs: {list(sv.outputs)}"
            )
        out = await self._run(sv, inputs)
        response = predict_pb2.PredictResponse()
        _spec_out(response.model_spec, sv, request.model_spec.signature_name)
        for k in wanted:
            response.outputs[k].CopyFrom(tf.make_tensor_proto(np.asarray(out[k])))
        self._observe(sv, "predict", start)
        return response

    async def classify(self, request, start: float):
        from tensorflow_serving.apis import classification_pb2

        _check_signature(request.model_spec, "classify")
        sv = await self.served(request.model_spec.name, _version(request.model_spec))
        if not is_classifier(sv):
            raise RequestError(
                f"model '{sv.name}' is a {sv.meta.get('task', 'non-classification')} model; use Regress"
            )
        body = _reshape_flat_features(_examples_body(request.input), sv)
        out = await self._run(sv, parse_examples(body, sv.spec, sv.allow_nan))
        results = classify_results(next(iter(out.values())), list(sv.meta.get("labels") or []))
        response = classification_pb2.ClassificationResponse()
        _spec_out(response.model_spec, sv, request.model_spec.signature_name)
        for row in results:
            c = response.result.classifications.add()
            for label, score in row:
                c.classes.add(label=label, score=score)
        self._observe(sv, "classify", start)
        return response

    async def regress(self, request, start: float):
        from tensorflow_serving.apis import regression_pb2

        _check_signature(request.model_spec, "regress")
        sv = await self.served(request.model_spec.name, _version(request.model_spec))
        first_shape = next(iter(sv.outputs.values()))[0]
        if is_classifier(sv) or len(first_shape) > 2 or (len(first_shape) == 2 and first_shape[1] != 1):
            raise RequestError(
                f"model '{sv.name}' does not output one value per example; use Predict or Classify"
            )
        body = _reshape_flat_features(_examples_body(request.input), sv)
        out = await self._run(sv, parse_examples(body, sv.spec, sv.allow_nan))
        response = regression_pb2.RegressionResponse()
        _spec_out(response.model_spec, sv, request.model_spec.signature_name)
        for v in np.asarray(next(iter(out.values()))).reshape(-1):
            response.result.regressions.add(value=float(v))
        self._observe(sv, "regress", start)
        return response

    async def metadata(self, request, start: float):
        from tensorflow.core.framework import tensor_shape_pb2, types_pb2
        from tensorflow.core.protobuf import meta_graph_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        fields = set(request.metadata_field)
        if fields != {"signature_def"}:
            raise RequestError(f'metadata_field must be ["signature_def"]; got {sorted(fields)}')
        sv = await self.served(request.model_spec.name, _version(request.model_spec))
        from tfdl.serving.contract import metadata as rest_metadata

        sig_json = rest_metadata(sv)["metadata"]["signature_def"]["signature_def"]["serving_default"]
        sig = meta_graph_pb2.SignatureDef(method_name=sig_json["method_name"])
        for side, target in (("inputs", sig.inputs), ("outputs", sig.outputs)):
            for name, t in sig_json[side].items():
                info = target[name]
                info.name = t["name"]
                info.dtype = types_pb2.DataType.Value(t["dtype"]) if t["dtype"] != "DT_INVALID" else 0
                dims = [
                    tensor_shape_pb2.TensorShapeProto.Dim(size=int(d["size"]))
                    for d in t["tensor_shape"]["dim"]
                ]
                info.tensor_shape.dim.extend(dims)
        sigmap = get_model_metadata_pb2.SignatureDefMap()
        sigmap.signature_def["serving_default"].CopyFrom(sig)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _spec_out(response.model_spec, sv, "")
        response.model_spec.signature_name = ""
        response.metadata["signature_def"].Pack(sigmap)
        return response

    async def status(self, request, start: float):
        from tensorflow_serving.apis import get_model_status_pb2

        name, version = self.store.resolve(request.model_spec.name, _version(request.model_spec))
        if version is None and name not in self.store.on_disk:
            raise RequestError(f"Servable not found for request: model '{name}'", 404)
        response = get_model_status_pb2.GetModelStatusResponse()
        state = get_model_status_pb2.ModelVersionStatus.State
        for row in self.store.status(name, version)["model_version_status"]:
            s = response.model_version_status.add(version=int(row["version"]))
            s.state = state.Value(row["state"])
            s.status.error_code = 0 if row["status"]["error_code"] == "OK" else 2  # OK / UNKNOWN
            s.status.error_message = row["status"]["error_message"]
        return response


async def start_grpc(services: Services, host: str, port: int, max_message_bytes: int):
    """A started ``grpc.aio`` server on ``host:port`` (port 0 picks a free one; ``server.port`` says it)."""
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    server = grpc.aio.server(options=options)
    services.add_to(server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind the gRPC port {host}:{port}")
    await server.start()
    server.port = bound  # type: ignore[attr-defined]
    return server
