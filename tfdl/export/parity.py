"""Parity checks between an exported file and the model it came from, run in fresh processes.

The exporting process holds TensorFlow, the Keras classes and the live variables; a check inside it could
pass on something the file alone cannot do. So the SavedModel reload and the TFLite run each happen in
another ``sys.executable`` process (:mod:`tfdl.export.workers`), fed through an ``.npz`` file. The TFLite
and ONNX runs start a new process each (it must never import TensorFlow, and it does not need to). The
SavedModel reloads go to one checker process per exporting process (:class:`SavedModelChecker`), started at
the first export and kept for the next: it imports TensorFlow once (~5 CPU seconds, more than the check)
and never the Keras classes or the exporting process's objects, so it is as blind to them as a new one.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from tfdl.errors import TfdlError

# serving_default vs model.predict: the same graph and weights, so only float reordering differs.
SAVEDMODEL_ATOL = 1e-4
SAVEDMODEL_RTOL = 1e-4
# An int8 file may keep a few tiny float constants (a scalar scale); a float weight matrix is a bug.
MAX_FLOAT_CONSTANT = 64


def save_inputs(path: Path, x: Any, **arrays: np.ndarray) -> None:
    """Store model input ``x`` (an array, or a dict of column arrays) under ``x:<name>`` keys."""
    items = x.items() if isinstance(x, dict) else [("input", x)]
    out = {}
    for k, v in items:
        a = np.asarray(v)
        if a.dtype == object:  # strings: NumPy's unicode dtype stores without pickle
            a = a.astype(str)
        out[f"x:{k}"] = a
    np.savez(path, **out, **arrays)


def run_worker(args: list[str], timeout: float = 600) -> dict:
    """``python -m tfdl.export.workers ARGS`` in a fresh process; its last stdout line is JSON."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    proc = subprocess.run(
        [sys.executable, "-m", "tfdl.export.workers", *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"worker {args[0]} exited with {proc.returncode}: {tail}")
    return json.loads(lines[-1])


RESULT = "@tfdl-result "  # the checker's answer lines start with it (anything else on stdout is ignored)


class SavedModelChecker:
    """One long-lived ``python -m tfdl.export.workers serve`` process: a JSON list of worker arguments per
    stdin line, one ``RESULT`` + JSON line back. Started on first use, restarted after a crash or a
    timeout (the stuck process is killed); it exits when its stdin closes, so it never outlives the
    exporting process (not even a SIGKILLed one)."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()
        self._stderr = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tfdl.export.workers", "serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env, bufsize=1,
        )  # fmt: skip
        self._lines = queue.Queue()
        threading.Thread(target=self._read, args=(self._proc.stdout, self._lines), daemon=True).start()

    @staticmethod
    def _read(stream, lines: queue.Queue) -> None:
        for line in stream:
            if line.startswith(RESULT):
                lines.put(line[len(RESULT) :])
        lines.put(None)  # end of output: the process exited

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return " | ".join(self._stderr.read().strip().splitlines()[-3:])

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __call__(self, args: list[str], timeout: float = 600) -> dict:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            try:
                self._proc.stdin.write(json.dumps(args) + "\n")
                self._proc.stdin.flush()
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise subprocess.TimeoutExpired(["tfdl.export.workers", *args], timeout) from None
            except BrokenPipeError:
                line = None
            if line is None:
                self._proc.wait()
                code, tail = self._proc.returncode, self._stderr_tail()
                self._proc = None
                raise RuntimeError(f"worker {args[0]} exited with {code}: {tail}")
            answer = json.loads(line)
            if "error" in answer:
                raise RuntimeError(f"worker {args[0]} failed: {answer['error']}")
            return answer


_CHECKER = SavedModelChecker()
atexit.register(_CHECKER.stop)


def check_savedmodel(version_dir: Path, x_sample: Any, expected: np.ndarray) -> dict:
    """Reload ``version_dir`` in the checker process (never the exporting one: :class:`SavedModelChecker`)
    and compare serving_default with ``expected`` (the Keras model's outputs on ``x_sample``). Passes when
    |diff| <= SAVEDMODEL_ATOL + SAVEDMODEL_RTOL * |expected|. Raises TfdlError saying why otherwise."""
    expected = np.asarray(expected, dtype=np.float64)
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "check.npz"
        save_inputs(npz, x_sample, expected=expected)
        try:
            # absolute: the checker's working folder is the one of the first check's time
            res = _CHECKER(["savedmodel", str(Path(version_dir).resolve()), str(npz.resolve())])
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            raise TfdlError(f"the exported SavedModel did not reload in a checker process ({err}); "
                            "no version was kept — report this as a bug") from None  # fmt: skip
    if not res.get("ok"):
        why = res.get("why", res)
        raise TfdlError(f"the exported SavedModel failed its check: {why}; no version was kept")
    cam = res.get("gradcam")
    if cam is not None and not cam.get("ok"):
        raise TfdlError(f"the exported gradcam signature failed its check: {cam.get('why')}; no version was "
                        "kept — report this as a bug")  # fmt: skip
    limit = SAVEDMODEL_ATOL + SAVEDMODEL_RTOL * float(np.max(np.abs(expected))) if expected.size else 0.0
    if res["max_abs_diff"] > limit:
        raise TfdlError(
            f"the reloaded SavedModel disagrees with the Keras model (max |diff| {res['max_abs_diff']:.2e} > "
            f"{limit:.1e}) on {res['n_examples']} test examples; no version was kept — report this as a bug"
        )
    return {**res, "tolerance": limit}


def run_tflite(path: Path, x: Any, latency_runs: int = 200) -> tuple[np.ndarray, dict]:
    """Outputs of a .tflite file on ``x`` (all rows) and single-example latency, from ai_edge_litert in a
    fresh process that never imports TensorFlow (checked: a TfdlError if it did)."""
    with tempfile.TemporaryDirectory() as tmp:
        npz_in, npz_out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        save_inputs(npz_in, x)
        try:
            info = run_worker(["litert", str(path), str(npz_in), str(npz_out), str(latency_runs)])
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            name = Path(path).name
            raise TfdlError(f"ai_edge_litert could not run {name} ({err}); the file was not kept") from None
        pred = np.load(npz_out)["pred"]
    if info["tensorflow_imported"]:
        raise RuntimeError("the TFLite check imported tensorflow; it must run with ai_edge_litert alone")
    return pred, info


def float_weights(path: Path) -> list[dict]:
    """Constant float tensors bigger than MAX_FLOAT_CONSTANT elements: float weights left in a file."""
    from tfdl.export.workers import tensor_table

    return [
        t for t in tensor_table(path)
        if t["constant"] and t["dtype"] in ("float32", "float16", "float64")
        and int(np.prod(t["shape"] or [1])) > MAX_FLOAT_CONSTANT
    ]  # fmt: skip


def check_int8_weights(path: Path) -> None:
    """Fail loudly when a file meant to be int8 still holds float weights (the converter falls back to
    float silently, e.g. when no representative data set reached it)."""
    bad = float_weights(path)
    if bad:
        names = ", ".join(f"{t['name']} {t['dtype']}{t['shape']}" for t in bad[:3])
        raise TfdlError(
            f"{Path(path).name} should hold int8 weights but has {len(bad)} float weight tensor(s) "
            f"({names}); "
            "the converter fell back to float: check the representative data set and the model's ops"
        )
