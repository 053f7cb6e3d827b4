"""Where one ``:predict`` request's time goes: each stage timed alone, in-process (median of many calls).

Stages: JSON parse (the general ``json.loads`` + ``parse_predict`` path vs the fast numeric path vs the
binary ``b64`` path), the model call for 1 and 16 rows (SavedModel function vs TFLite interpreter),
the response encoding (``json.dumps`` of lists vs orjson of the array), and the HTTP round trip of a
server that answers a constant (uvicorn + httptools, one keep-alive client). Prints a Markdown table.

    .venv/bin/python benchmarks/serve_profile.py [--model-root saved_models]

Without a vision export under --model-root it profiles an untrained copy of the vision CNN (as
serve_bench.py does; speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def timed(fn, n: int = 300) -> float:
    """Median microseconds of ``fn()`` over ``n`` calls (after 20 warm-up calls)."""
    for _ in range(20):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e6


def http_roundtrip_us(n: int = 500) -> float:
    import socket
    import subprocess

    from tests.serving.helpers import free_port

    port = free_port()
    bench = str(ROOT / "benchmarks" / "serve_bench.py")
    cmd = [sys.executable, bench, "--serve", "constant", "--target", "-", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        body = json.dumps({"instances": [[[[0]] * 28] * 28]}).encode()
        req = (
            b"POST /v1/models/vision:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

        def one():
            s.sendall(req)
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"]]}"):
                data += s.recv(65536)

        us = timed(one, n)
        s.close()
        return us
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-root", default="saved_models")
    a = p.parse_args()
    import orjson

    from benchmarks.serve_bench import bench_version
    from tfdl.export.load import load_version
    from tfdl.serving.fastjson import parse_fast
    from tfdl.serving.litert import TFLitePredictor, checked_file
    from tfdl.serving.store import _spec_of
    from tfdl.serving.tensors import format_predict, parse_predict

    tmp = tempfile.TemporaryDirectory()  # an untrained CNN goes here when the root has no vision export
    _, vdir, what = bench_version(a.model_root, tmp.name)
    loaded = load_version(vdir)
    spec = _spec_of(loaded.fn.structured_input_signature[1])
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
    body = json.dumps({"instances": [image.tolist()]}).encode()
    b64 = json.dumps({"instances": [{"b64": base64.b64encode(image.tobytes()).decode()}]}).encode()
    x1 = {"image": image[None]}
    x16 = {"image": np.repeat(image[None], 16, axis=0)}
    out = loaded.predict_all(x1)
    rows = []
    rows.append(("HTTP round trip, constant answer (uvicorn+httptools, 1 client)", http_roundtrip_us()))
    rows.append(
        (
            "parse: json.loads + parse_predict (general path)",
            timed(lambda: parse_predict(json.loads(body), spec)),
        )
    )
    rows.append(
        ("parse: fast numeric path (skeleton + orjson flat list)", timed(lambda: parse_fast(body, spec)))
    )
    rows.append(("parse: binary b64 path", timed(lambda: parse_fast(b64, spec))))
    rows.append(("model: SavedModel function, 1 row", timed(lambda: loaded.predict_all(x1))))
    rows.append(
        ("model: SavedModel function, 16 rows (per call)", timed(lambda: loaded.predict_all(x16), 100))
    )
    path, _ = checked_file(vdir)
    if path is not None:
        lite = TFLitePredictor(path, list(spec), next(iter(out)))
        rows.append((f"model: TFLite {path.name}, 1 row", timed(lambda: lite.predict(x1))))
        rows.append((f"model: TFLite {path.name}, 16 rows (per call)", timed(lambda: lite.predict(x16), 100)))
    rows.append(
        ("encode: json.dumps of lists (general path)", timed(lambda: json.dumps(format_predict(out, True))))
    )
    arr = next(iter(out.values()))
    opt = orjson.OPT_SERIALIZE_NUMPY
    fast_encode = timed(lambda: orjson.dumps({"predictions": arr}, option=opt))
    rows.append(("encode: orjson of the array (fast path)", fast_encode))
    load = os.getloadavg()[0]
    print(f"\nmodel: {what}, version {vdir.name}; load average {load:.2f}; median of 100-300 calls\n")
    print("| stage | µs |")
    print("|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.0f} |")


if __name__ == "__main__":
    main()
