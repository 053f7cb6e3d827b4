"""`tfdl export APP --format tflite`: TFLite files beside a SavedModel version, each with its parity record.

Layout: ``saved_models/<name>/<version>/tflite/``
- ``model-<q>.tflite`` for q in none | dynamic | float16 | int8 | int8-io (``--quantize int8 --int8-io``)
- ``model-<q>.json``: the sidecar (inputs with dtype/shape/quantization, labels, normalization, vocabulary)
- ``labels.txt`` (and ``vocab.txt`` for text), ``parity.json``: one record per file.

Each file is checked before it is kept: run with ai_edge_litert in a fresh process without TensorFlow on
the whole test split; its headline metric must be within ``tolerance`` of the SavedModel's (absolute for
accuracy / ROC-AUC: 0.01 = 1 point; relative for error metrics: 0.01 = 1 %), and int8 files must hold
int8 weights. A failed check keeps no file and raises a TfdlError that says which and why.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError
from tfdl.export import parity

DEFAULT_TOLERANCE = 0.01
REPORT_MARK = "<!-- tfdl:tflite-comparison -->"
MODES = ("none", "dynamic", "float16", "int8")


def parse_quantize(quantize: str, int8_io: bool = False) -> list[str]:
    """``none|dynamic|float16|int8|all`` (+ ``--int8-io``) -> the file modes to write."""
    if quantize not in (*MODES, "all"):
        raise TfdlError(f"--quantize must be one of {', '.join(MODES)} or all; got '{quantize}'")
    if int8_io and quantize not in ("int8", "all"):
        raise TfdlError(f"--int8-io applies to --quantize int8 (or all); got --quantize {quantize}")
    modes = list(MODES) if quantize == "all" else [quantize]
    return [("int8-io" if (m == "int8" and int8_io) else m) for m in modes]


def find_run_version(model_root: str | Path, name: str, run_id: str) -> Path | None:
    """The newest exported version whose model card says it came from run ``run_id``."""
    from tfdl.export.savedmodel import list_versions

    model_dir = Path(model_root) / name
    for v in reversed(list_versions(model_dir)):
        meta = model_dir / str(v) / "metadata.json"
        if meta.is_file() and json.loads(meta.read_text()).get("run") == run_id:
            return model_dir / str(v)
    return None


def _chunks_predict(fn, x, batch: int = 512) -> np.ndarray:
    from tfdl.data.splits import n_rows, take

    n = n_rows(x)
    return np.concatenate(
        [np.asarray(fn(take(x, np.arange(i, min(n, i + batch))))) for i in range(0, n, batch)]
    )


def _predict_latency_ms(model, x_one, runs: int = 10) -> float:
    """Median wall time of ``model.predict`` on one example (what a naive Python service pays)."""
    for _ in range(2):
        model.predict(x_one, verbose=0)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.predict(x_one, verbose=0)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def _score(app, cfg, splits, pred) -> float | None:
    """Headline test metric of outputs ``pred``; None when the app post-processes outputs itself."""
    from tfdl.app import model_hooks
    from tfdl.evaluation.metrics import evaluate, headline
    from tfdl.pipeline import evaluation_kwargs

    hooks = model_hooks(app, cfg)
    if hooks.predict is not None and hooks.serving_model is None:
        return None
    name, _ = headline(cfg.task)
    try:
        value = evaluate(cfg.task, splits.y_test, pred, splits.info, **evaluation_kwargs(app, cfg, splits))
    except (ValueError, KeyError):
        return None
    return value.get(name)


def _drop(ref: float | None, got: float | None, higher_better: bool) -> float | None:
    """How much worse the TFLite metric is: points for bounded scores, a fraction of ref for errors."""
    if ref is None or got is None:
        return None
    return (ref - got) if higher_better else (got - ref) / max(abs(ref), 1e-12)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:6]}")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def export_tflite(
    app,
    cfg,
    model,
    splits,
    metrics: dict,
    run_dir: Path,
    *,
    quantize: str = "none",
    int8_io: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    log=print,
) -> list[Path]:
    """Write TFLite files for the run's newest exported version (exporting one first if none), check
    each, and return the written paths (files, sidecars, parity.json, report.md for ``all``)."""
    from tfdl.evaluation.metrics import headline
    from tfdl.export import tflite_convert as C
    from tfdl.export.load import load_version
    from tfdl.export.savedmodel import export_run_model, served_model

    modes = parse_quantize(quantize, int8_io)
    served = served_model(app, cfg, model, splits, metrics)
    outputs = getattr(served, "outputs", None) or []
    if len(outputs) > 1:
        raise TfdlError(f"TFLite export handles single-output models; this one has {len(outputs)} outputs")
    name = cfg.export.name or app.name
    version = find_run_version(cfg.export.model_root, name, run_dir.name)
    if version is None:
        version = export_run_model(app, cfg, model, splits, metrics, run_dir)
    prep = C.prepare(served, splits, seed=cfg.data.seed)

    # The reference: the SavedModel version itself (the thing a server runs), on the whole test split.
    log(f"scoring the SavedModel version on the test split (the reference for {', '.join(modes)})")
    loaded = load_version(version)
    ref_pred = _chunks_predict(loaded.predict, splits.x_test).astype(np.float64)
    ref_score = _score(app, cfg, splits, ref_pred)
    metric_name, higher_better = headline(cfg.task)
    from tfdl.data.splits import take

    predict_ms = _predict_latency_ms(served, take(splits.x_test, np.arange(1)))

    out_dir = version / "tflite"
    out_dir.mkdir(exist_ok=True)
    for asset in (version / "assets").glob("*"):
        if asset.is_file():
            shutil.copy2(asset, out_dir / asset.name)
    if prep.vocabulary is not None:
        (out_dir / "vocab.txt").write_text("\n".join(prep.vocabulary) + "\n", encoding="utf-8")

    parity_path = out_dir / "parity.json"
    record = json.loads(parity_path.read_text()) if parity_path.is_file() else {"files": {}}
    # parity.json describes the files that are there (a removed file takes its record with it).
    record["files"] = {q: f for q, f in record["files"].items() if (out_dir / f["file"]).is_file()}
    record["savedmodel"] = {
        "version_dir": str(version), "metric": metric_name, "value": ref_score,
        "keras_predict_latency_ms": round(predict_ms, 3), "n_test": int(len(ref_pred)),
    }  # fmt: skip
    record["tolerance"] = {
        "value": tolerance,
        "kind": "points" if higher_better else "fraction of the SavedModel",
    }
    written, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        saved_dir = C.save_for_conversion(prep.model, tmp)
        names = C._input_names(prep.model)
        for mode in modes:
            try:
                log(f"converting to TFLite ({mode}) and checking it on the test split")
                data = C.convert(saved_dir, mode, prep.x_rep, names)
                written += _export_one(data, mode, prep, out_dir, record, ref_pred, ref_score, predict_ms,
                                       (app, cfg, splits), tolerance, higher_better)  # fmt: skip
            except TfdlError as err:
                failures.append(f"{mode}: {err}")
    _write_json(parity_path, record)
    written.append(parity_path)
    if quantize == "all":
        written.append(append_report(run_dir / "report.md", record))
    if failures:
        raise TfdlError("TFLite export failed for " + " ; ".join(failures))
    return written


def _export_one(
    data: bytes, mode, prep, out_dir, record, ref_pred, ref_score, predict_ms, ctx, tolerance, higher_better
):
    app, cfg, splits = ctx
    final = out_dir / f"model-{mode}.tflite"
    tmp = out_dir / f".model-{mode}.tflite.tmp-{uuid.uuid4().hex[:6]}"
    tmp.write_bytes(data)
    try:
        if mode.startswith("int8"):
            parity.check_int8_weights(tmp)
        pred, info = parity.run_tflite(tmp, prep.x_test)
        pred = pred.reshape(ref_pred.shape)
        score = _score(app, cfg, splits, pred)
        drop = _drop(ref_score, score, higher_better)
        drop = None if drop is None else round(drop, 6)
        max_diff = float(np.max(np.abs(pred - ref_pred))) if pred.size else 0.0
        if drop is not None and drop > tolerance:
            raise TfdlError(
                f"test {record['savedmodel']['metric']} {score:.4f} vs SavedModel {ref_score:.4f}: the drop "
                f"{drop:.4f} exceeds the tolerance {tolerance}"
            )
        if drop is None and not np.all(np.isfinite(pred)):
            raise TfdlError("the TFLite outputs hold NaN/inf")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    size = final.stat().st_size
    float_size = (
        (out_dir / "model-none.tflite").stat().st_size if (out_dir / "model-none.tflite").is_file() else None
    )
    record["files"][mode] = {
        "file": final.name, "quantize": mode, "size_bytes": size,
        "size_vs_float": round(size / float_size, 4) if float_size else None,
        "metric": record["savedmodel"]["metric"], "value": score, "savedmodel_value": ref_score,
        "drop": drop, "within_tolerance": drop is None or drop <= tolerance,
        "max_abs_diff": max_diff, "latency_ms": round(info["latency_ms"], 4),
        "latency_p90_ms": round(info["latency_p90_ms"], 4), "keras_predict_latency_ms": round(predict_ms, 3),
        "speedup_vs_predict": round(predict_ms / info["latency_ms"], 1) if info["latency_ms"] > 0 else None,
        "inputs": info["inputs"], "output_dtype": info["output_dtype"], "n_test": info["n_examples"],
        "runtime": "ai_edge_litert (no TensorFlow in the process)", "notes": prep.notes,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    sidecar = out_dir / f"model-{mode}.json"
    _write_json(sidecar, _sidecar(mode, final, info, splits, prep, out_dir))
    return [final, sidecar]


def _sidecar(mode, final, info, splits, prep, out_dir) -> dict:
    """What a phone app needs beside the file: input format, labels, normalization, vocabulary."""
    data = splits.info
    return {
        "file": final.name, "quantize": mode, "inputs": info["inputs"], "output_dtype": info["output_dtype"],
        "output_quantization": info["output_quantization"],
        "labels": list(splits.info.labels), "labels_file": "labels.txt" if splits.info.labels else None,
        "normalization": data.normalization or "inside the model: feed raw inputs in the dtype above",
        "preprocessing": data.preprocessing or "inside the model",
        "vocabulary_file": "vocab.txt" if (out_dir / "vocab.txt").is_file() else None,
        "int8_io": "integer inputs/outputs: (q - zero_point) * scale, per the inputs' quantization"
        if mode == "int8-io" else None,
        "notes": prep.notes,
    }  # fmt: skip


def comparison_table(record: dict) -> str:
    """Markdown: one row per file — size, % of float, metric, drop, max |diff|, latency, speed-up."""
    sm = record["savedmodel"]
    rows = [
        f"| file | size (bytes) | % of float | test {sm['metric']} | drop vs SavedModel | max abs diff "
        "| latency ms (1 example) | model.predict ms | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| SavedModel v{Path(sm['version_dir']).name} | | | {_fmt(sm['value'])} | | | | "
        f"{sm['keras_predict_latency_ms']:.2f} | |",
    ]
    for q in ("none", "dynamic", "float16", "int8", "int8-io"):
        f = record["files"].get(q)
        if f:
            pct = f"{100 * f['size_vs_float']:.1f}%" if f.get("size_vs_float") else ""
            rows.append(
                f"| {f['file']} | {f['size_bytes']:,} | {pct} | {_fmt(f['value'])} | {_fmt(f['drop'])} | "
                f"{f['max_abs_diff']:.2e} | {f['latency_ms']:.3f} | {f['keras_predict_latency_ms']:.2f} | "
                f"{f['speedup_vs_predict']}x |"
            )
    return "\n".join(rows)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def append_report(report: Path, record: dict) -> Path:
    """Add (or replace) the TFLite comparison section at the end of the run's report.md."""
    text = report.read_text(encoding="utf-8") if report.is_file() else ""
    if REPORT_MARK in text:
        text = text[: text.index(REPORT_MARK)].rstrip() + "\n"
    tol = record["tolerance"]
    section = (
        f"\n{REPORT_MARK}\n## TFLite: precision trade-off\n\n{comparison_table(record)}\n\n"
        f"Metric on the whole test split, run with ai_edge_litert (no TensorFlow); tolerance {tol['value']} "
        f"({tol['kind']}). Latency: median of 200 single-example calls, one thread.\n"
    )
    report.write_text(text + section, encoding="utf-8")
    return report
