"""The TFLite backend (``tfdl serve --backend tflite``): run a version's checked ``.tflite`` file with
ai_edge_litert instead of its SavedModel.

A file is used only if ``tflite/parity.json`` (written by ``tfdl export --format tflite``) says it was
checked against the SavedModel and stayed within tolerance; float files are preferred (``none``, then
``float16``, ``dynamic``, ``int8``); ``int8-io`` files, whose inputs are quantized, are never served.
A version without such a file, or with several outputs, is served from its SavedModel (the store logs why).

The interpreter is not thread-safe and its input shape is fixed once tensors are allocated, so one
interpreter is kept per (batch size, calling thread): two model threads run two batches at once.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

PREFERENCE = ("none", "float16", "dynamic", "int8")


def checked_file(version_dir: Path) -> tuple[Path | None, str]:
    """(the .tflite file to serve, why) — the file is None when there is no checked one."""
    record_path = Path(version_dir) / "tflite" / "parity.json"
    if not record_path.is_file():
        return None, "no tflite/parity.json (run `tfdl export APP --format tflite`)"
    files = json.loads(record_path.read_text()).get("files", {})
    for mode in PREFERENCE:
        f = files.get(mode)
        if f and f.get("within_tolerance") and (record_path.parent / f["file"]).is_file():
            return record_path.parent / f[
                "file"
            ], f"tflite/{f['file']} (checked: {f['metric']} {f['value']:.4f})"
    return None, "no TFLite file in parity.json passed its check"


class TFLitePredictor:
    """``predict({input name: (n, ...)}) -> {output name: (n, ...)}`` on a .tflite file."""

    def __init__(self, path: Path, input_names: list[str], output_name: str, max_cached: int = 64):
        from ai_edge_litert.interpreter import Interpreter

        self.path, self.model = Path(path), Path(path).read_bytes()
        self._make = lambda: Interpreter(model_content=self.model, num_threads=1)
        probe = self._make()
        details = probe.get_input_details()
        if len(probe.get_output_details()) != 1:
            raise ValueError(f"{self.path.name} has {len(probe.get_output_details())} outputs; serve one")
        self.order = _match(details, input_names)  # interpreter input index -> our input name
        self.dtypes = {d["index"]: d["dtype"] for d in details}
        self.output_name = output_name
        self.max_cached = max_cached
        self._interpreters: dict[tuple[int, int], tuple[object, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _for(self, n: int):
        key = (n, threading.get_ident())
        with self._lock:
            hit = self._interpreters.get(key)
            if hit is None:
                it = self._make()
                for d in it.get_input_details():
                    it.resize_tensor_input(d["index"], [n, *d["shape"][1:]], strict=False)
                it.allocate_tensors()
                if len(self._interpreters) >= self.max_cached:
                    self._interpreters.pop(next(iter(self._interpreters)))
                hit = self._interpreters[key] = (it, threading.Lock())
            return hit

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(next(iter(inputs.values())))
        it, lock = self._for(n)
        with lock:
            for index, name in self.order.items():
                it.set_tensor(index, np.ascontiguousarray(inputs[name], dtype=self.dtypes[index]))
            it.invoke()
            out = it.get_tensor(it.get_output_details()[0]["index"]).copy()
        return {self.output_name: out}


def _match(details: list[dict], names: list[str]) -> dict[int, str]:
    """Interpreter inputs -> input names: ``serving_default_<name>:0`` by name, or the only one."""
    if len(details) == 1 and len(names) == 1:
        return {details[0]["index"]: names[0]}
    out = {}
    for d in details:
        base = d["name"].split(":")[0]
        hit = [n for n in names if base == n or base.endswith("_" + n)]
        if len(hit) != 1:
            raise ValueError(f"cannot match TFLite input {d['name']!r} to one of {names}")
        out[d["index"]] = hit[0]
    if sorted(out.values()) != sorted(names):
        raise ValueError(f"TFLite inputs {sorted(out.values())} differ from the SavedModel's {names}")
    return out
