"""The model store: which versions exist under the model root, which are loaded, and hot reload.

Requests never touch the file system with a client-supplied name: names and versions are looked up in
what a scan of the root found (names matching ``NAME_RE``, integer version folders), so no path outside
the root can be reached. The newest version of every model is loaded at start and after every poll that
finds a newer one: the new version is loaded and warmed up (one call on a zero input) in a loader
thread, then swapped in by replacing a dict entry (atomic for readers); until then the old one serves.
Older versions are loaded on first request.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfdl.export.load import LoadedVersion, load_version
from tfdl.export.savedmodel import list_versions
from tfdl.serving.batching import MicroBatcher
from tfdl.serving.tensors import RequestError, Spec

log = logging.getLogger("tfdl.serving")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
VERSION_RE = re.compile(r"^[0-9]{1,18}$")


@dataclass
class ServedVersion:
    name: str
    version: int
    loaded: LoadedVersion
    spec: Spec  # input name -> (shape with None for free dims, numpy dtype name)
    outputs: dict[str, tuple[list[int | None], str]]
    batcher: MicroBatcher
    backend: str = "savedmodel"  # or "tflite:<file>" when a checked TFLite file answers
    runner: Any = None  # a TFLitePredictor, when backend is tflite

    @property
    def meta(self) -> dict:
        return self.loaded.meta

    @property
    def allow_nan(self) -> bool:
        # Models whose preprocessing imputes missing values say so in their card (``"allow_nan": true``).
        return bool(self.meta.get("allow_nan", False))

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Blocking model call on {input name: (n, ...)} -> {output name: (n, ...)}."""
        if self.runner is not None:
            return self.runner.predict(inputs)
        return self.loaded.predict_all(inputs)


def _spec_of(tensor_specs: dict) -> dict[str, tuple[list[int | None], str]]:
    out = {}
    for name, ts in tensor_specs.items():
        shape = (
            [None if d is None else int(d) for d in ts.shape.as_list()]
            if ts.shape.rank is not None
            else [None]
        )
        out[name] = (shape, "object" if ts.dtype.name == "string" else ts.dtype.as_numpy_dtype.__name__)
    return out


def warmup_inputs(spec: Spec) -> dict[str, np.ndarray]:
    """A one-example zero input that fits ``spec`` (free dims -> 1; strings -> b"")."""
    out = {}
    for name, (shape, dtype) in spec.items():
        dims = [1 if d is None else d for d in shape]
        out[name] = np.full(dims, b"", dtype=object) if dtype == "object" else np.zeros(dims, dtype=dtype)
    return out


class ModelStore:
    """Versions under ``root``: ``scan`` what is on disk, ``refresh`` the newest, ``get`` for requests."""

    def __init__(
        self,
        root: str | Path,
        executor: Executor | None,
        max_batch: int = 32,
        wait_seconds: float = 0.005,
        on_batch: Callable[[str, int, int], None] | None = None,
        backend: str = "savedmodel",
    ):
        if backend not in ("savedmodel", "tflite"):
            raise ValueError(f"backend must be savedmodel or tflite; got {backend!r}")
        self.backend = backend
        self.root = Path(root)
        self.executor = executor
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self.on_batch = on_batch
        self.on_disk: dict[str, list[int]] = {}
        self.served: dict[str, dict[int, ServedVersion]] = {}  # replaced, never mutated in place
        self.latest: dict[str, int] = {}
        self.failed: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()  # one loader at a time (poller and lazy loads)
        # Called with (name, version, model card, inputs, outputs) after every model call (request log).
        self.on_predict: Callable[[str, int, dict, dict, dict], None] | None = None

    def scan(self) -> dict[str, list[int]]:
        if not self.root.is_dir():
            return {}
        found = {}
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and NAME_RE.match(d.name):
                versions = [v for v in list_versions(d) if (d / str(v) / "saved_model.pb").is_file()]
                if versions:
                    found[d.name] = versions
        return found

    def _load(self, name: str, version: int) -> ServedVersion:
        loaded = load_version(self.root / name / str(version))
        spec = _spec_of(loaded.fn.structured_input_signature[1])
        outputs = _spec_of(loaded.fn.structured_outputs)
        on_batch = (lambda n: self.on_batch(name, version, n)) if self.on_batch else None
        sv = ServedVersion(name, version, loaded, spec, outputs, None)  # type: ignore[arg-type]
        if self.backend == "tflite":
            self._attach_tflite(sv)
        sv.batcher = MicroBatcher(
            self._observed(sv), self.executor, self.max_batch, self.wait_seconds, on_batch
        )
        out = sv.predict(warmup_inputs(spec))  # warm-up: traces and allocates before the first client
        if any(len(v) != 1 for v in out.values()):
            raise RuntimeError(f"warm-up of {name}/{version}: expected one output row per input row")
        return sv

    def _observed(self, sv: ServedVersion) -> Callable[[dict], dict]:
        if self.on_predict is None:
            return sv.predict
        hook = self.on_predict

        def predict(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            out = sv.predict(inputs)
            hook(sv.name, sv.version, sv.meta, inputs, out)
            return out

        return predict

    def _attach_tflite(self, sv: ServedVersion) -> None:
        """Answer from the version's checked .tflite file if it has one, else stay on the SavedModel."""
        from tfdl.serving.litert import TFLitePredictor, checked_file

        path, why = checked_file(sv.loaded.path)
        if path is None or len(sv.outputs) != 1:
            why = why if path is None else "several outputs"
            log.warning("%s/%s: serving the SavedModel, not TFLite: %s", sv.name, sv.version, why)
            return
        runner = TFLitePredictor(path, list(sv.spec), next(iter(sv.outputs)))
        probe = warmup_inputs(sv.spec)
        want, got = sv.loaded.predict_all(probe), runner.predict(probe)
        diff = float(np.max(np.abs(next(iter(want.values())) - next(iter(got.values())))))
        if not diff < 1e-3:
            log.warning("%s/%s: TFLite differs from the SavedModel by %.3g; serving the SavedModel", sv.name,
                        sv.version, diff)  # fmt: skip
            return
        sv.runner, sv.backend = runner, f"tflite:{path.name}"
        log.info("%s/%s: serving %s", sv.name, sv.version, why)

    def _install(self, sv: ServedVersion) -> None:
        versions = dict(self.served.get(sv.name, {}))
        versions[sv.version] = sv
        self.served = {**self.served, sv.name: versions}

    def refresh(self) -> list[str]:
        """Load the newest version of every model if not loaded yet; forget removed ones. Blocking."""
        events = []
        with self._lock:
            disk = self.scan()
            self.on_disk = disk
            for name, versions in disk.items():
                newest = versions[-1]
                if self.latest.get(name) == newest or (name, newest) in self.failed:
                    continue
                try:
                    sv = self.served.get(name, {}).get(newest) or self._load(name, newest)
                except Exception as e:  # a broken version must not take the server down: keep the old one
                    self.failed[(name, newest)] = (
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    )
                    events.append(f"failed to load {name}/{newest}: {self.failed[(name, newest)]}")
                    continue
                self._install(sv)
                self.latest = {**self.latest, name: newest}
                events.append(f"serving {name}/{newest}")
            # Versions deleted from disk stop being served; the newest remaining one takes over.
            kept = {n: {v: s for v, s in vs.items() if v in disk.get(n, [])} for n, vs in self.served.items()}
            self.served = {n: vs for n, vs in kept.items() if vs}
            self.latest = {n: v for n, v in self.latest.items() if n in self.served and v in self.served[n]}
            for n, vs in self.served.items():
                if n not in self.latest:
                    self.latest = {**self.latest, n: max(vs)}
        for e in events:
            log.info(e)
        return events

    def resolve(self, name: str, version: str | int | None) -> tuple[str, int | None]:
        """Validate a request's model name/version against what exists; raises 404 RequestError."""
        if not NAME_RE.match(name) or name not in self.on_disk and name not in self.served:
            raise RequestError(
                f"Servable not found for request: model '{name}' (models: {sorted(self.on_disk)})", 404
            )
        if version is None:
            if name not in self.latest:
                raise RequestError(f"model '{name}' has no loadable version yet", 503)
            return name, None
        if not VERSION_RE.match(str(version)):
            raise RequestError(f"version must be an integer; got '{str(version)[:40]}'", 404)
        v = int(version)
        if v not in self.on_disk.get(name, []) and v not in self.served.get(name, {}):
            have = ", ".join(map(str, self.on_disk.get(name, [])))
            raise RequestError(
                f"Servable not found for request: version {v} of '{name}' (versions: {have})", 404
            )
        return name, v

    def get_loaded(self, name: str, version: int | None) -> ServedVersion | None:
        vs = self.served.get(name, {})
        return vs.get(self.latest.get(name) if version is None else version)  # type: ignore[arg-type]

    def load_explicit(self, name: str, version: int) -> ServedVersion:
        """Load an older version on first request (blocking; call in a thread)."""
        with self._lock:
            sv = self.served.get(name, {}).get(version)
            if sv is not None:
                return sv
            if (name, version) in self.failed:
                raise RequestError(
                    f"version {version} of '{name}' failed to load: {self.failed[(name, version)]}", 503
                )
            try:
                sv = self._load(name, version)
            except Exception as e:
                self.failed[(name, version)] = f"{type(e).__name__}: {e}"
                raise RequestError(
                    f"version {version} of '{name}' failed to load: {type(e).__name__}", 503
                ) from e
            self._install(sv)
            return sv

    def status(self, name: str, version: int | None) -> dict[str, Any]:
        """TensorFlow Serving's GetModelStatusResponse for one or all versions."""
        versions = [version] if version is not None else sorted(self.on_disk.get(name, []), reverse=True)
        rows = []
        for v in versions:
            failed = self.failed.get((name, v))
            state = "END" if failed else "AVAILABLE"
            rows.append(
                {
                    "version": str(v),
                    "state": state,
                    "status": {"error_code": "UNKNOWN" if failed else "OK", "error_message": failed or ""},
                }
            )
        return {"model_version_status": rows}
