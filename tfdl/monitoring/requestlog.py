"""The request log: a bounded sample of served requests, summarised, in rotated JSON-lines files.

``tfdl serve --log-requests DIR`` hands every model call's inputs and outputs to ``RequestLogger.record``
(in the predict thread: it only queues references and returns). A writer thread summarises the rows with
the version's ``Summarizer`` (from its reference profile), appends one JSON line per row to
``DIR/requests-<pid>.jsonl``, and keeps the last ``window`` rows per model in memory for the ``/metrics``
drift gauge. Nothing raw is stored: numbers and categories as they were sent, text as its length and
out-of-vocabulary rate, images as pixel statistics, grid means and a histogram.

Bounds: at most ``rows_per_call`` rows of one model call are kept (a random subset); a full queue drops
calls (counted) instead of slowing the server; a file is rotated at ``max_bytes / max_files`` and the
oldest files are deleted while the folder holds more than ``max_bytes``. Each worker process writes its
own files. ``MARKER`` identifies the folder as a request log.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from tfdl.monitoring import drift as dr
from tfdl.monitoring.profile import Summarizer, load_profile, predictions

log = logging.getLogger("tfdl.monitoring")
MARKER = "tfdl-request-log.json"
LOG_FORMAT = 1
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def _jsonable(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        f = float(v)
        return round(f, 6) if np.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


class _Version:
    """What the writer needs to know about one served version: summarizer, profile, recent rows."""

    def __init__(self, path: Path, window: int, meta: dict):
        self.profile = load_profile(path)
        self.summarizer = Summarizer.from_json(self.profile["summarizer"]) if self.profile else None
        self.task = meta.get("task")
        self.labels = list(meta.get("labels") or [])
        self.rows: deque = deque(maxlen=window)  # (features dict, histograms dict, prediction)


class RequestLogger:
    def __init__(
        self,
        directory: str | Path,
        model_root: str | Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_files: int = 10,
        rows_per_call: int = 64,
        window: int = 1000,
        gauge_seconds: float = 5.0,
        gauges: Any = None,
        seed: int = 0,
    ):
        if max_bytes < 1024 or max_files < 2:
            raise ValueError(f"max_bytes >= 1024 and max_files >= 2; got {max_bytes}, {max_files}")
        self.dir = Path(directory)
        self.root = Path(model_root)
        self.max_bytes, self.max_files = max_bytes, max_files
        self.file_bytes = max(max_bytes // max_files, 512)
        self.rows_per_call, self.window = rows_per_call, window
        self.gauge_seconds, self.gauges = gauge_seconds, gauges
        self.rng = np.random.default_rng(seed + os.getpid())
        self.queue: queue.Queue = queue.Queue(maxsize=256)
        self.dropped = 0
        self.written = 0
        self.versions: dict[tuple[str, int], _Version] = {}
        self.results: dict[str, dr.DriftResult] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_gauge = 0.0
        self._dirty = False
        self.dir.mkdir(parents=True, exist_ok=True)
        marker = self.dir / MARKER
        if not marker.exists():
            info = {"format": LOG_FORMAT, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "max_bytes": max_bytes, "max_files": max_files}  # fmt: skip
            marker.write_text(json.dumps(info), encoding="utf-8")
        self.path = self.dir / f"requests-{os.getpid()}.jsonl"

    # ---- called by the server ------------------------------------------------------------------
    def record(self, name: str, version: int, meta: dict, inputs: dict, outputs: dict) -> None:
        """Queue one model call (never blocks; drops it when the writer is behind)."""
        try:
            self.queue.put_nowait((time.time(), name, version, meta, inputs, outputs))
        except queue.Full:
            self.dropped += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tfdl-request-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued is written and the gauges are current (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while (not self.queue.empty() or self._busy) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.update_gauges()

    # ---- the writer thread ---------------------------------------------------------------------
    _busy = False

    def _loop(self) -> None:
        while not self._stop.is_set() or not self.queue.empty():
            try:
                item = self.queue.get(timeout=0.5)
            except queue.Empty:
                item = None
            if item is not None:
                self._busy = True
                try:
                    self._write(*item)
                except Exception:  # a request the summarizer cannot read must not stop the log
                    log.exception("request log: could not summarise a call of %s/%s", item[1], item[2])
                finally:
                    self._busy = False
            if self._dirty and time.monotonic() - self._last_gauge >= self.gauge_seconds:
                self.update_gauges()

    def _version(self, name: str, version: int, meta: dict, inputs: dict) -> _Version:
        key = (name, version)
        v = self.versions.get(key)
        if v is None:
            v = self.versions[key] = _Version(self.root / name / str(version), self.window, meta)
            if v.summarizer is None:
                log.warning("%s/%s has no reference profile: logging requests, no drift check (re-export "
                            "it to add one)", name, version)  # fmt: skip
                v.summarizer = Summarizer.fit(inputs)
        return v

    def _write(self, t: float, name: str, version: int, meta: dict, inputs: dict, outputs: dict) -> None:
        n = len(next(iter(inputs.values())))
        idx = np.arange(n)
        if n > self.rows_per_call:
            idx = np.sort(self.rng.choice(n, self.rows_per_call, replace=False))
        inputs = {k: np.asarray(a)[idx] for k, a in inputs.items()}
        v = self._version(name, version, meta, inputs)
        feats, hists = v.summarizer.rows(inputs)
        preds = predictions(np.asarray(next(iter(outputs.values())))[idx], v.task, v.labels)
        lines = []
        for i in range(len(idx)):
            f = {k: _jsonable(a[i]) for k, a in feats.items()}
            h = {k: [round(float(x), 5) for x in a[i]] for k, a in hists.items()}
            p = _jsonable(preds[i])
            v.rows.append((f, h, p))
            rec = {"t": round(t, 3), "model": name, "version": version, "features": f, "prediction": p}
            if h:
                rec["histograms"] = h
            lines.append(json.dumps(rec, separators=(",", ":")))
        self._append("\n".join(lines) + "\n")
        self.written += len(lines)
        self._dirty = True

    def _append(self, text: str) -> None:
        data = text.encode("utf-8")
        size = self.path.stat().st_size if self.path.exists() else 0
        if size and size + len(data) > self.file_bytes:
            self.path.rename(self.dir / f"requests-{os.getpid()}-{time.time_ns()}.jsonl")
            self._enforce_cap()
        with open(self.path, "ab") as fh:
            fh.write(data)

    def _enforce_cap(self) -> None:
        files = sorted(log_files(self.dir), key=lambda p: p.stat().st_mtime if p.exists() else 0)
        sizes = {p: (p.stat().st_size if p.exists() else 0) for p in files}
        total = sum(sizes.values())
        for p in files:  # oldest first; only rotated files (requests-<pid>-<ns>), never a file being written
            if total <= self.max_bytes - self.file_bytes or p.stem.count("-") < 2:
                continue
            p.unlink(missing_ok=True)
            total -= sizes[p]

    # ---- the drift gauge -----------------------------------------------------------------------
    def update_gauges(self) -> None:
        """Compare each model's recent rows with its reference and set the gauges (writer thread)."""
        self._last_gauge, self._dirty = time.monotonic(), False
        newest: dict[str, int] = {}
        for name, version in list(self.versions):
            newest[name] = max(version, newest.get(name, version))
        for name, version in newest.items():
            v = self.versions[(name, version)]
            if v.profile is None or not v.rows:
                continue
            result = compare_rows(v.profile, list(v.rows), name, version)
            self.results[name] = result
            if self.gauges is not None:
                self.gauges.set(result)


def compare_rows(profile: dict, rows: list, name: str = "", version: int = 0) -> dr.DriftResult:
    """Rows as (features, histograms, prediction) triples -> the drift result against ``profile``."""
    keys = {k for f, _, _ in rows for k in f}
    feats = {}
    for k in keys:
        vals = [f.get(k) for f, _, _ in rows]
        if profile["features"].get(k, {}).get("kind") == "category":
            feats[k] = np.array([str(x) for x in vals if x is not None], dtype=object)
        else:
            feats[k] = np.array([np.nan if x is None else x for x in vals], dtype=np.float64)
    hkeys = {k for _, h, _ in rows for k in h}
    hists = {k: np.array([h[k] for _, h, _ in rows if k in h]) for k in hkeys}
    preds = [p for _, _, p in rows]
    kind = profile["prediction"]["kind"]
    parr = np.array(preds, dtype=object if kind == "category" else np.float64)
    return dr.compare(profile, feats, hists, parr, name, version)


def log_files(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob("requests-*.jsonl"))


class DriftGauges:
    """``tfdl_drift_share`` (fraction of features + prediction that drifted), ``tfdl_drift_alarm`` (0/1)
    and ``tfdl_drift_rows`` (requests compared) per model and version, on the server's registry."""

    def __init__(self, registry) -> None:
        from prometheus_client import Gauge

        labels = ["model", "version"]
        self.share = Gauge("tfdl_drift_share", "fraction of drift tests that fired on recent requests",
                           labels, registry=registry)  # fmt: skip
        self.alarm = Gauge("tfdl_drift_alarm", "1 when recent requests drifted from the reference profile",
                           labels, registry=registry)  # fmt: skip
        self.rows = Gauge("tfdl_drift_rows", "recent requests compared with the reference profile", labels,
                          registry=registry)  # fmt: skip

    def set(self, result: dr.DriftResult) -> None:
        labels = (result.model, str(result.version))
        self.share.labels(*labels).set(result.share)
        self.alarm.labels(*labels).set(1.0 if result.alarm else 0.0)
        self.rows.labels(*labels).set(result.n_rows)
