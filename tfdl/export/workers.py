"""Checks that must run in a FRESH Python process, started with ``sys.executable -m tfdl.export.workers``.

- ``savedmodel DIR IN.npz``: ``tf.saved_model.load(DIR)``, call ``serving_default`` on the inputs stored in
  ``IN.npz`` (keys ``x:<input name>``) and print ``{"max_abs_diff": ...}`` against the stored Keras outputs
  (key ``expected``). A fresh process proves the folder stands alone: no Python object of the exporting
  process (custom layer classes, live variables) can make the reload pass by accident. A ``gradcam``
  signature, when the version has one, is run on the same inputs and checked too (``"gradcam"`` key).
- ``litert FILE IN.npz OUT.npz``: run a ``.tflite`` file with ``ai_edge_litert`` on every example in
  ``IN.npz`` and time single-example calls. This module imports NumPy and ai_edge_litert only, and the
  answer reports whether TensorFlow ended up imported (it must not: a phone has no TensorFlow).

- ``onnx FILE IN.npz OUT.npz``: run a ``.onnx`` file with ``onnxruntime`` on every example (same rules: no
  TensorFlow in the process, reported in the answer).

- ``serve``: answer requests until stdin closes, one JSON list of the arguments above per line (e.g.
  ``["savedmodel", DIR, IN.npz]``), one ``@tfdl-result {...}`` line each (``{"error": ...}`` when the
  check raised): an exporting process's SavedModel checker (:class:`tfdl.export.parity.SavedModelChecker`).

The others print one JSON line on stdout. ``tensor_table`` (flatbuffer inspection, no interpreter) is also
used in-process by the exporter.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

# TensorType enum of the TFLite schema -> NumPy-style names.
_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                 7: "int16", 9: "int8", 10: "float64", 16: "uint32", 17: "uint16", 18: "int4"}  # fmt: skip


def read_inputs(npz: np.lib.npyio.NpzFile) -> dict[str, np.ndarray]:
    """Inputs stored as ``x:<name>`` keys, in the order they were saved."""
    return {k[2:]: npz[k] for k in npz.files if k.startswith("x:")}


def check_savedmodel(version_dir: str, npz_path: str) -> dict:
    """Max |serving_default(x) - expected| over the stored examples, after a reload from disk."""
    import tensorflow as tf

    data = np.load(npz_path, allow_pickle=False)
    xs, expected = read_inputs(data), data["expected"]
    loaded = tf.saved_model.load(version_dir)
    fn = loaded.signatures["serving_default"]
    spec = fn.structured_input_signature[1]
    if len(xs) == 1 and len(spec) == 1:
        (name, s), x = next(iter(spec.items())), next(iter(xs.values()))
        kwargs = {name: tf.constant(x, dtype=s.dtype)}
    else:
        missing = sorted(set(spec) - set(xs))
        if missing:
            why = f"serving_default expects inputs {sorted(spec)}; the check has {sorted(xs)}"
            return {"ok": False, "why": why}
        kwargs = {k: tf.constant(xs[k], dtype=s.dtype) for k, s in spec.items()}
    outs = fn(**kwargs)
    got = np.asarray(outs[sorted(outs)[0]], dtype=np.float64)
    if got.size != expected.size:
        return {"ok": False, "why": f"output has {got.size} values, the Keras model gave {expected.size}"}
    diff = float(np.max(np.abs(got.reshape(expected.shape) - expected))) if expected.size else 0.0
    res = {"ok": bool(np.isfinite(diff)), "max_abs_diff": diff, "n_examples": int(len(expected))}
    if "gradcam" in loaded.signatures:
        res["gradcam"] = _check_gradcam(loaded.signatures["gradcam"], kwargs, got.reshape(expected.shape))
    return res


def _check_gradcam(fn, kwargs: dict, served: np.ndarray) -> dict:
    """The gradcam signature on the same images, for the predicted classes (``class_id`` -1): maps (N, H, W)
    finite in [0, 1], its scores equal to serving_default's, its class their argmax."""
    import tensorflow as tf

    (x,) = list(kwargs.values())
    image = next(k for k in fn.structured_input_signature[1] if k != "class_id")
    out = fn(**{image: x, "class_id": tf.fill(tf.shape(x)[:1], -1)})
    heat, cls, scores = (np.asarray(out[k]) for k in ("heatmap", "class", "scores"))
    want = tuple(x.shape[:3])
    if heat.shape != want:
        return {"ok": False, "why": f"gradcam heatmap shape {heat.shape}, expected {want}"}
    if not (np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1):
        return {"ok": False, "why": "gradcam heatmap not finite in [0, 1]"}
    diff = float(np.max(np.abs(scores.reshape(served.shape) - served))) if served.size else 0.0
    if not diff <= 1e-4 + 1e-4 * float(np.max(np.abs(served))):
        return {"ok": False, "why": f"gradcam scores differ from serving_default by {diff:.2e}"}
    view = scores.reshape(len(scores), -1)
    view = np.concatenate([1 - view, view], 1) if view.shape[1] == 1 else view
    if not np.array_equal(cls, view.argmax(-1)):
        return {"ok": False, "why": "gradcam class is not the argmax of its scores"}
    return {"ok": True, "shape": list(heat.shape), "peak_mean": float(heat.max(axis=(1, 2)).mean())}


def _match(details: list[dict], xs: dict[str, np.ndarray]) -> list[tuple[dict, np.ndarray]]:
    """Pair interpreter inputs with stored arrays: by name (``serving_default_<name>:0``), else by order."""
    if len(details) == 1 and len(xs) == 1:
        return [(details[0], next(iter(xs.values())))]
    pairs = []
    for d in details:
        hit = [k for k in xs if d["name"].split(":")[0].endswith(k)]
        if len(hit) != 1:
            raise ValueError(f"cannot match TFLite input {d['name']!r} to one of {sorted(xs)}")
        pairs.append((d, xs[hit[0]]))
    return pairs


def _to_input(d: dict, x: np.ndarray) -> np.ndarray:
    """Quantize float data for an integer input tensor (``--int8-io``); else cast to its dtype."""
    scales = d["quantization_parameters"]["scales"]
    if np.issubdtype(d["dtype"], np.integer) and x.dtype.kind == "f" and len(scales):
        info = np.iinfo(d["dtype"])
        q = np.round(x / scales[0] + d["quantization_parameters"]["zero_points"][0])
        return np.clip(q, info.min, info.max).astype(d["dtype"])
    return x.astype(d["dtype"])


def _from_output(d: dict, y: np.ndarray) -> np.ndarray:
    scales = d["quantization_parameters"]["scales"]
    if np.issubdtype(d["dtype"], np.integer) and len(scales):
        return (y.astype(np.float64) - d["quantization_parameters"]["zero_points"][0]) * scales[0]
    return y.astype(np.float64)


def _interpreter(path: str, part: dict[str, np.ndarray], resize: bool):
    """An interpreter (one thread) whose variable-batch inputs are sized for ``part``."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, num_threads=1)
    if resize:
        for d, x in _match(it.get_input_details(), part):
            if d["shape_signature"][0] == -1:
                it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    return it


def run_litert(path: str, npz_in: str, npz_out: str, latency_runs: int = 200, chunk: int = 256) -> dict:
    """Outputs on every stored example (batched when the file allows a variable batch), plus the median
    latency of one example (set input + invoke + read output, one thread, after 10 warm-up calls)."""
    from ai_edge_litert.interpreter import Interpreter

    xs = read_inputs(np.load(npz_in, allow_pickle=False))
    probe = Interpreter(model_path=path)
    details = probe.get_input_details()
    fixed = [int(d["shape_signature"][0]) for d in details if d["shape_signature"][0] != -1]
    step = fixed[0] if fixed else chunk
    n = len(next(iter(xs.values())))
    outs, it, cur = [], None, None
    for start in range(0, n, step):
        part = {k: v[start : start + step] for k, v in xs.items()}
        m = len(next(iter(part.values())))
        if fixed and m < step:  # pad the last part of a fixed-batch file, drop the padding after
            part = {k: np.concatenate([v, np.repeat(v[-1:], step - m, axis=0)]) for k, v in part.items()}
        size = len(next(iter(part.values())))
        if size != cur:
            it = _interpreter(path, part, resize=not fixed)
            cur = size
        for d, x in _match(it.get_input_details(), part):
            it.set_tensor(d["index"], _to_input(d, x))
        it.invoke()
        od = it.get_output_details()[0]
        outs.append(_from_output(od, it.get_tensor(od["index"]))[:m])
    pred = np.concatenate(outs)

    one = {k: v[:1] for k, v in xs.items()}
    it = _interpreter(path, one, resize=not fixed)
    feeds = [(d["index"], _to_input(d, x)) for d, x in _match(it.get_input_details(), one)]
    od = it.get_output_details()[0]
    times = []
    for i in range(10 + latency_runs):
        t0 = time.perf_counter()
        for idx, x in feeds:
            it.set_tensor(idx, x)
        it.invoke()
        it.get_tensor(od["index"])
        if i >= 10:
            times.append(time.perf_counter() - t0)
    np.savez(npz_out, pred=pred)
    return {
        "n_examples": int(n),
        "latency_ms": float(np.median(times) * 1e3),
        "latency_p90_ms": float(np.percentile(times, 90) * 1e3),
        "inputs": [
            {
                "name": d["name"],
                "dtype": np.dtype(d["dtype"]).name,
                "shape": d["shape_signature"].tolist(),
                "quantization": _quant(d),
            }
            for d in details
        ],  # fmt: skip
        "output_dtype": np.dtype(od["dtype"]).name,
        "output_quantization": _quant(od),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def _quant(d: dict) -> dict | None:
    """Per-tensor (scale, zero_point) of an integer tensor: real = (q - zero_point) * scale."""
    qp = d["quantization_parameters"]
    if not np.issubdtype(d["dtype"], np.integer) or not len(qp["scales"]):
        return None
    return {"scale": float(qp["scales"][0]), "zero_point": int(qp["zero_points"][0])}


def tensor_table(path: str | Path) -> list[dict]:
    """Every tensor of the main subgraph: name, dtype, shape and whether it is a constant (has data).

    Reads the flatbuffer with the schema that ships with ai_edge_litert; no interpreter is built, so a
    file whose ops cannot run still gets inspected.
    """
    from ai_edge_litert import schema_py_generated as schema

    buf = Path(path).read_bytes()
    model = schema.Model.GetRootAsModel(buf, 0)
    sub = model.Subgraphs(0)
    rows = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        b = model.Buffers(t.Buffer())
        const = b is not None and (b.DataLength() > 0 or b.Size() > 0)
        rows.append({
            "name": t.Name().decode(), "dtype": _TFLITE_TYPES.get(t.Type(), str(t.Type())),
            "shape": t.ShapeAsNumpy().tolist() if t.ShapeLength() else [], "constant": bool(const),
        })  # fmt: skip
    return rows


def run_onnx(path: str, npz_in: str, npz_out: str, latency_runs: int = 200, chunk: int = 256) -> dict:
    """Outputs of an ONNX file on every stored example and the median single-example latency, from
    onnxruntime (one intra-op thread) in a process that never imports TensorFlow."""
    import onnxruntime as ort

    xs = read_inputs(np.load(npz_in, allow_pickle=False))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    details = sess.get_inputs()
    if len(details) == 1 and len(xs) == 1:
        names = {details[0].name: next(iter(xs))}
    else:
        names = {}
        for d in details:
            hit = [k for k in xs if d.name.split(":")[0].endswith(k)]
            if len(hit) != 1:
                raise ValueError(f"cannot match ONNX input {d.name!r} to one of {sorted(xs)}")
            names[d.name] = hit[0]
    dtypes = {d.name: _ONNX_TYPES.get(d.type, "float32") for d in details}
    n = len(next(iter(xs.values())))

    def feed(lo: int, hi: int) -> dict:
        return {name: xs[key][lo:hi].astype(dtypes[name]) for name, key in names.items()}

    parts = [sess.run(None, feed(i, min(n, i + chunk)))[0] for i in range(0, n, chunk)]
    pred = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])
    one = feed(0, 1)
    times = []
    for i in range(10 + latency_runs):
        t0 = time.perf_counter()
        sess.run(None, one)
        if i >= 10:
            times.append(time.perf_counter() - t0)
    np.savez(npz_out, pred=pred)
    return {
        "n_examples": int(n),
        "latency_ms": float(np.median(times) * 1e3),
        "latency_p90_ms": float(np.percentile(times, 90) * 1e3),
        "inputs": [{"name": d.name, "dtype": dtypes[d.name], "shape": list(d.shape)} for d in details],
        "onnxruntime": ort.__version__,
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


_ONNX_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(uint8)": "uint8",
               "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64",
               "tensor(bool)": "bool", "tensor(float16)": "float16"}  # fmt: skip


def serve() -> int:
    """The request loop of ``serve``: a failed check answers its error and the loop goes on."""
    import traceback

    for line in sys.stdin:
        try:
            out = run(json.loads(line))
        except (Exception, SystemExit) as err:  # a failed check is its answer, not the end of the loop
            last = traceback.format_exception_only(type(err), err)[-1].strip()
            out = {"error": last}
        print("@tfdl-result " + json.dumps(out), flush=True)
    return 0


def run(argv: list[str]) -> dict:
    cmd, *args = argv
    if cmd == "savedmodel":
        out = check_savedmodel(*args)
    elif cmd == "litert":
        out = run_litert(args[0], args[1], args[2], *(int(a) for a in args[3:]))
    elif cmd == "onnx":
        out = run_onnx(args[0], args[1], args[2], *(int(a) for a in args[3:]))
    else:
        raise SystemExit(f"unknown command {cmd!r}; use savedmodel, litert, onnx or serve")
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve()
    print(json.dumps(run(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
