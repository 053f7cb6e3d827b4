"""`tfdl export`: a finished run -> a new SavedModel version, TFLite files or an ONNX file."""

from __future__ import annotations

import json
from pathlib import Path

from tfdl.errors import TfdlError

FORMATS = ("savedmodel", "tflite", "onnx")


def export(
    app, run_dir: Path, *, fmt: str = "savedmodel", quantize: str = "none", int8_io: bool = False
) -> list[Path]:
    from tfdl.pipeline import fit_state, load_run, load_splits

    if fmt not in FORMATS:
        raise TfdlError(f"--format must be one of {', '.join(FORMATS)}; got '{fmt}'")

    cfg, model = load_run(app, run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    splits = load_splits(app, cfg)
    # What training derived from train/val (e.g. the anomaly threshold) travels with the export too;
    # the report (plots) is not drawn again.
    fit_state(app, cfg, model, splits)
    if fmt == "savedmodel":
        from tfdl.export.savedmodel import export_run_model

        return [export_run_model(app, cfg, model, splits, metrics, run_dir)]
    if fmt == "tflite":
        from tfdl.export import tflite

        return tflite.export_tflite(
            app, cfg, model, splits, metrics, run_dir, quantize=quantize, int8_io=int8_io
        )
    if fmt == "onnx":
        from tfdl.export.onnx import export_onnx

        return export_onnx(app, cfg, model, splits, metrics, run_dir)
    raise TfdlError(f"--format must be savedmodel, tflite or onnx; got '{fmt}'")
