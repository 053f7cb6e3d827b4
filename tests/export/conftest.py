"""One tiny trained CNN, exported once as a SavedModel version and as TFLite in every mode (shared)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.export.helpers import tiny_app, tiny_config, tiny_splits, trained


@dataclass
class Exported:
    root: Path
    app: object
    cfg: object
    model: object
    splits: object
    metrics: dict
    run_dir: Path
    version: Path
    paths: list


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Exported:
    from tfdl.export.tflite import export_tflite, find_run_version

    root = tmp_path_factory.mktemp("export")
    splits = tiny_splits()
    cfg = tiny_config(root)
    app = tiny_app(splits)
    model, metrics = trained(splits, cfg)
    run_dir = root / "runs" / "tiny" / "run-1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.md").write_text("# tiny: cnn\n\nbody\n")
    paths = export_tflite(app, cfg, model, splits, metrics, run_dir, quantize="all")
    paths += export_tflite(app, cfg, model, splits, metrics, run_dir, quantize="int8", int8_io=True)
    version = find_run_version(cfg.export.model_root, "tiny", "run-1")
    return Exported(root, app, cfg, model, splits, metrics, run_dir, version, paths)
