"""`tfdl bench serve`: serving throughput and tail latency, every server variant side by side in one run.

Each server runs in its own uvicorn subprocess on loopback (uvloop + httptools, no access log) and serves
the same version: the newest ``vision`` export under ``--model-root`` (or, when there is none, an
untrained copy of the vision CNN on 28x28x1 uint8 images with a checked float TFLite file, written to a
temporary folder: speed does not depend on the weights). A ``tflite`` row says so when its server found
no checked TFLite file and answered from the SavedModel. The load
generator is ``wrk`` (C, keep-alive HTTP/1.1; ``apt-get install wrk``) with ``--clients`` connections,
each sending one single-image ``:predict`` after the other for ``--seconds``; rounds alternate between
the variants so a busy neighbour on the machine hits them alike; medians over rounds are printed.

Variants: ``constant`` answers a fixed JSON without reading the body (the load generator's ceiling),
``course`` (FastAPI + keras ``model.predict``, only when a .keras file is found), ``naive`` (the tuned
one-request-per-call server: the SavedModel function from FastAPI's thread pool), and ``tfdl serve``
with the SavedModel or the TFLite backend, fed a JSON body (28, 28, 1) or the binary ``b64`` body.
gRPC variants (TF Serving's Predict) use a Python ``grpc.aio`` client in this process; its ceiling is
``grpc constant`` (a PredictionService answering a fixed tensor). ``--workers N`` (N > 1) adds
``tfdl savedmodel json, N workers`` (and b64): ``tfdl serve --workers N``, N processes behind one port.

    .venv/bin/python benchmarks/serve_bench.py [--model-root saved_models] [--clients 16]
        [--seconds 5] [--rounds 3] [--only constant,naive,...] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def course_app(keras_file: str):
    """The course's listing, verbatim in spirit: FastAPI, the .keras model loaded once with
    ``keras.models.load_model``, and ``model.predict`` on each request's example."""
    import keras
    from fastapi import FastAPI

    import tfdl.models  # noqa: F401  (registers tfdl's custom layers)

    model = keras.models.load_model(keras_file, safe_mode=True)
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/v1/models/vision:predict")
    def predict(body: dict):
        x = np.asarray(body["instances"], dtype=np.uint8)
        return {"predictions": model.predict(x, verbose=0).tolist()}

    return app


def keras_file_for(version_dir: Path) -> Path | None:
    """The run's model.keras behind an exported version (the model card names the run)."""
    import json

    from tfdl.runs import DEFAULT_RUNS_DIR

    card = json.loads((version_dir / "metadata.json").read_text())
    candidates = [version_dir / "model.keras"]
    if card.get("run"):
        candidates.append(ROOT / DEFAULT_RUNS_DIR / card.get("app", "vision") / card["run"] / "model.keras")
    return next((c for c in candidates if c.is_file()), None)


def naive_app(version_dir: str):
    """A tuned one-request-per-call server: the SavedModel's concrete function, called per request
    from FastAPI's thread pool (no Keras predict overhead). A stronger baseline than the course's."""
    from fastapi import FastAPI

    from tfdl.export.load import load_version

    model = load_version(version_dir)
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/v1/models/vision:predict")
    def predict(body: dict):  # a sync endpoint: FastAPI runs it in its thread pool, one model call each
        x = np.asarray(body["instances"], dtype=np.uint8)
        return {"predictions": model.predict(x).tolist()}

    return app


def export_cnn(root: Path) -> Path:
    """An untrained copy of the vision CNN (28x28x1 uint8 -> 10 classes) as version 1 of ``vision`` under
    ``root``, with its model.keras (for the course-listing server) and a checked float TFLite file (for
    ``--backend tflite``): what the benchmark serves when ``--model-root`` has no vision export."""
    import keras

    from tfdl.export.savedmodel import signature_in_words, write_version
    from tfdl.models import build_cnn

    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1), dtype="uint8", name="image")
    model = build_cnn((28, 28, 1), 10, inputs=inputs, preprocess=keras.layers.Rescaling(1.0 / 255))
    card = {
        "app": "vision",
        "model": "cnn (untrained, benchmark)",
        "task": "classification",
        "labels": [str(i) for i in range(10)],
        "signature": signature_in_words(model),
    }

    def write(p: Path) -> None:
        model.export(str(p), format="tf_saved_model", verbose=False)
        model.save(p / "model.keras")  # for the course-listing server

    version = write_version(root, "vision", write, card)
    add_checked_tflite(version, model)
    return version


def add_checked_tflite(version_dir: Path, model) -> None:
    """Convert ``model`` to a float .tflite file in ``version_dir/tflite/`` and check it as ``tfdl export
    --format tflite`` does: run by ai_edge_litert in a fresh process (no TensorFlow) on 64 random images,
    compared with the version's SavedModel. ``parity.json`` records the result; the TFLite backend serves
    the file only if it passed."""
    from tfdl.export import tflite_convert as C
    from tfdl.export.load import load_version
    from tfdl.export.parity import run_tflite

    with tempfile.TemporaryDirectory() as tmp:
        data = C.convert(C.save_for_conversion(model, tmp), "none")
    out = version_dir / "tflite"
    out.mkdir(exist_ok=True)
    path = out / "model-none.tflite"
    path.write_bytes(data)
    x = np.random.default_rng(1).integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
    pred, info = run_tflite(path, x, latency_runs=20)
    diff = float(np.max(np.abs(pred.reshape(64, -1) - load_version(version_dir).predict(x).reshape(64, -1))))
    record = {"file": path.name, "quantize": "none", "metric": "max_abs_diff", "value": diff,
              "within_tolerance": diff < 1e-3, "n_test": 64, "latency_ms": info["latency_ms"],
              "runtime": "ai_edge_litert (no TensorFlow in the process)"}  # fmt: skip
    (out / "parity.json").write_text(json.dumps({"files": {"none": record}}, indent=2))
    if not record["within_tolerance"]:
        print(f"serve_bench: the TFLite file differs from the SavedModel by {diff:.2e}; tflite rows "
              "serve the SavedModel", file=sys.stderr)  # fmt: skip


def bench_version(model_root: str | Path, tmp: str | Path) -> tuple[Path, Path, str]:
    """(model root to serve, version folder, what it is): the newest ``vision`` export under
    ``model_root``, else a fresh untrained CNN written under ``tmp`` (see :func:`export_cnn`)."""
    from tfdl.export.savedmodel import list_versions

    root = Path(model_root)
    versions = list_versions(root / "vision")
    if versions:
        return root, root / "vision" / str(versions[-1]), "exported vision model"
    print("serve_bench: no vision export under the model root; exporting an untrained CNN (speed does not "
          "depend on the weights)", file=sys.stderr)  # fmt: skip
    return Path(tmp), export_cnn(Path(tmp)), "vision CNN (untrained copy)"


def constant_app(_target: str):
    """Answers every request with a fixed prediction: what the load generator + uvicorn can do."""
    answer = json.dumps({"predictions": [[0.1] * 10]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            msg = await receive()
            more = msg.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def start(
    kind: str, target: str, port: int, grpc_port: int | None = None, workers: int = 1
) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--serve", kind, "--target", target, "--port", str(port)]
    cmd += ["--workers", str(workers)]
    if grpc_port is not None and kind in ("constant", "savedmodel", "tflite"):
        cmd += ["--grpc-port", str(grpc_port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with code {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, body_file: Path, clients: int, seconds: float, threads: int = 1) -> dict:
    """One wrk run: req/s, p50/p99 latency (ms) and non-2xx count from its --latency report."""
    script = body_file.with_suffix(".lua")
    script.write_text(LUA.replace("{body}", str(body_file)))
    cmd = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "60s", "--latency",
           "-s", str(script), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:(.*)", out)  # connect / read / write / timeout counts
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": (int(bad.group(1)) if bad else 0)
        + (sum(map(int, re.findall(r"\d+", errs.group(1)))) if errs else 0),
    }


def tflite_serves(predict_url: str) -> bool:
    """True when the ``--backend tflite`` server really answers from a .tflite file (its /healthz)."""
    import httpx

    health = httpx.get(predict_url.split("/v1/")[0] + "/healthz", timeout=30).json()
    return any(str(b).startswith("tflite") for b in health.get("backends", {}).values())


def check_answer(url: str, body: bytes) -> None:
    """Every variant must give one 10-way prediction for the body (so no variant measures errors)."""
    import httpx

    r = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=60)
    r.raise_for_status()
    pred = r.json()["predictions"]
    assert len(pred) == 1 and len(pred[0]) == 10, pred


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-root", default="saved_models")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=5.0, help="per variant and round")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    p.add_argument("--only", default="", help="comma-separated variant names")
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--target", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--grpc-port", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=1, help="also measure tfdl serve --workers N (N > 1)")
    a = p.parse_args()
    if a.serve == "workers":  # child process: tfdl serve --workers N (the supervisor and N workers)
        from tfdl.serving.workers import run_workers

        opts = {"poll_seconds": 3600, "log_level": "warning", "access_log": False}
        run_workers(a.target, opts, "127.0.0.1", a.port, a.workers)
        return
    if a.serve:  # child process: one server
        import uvicorn

        from tfdl.serving.server import create_app

        makers = {
            "constant": constant_app,
            "naive": naive_app,
            "course": course_app,
            "savedmodel": lambda t: create_app(t, poll_seconds=3600, grpc_port=a.grpc_port),
            "tflite": lambda t: create_app(t, poll_seconds=3600, backend="tflite", grpc_port=a.grpc_port),
        }
        app = makers[a.serve](a.target)
        if a.serve == "constant":
            app = _with_healthz(app, a.grpc_port)
        uvicorn.run(
            app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False,
            loop="uvloop", http="httptools",
        )  # fmt: skip
        return
    if shutil.which("wrk") is None:
        sys.exit("serve_bench: the load generator wrk is missing; install it: apt-get install -y wrk")

    from tests.serving.helpers import free_port

    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root, version_dir, what = bench_version(a.model_root, tmp)
        image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
        bodies = {
            "json": json.dumps({"instances": [image.tolist()]}).encode(),
            "b64": json.dumps({"instances": [{"b64": base64.b64encode(image.tobytes()).decode()}]}).encode(),
        }
        files = {}
        for k, b in bodies.items():
            files[k] = Path(tmp) / f"body-{k}.json"
            files[k].write_bytes(b)
        # variant -> (server kind, target, body)
        variants = {
            "constant": ("constant", "-", "json"),
            "course": ("course", str(keras_file_for(version_dir) or ""), "json"),
            "naive": ("naive", str(version_dir), "json"),
            "tfdl savedmodel json": ("savedmodel", str(root), "json"),
            "tfdl savedmodel b64": ("savedmodel", str(root), "b64"),
            "tfdl tflite json": ("tflite", str(root), "json"),
            "tfdl tflite b64": ("tflite", str(root), "b64"),
            "grpc constant": ("constant", "-", "grpc"),
            "tfdl grpc savedmodel": ("savedmodel", str(root), "grpc"),
            "tfdl grpc tflite": ("tflite", str(root), "grpc"),
        }
        if a.workers > 1:
            variants[f"tfdl savedmodel json, {a.workers} workers"] = ("workers", str(root), "json")
            variants[f"tfdl savedmodel b64, {a.workers} workers"] = ("workers", str(root), "b64")
        if not keras_file_for(version_dir):
            variants.pop("course")
        if a.only:
            keep = set(a.only.split(","))
            variants = {k: v for k, v in variants.items() if k in keep or v[0] in keep}
        procs, urls, grpc_ports = {}, {}, {}
        rounds: dict[str, list[dict]] = {k: [] for k in variants}
        try:
            for kind, target, _ in variants.values():
                if kind not in procs:
                    port, grpc_ports[kind] = free_port(), free_port()
                    procs[kind] = start(kind, target, port, grpc_ports[kind], a.workers)
                    urls[kind] = f"http://127.0.0.1:{port}/v1/models/vision:predict"
            if "tflite" in urls and not tflite_serves(urls["tflite"]):  # say so instead of a false row
                variants = {
                    (f"{k} (no checked TFLite file: SavedModel)" if v[0] == "tflite" else k): v
                    for k, v in variants.items()
                }
                rounds = {k: [] for k in variants}
            for kind, _, body in variants.values():
                if kind != "constant" and body != "grpc":
                    check_answer(urls[kind], bodies[body])
            for _ in range(a.rounds):
                for name, (kind, _, body) in variants.items():
                    if body == "grpc":
                        run = grpc_load(grpc_ports[kind], image, a.clients, a.seconds, kind != "constant")
                        rounds[name].append(run)
                    else:
                        rounds[name].append(wrk(urls[kind], files[body], a.clients, a.seconds))
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=30)
    results = {k: {m: float(np.median([r[m] for r in rs])) for m in rs[0]} for k, rs in rounds.items()}
    print(
        f"\nmodel: {what} ({version_dir.name}); wrk, {a.clients} keep-alive connections, {a.seconds:g} s x "
        f"{a.rounds} rounds per variant (medians), one 28x28x1 image per request; {os.cpu_count()} CPUs; "
        f"load average {load1:.2f} at start, {os.getloadavg()[0]:.2f} at end\n"
    )
    base = results.get("naive", {}).get("rps")
    print("| variant | req/s | vs naive | p50 ms | p99 ms | errors (non-2xx, socket) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        ratio = f"{r['rps'] / base:.2f}x" if base else "-"
        print(f"| {name} | {r['rps']:.0f} | {ratio} | {r['p50']:.2f} | {r['p99']:.2f} | {int(r['errors'])} |")


def _with_healthz(app, grpc_port: int | None = None):
    """The constant app with a lifespan; with ``grpc_port``, also a gRPC PredictionService that answers
    every Predict with a fixed tensor (the gRPC load generator's ceiling)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "lifespan":
            server = None
            msg = await receive()
            while msg["type"] != "lifespan.shutdown":
                if grpc_port is not None and server is None:
                    server = await _constant_grpc(grpc_port)
                await send({"type": msg["type"] + ".complete"})
                msg = await receive()
            if server is not None:
                await server.stop(0)
            return await send({"type": "lifespan.shutdown.complete"})
        return await app(scope, receive, send)

    return wrapped


async def _constant_grpc(port: int):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    answer = predict_pb2.PredictResponse()
    answer.outputs["output_0"].CopyFrom(tf.make_tensor_proto(np.full((1, 10), 0.1, np.float32)))

    class Constant(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request, context):  # noqa: N802
            return answer

    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Constant(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


def grpc_load(port: int, image: np.ndarray, clients: int, seconds: float, check: bool) -> dict:
    """``clients`` concurrent unary Predict calls on one grpc.aio channel (Python: its own ceiling is
    measured against the constant gRPC server) for ``seconds``: req/s, p50/p99 ms, errors."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "vision"
    req.inputs["image"].CopyFrom(tf.make_tensor_proto(image[None]))

    async def main() -> dict:
        latencies: list[float] = []
        errors = 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            first = await stub.Predict(req, timeout=60)
            if check:
                assert tf.make_ndarray(next(iter(first.outputs.values()))).shape == (1, 10)
            end = time.perf_counter() + seconds

            async def client() -> None:
                nonlocal errors
                while time.perf_counter() < end:
                    t = time.perf_counter()
                    try:
                        await stub.Predict(req, timeout=60)
                    except grpc.RpcError:
                        errors += 1
                    latencies.append(time.perf_counter() - t)

            start = time.perf_counter()
            await asyncio.gather(*[client() for _ in range(clients)])
            elapsed = time.perf_counter() - start
        lat = np.array(latencies) * 1000
        return {
            "rps": len(lat) / elapsed,
            "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)),
            "errors": errors,
        }

    return asyncio.run(main())


if __name__ == "__main__":
    main()
