"""The model registry: exported names and versions under the model root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tfdl.errors import TfdlError
from tfdl.export.savedmodel import list_versions


def list_models(model_root: str | Path) -> list[dict]:
    root = Path(model_root)
    rows = []
    if not root.is_dir():
        return rows
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for v in list_versions(d):
            meta_file = d / str(v) / "metadata.json"
            meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
            test = meta.get("test_metrics", {})
            key = next((k for k in ("accuracy", "roc_auc", "rmse", "mae") if k in test), None)
            rows.append(
                {
                    "name": d.name,
                    "version": v,
                    "created_at": meta.get("created_at", "?"),
                    "model": meta.get("model", "?"),
                    "headline": f"{key}={test[key]}" if key else "",
                }
            )
    return rows


def remove_version(model_root: str | Path, name: str, version: int) -> Path:
    target = Path(model_root) / name / str(version)
    if not target.is_dir():
        have = ", ".join(map(str, list_versions(Path(model_root) / name))) or "none"
        raise TfdlError(f"no version {version} of '{name}' under {model_root}; versions: {have}")
    # Rename first so a reader never sees a half-deleted version.
    trash = target.with_name(f".rm-{version}")
    target.rename(trash)
    shutil.rmtree(trash)
    return target
