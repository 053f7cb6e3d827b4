"""Serving throughput: tfdl's micro-batching server vs a one-request-per-call FastAPI endpoint.

Both servers run in their own uvicorn subprocess on loopback and serve the same SavedModel version
(the newest ``vision`` export under ``--model-root``, or, if there is none, an untrained copy of the
vision app's CNN on 28x28x1 uint8 images — speed does not depend on the weights). ``--clients``
concurrent clients each send ``--requests`` single-image ``:predict`` calls. Prints a Markdown table.

    .venv/bin/python benchmarks/serve_bench.py [--model-root saved_models] [--clients 16]
        [--requests 25] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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

    card = json.loads((version_dir / "metadata.json").read_text())
    candidates = [version_dir / "model.keras"]
    if card.get("run"):
        candidates.append(ROOT / "runs" / card.get("app", "vision") / card["run"] / "model.keras")
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
    import keras

    from tfdl.export.savedmodel import signature_in_words, write_version
    from tfdl.models import build_cnn

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

    return write_version(root, "vision", write, card)


def start(kind: str, target: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--serve", kind, "--target", target, "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 120
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


async def load(url: str, clients: int, requests: int, image: list) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal errors
        for _ in range(requests):
            t = time.perf_counter()
            r = await c.post(url, json={"instances": [image]})
            latencies.append(time.perf_counter() - t)
            errors += r.status_code != 200 or len(r.json()["predictions"]) != 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:
        await asyncio.gather(*[c.post(url, json={"instances": [image]}) for _ in range(clients)])  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*[client(c) for _ in range(clients)])
        elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "errors": errors,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-root", default="saved_models")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=25, help="per client and round")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    p.add_argument("--serve", choices=["ours", "naive", "course"], help=argparse.SUPPRESS)
    p.add_argument("--target", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve:  # child process: one server
        import uvicorn

        from tfdl.serving.server import create_app

        makers = {"ours": create_app, "naive": naive_app, "course": course_app}
        app = makers[a.serve](a.target)
        uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")
        return

    from tests.serving.helpers import free_port
    from tfdl.export.savedmodel import list_versions

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.model_root)
        if list_versions(root / "vision"):
            version_dir, what = (
                root / "vision" / str(list_versions(root / "vision")[-1]),
                "exported vision model",
            )
        else:
            root = Path(tmp)
            version_dir, what = export_cnn(root), "vision CNN (untrained copy)"
        shape = (28, 28, 1)
        image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8).tolist()
        # Both servers up at once; rounds alternate so a busy neighbour on the machine hits both alike.
        keras_file = keras_file_for(version_dir)
        targets = {"ours": str(root), "naive": str(version_dir)}
        if keras_file is not None:
            targets["course"] = str(keras_file)
        procs, urls, rounds = {}, {}, {k: [] for k in targets}
        try:
            for kind, target in targets.items():
                port = free_port()
                procs[kind] = start(kind, target, port)
                urls[kind] = f"http://127.0.0.1:{port}/v1/models/vision:predict"
            for _ in range(a.rounds):
                for kind in targets:
                    rounds[kind].append(asyncio.run(load(urls[kind], a.clients, a.requests, image)))
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=30)
    results = {k: {m: float(np.median([r[m] for r in rs])) for m in rs[0]} for k, rs in rounds.items()}
    o = results["ours"]
    print(
        f"\nmodel: {what} ({version_dir.name}); {a.clients} clients x {a.requests} requests "
        f"x {a.rounds} rounds (medians), 1 image each; "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| baseline server (one request per model call) | baseline req/s | tfdl micro-batching req/s "
        "| ratio | p99 baseline ms | p99 tfdl ms |"
    )
    print("|---|---|---|---|---|---|")
    names = {
        "course": "course listing: FastAPI + keras model.predict",
        "naive": "tuned: SavedModel function per request",
    }
    for kind in ("course", "naive"):
        if kind in results:
            b = results[kind]
            print(
                f"| {names[kind]} | {b['rps']:.0f} | {o['rps']:.0f} | {o['rps'] / b['rps']:.1f}x "
                f"| {b['p99']:.1f} | {o['p99']:.1f} |"
            )
    errors = {k: int(r["errors"]) for k, r in results.items() if r["errors"]}
    if errors:
        print(f"errors: {errors}")


if __name__ == "__main__":
    main()
