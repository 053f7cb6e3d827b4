"""Load an exported version for prediction: the SavedModel's serving_default plus its model card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfdl.errors import TfdlError
from tfdl.export.savedmodel import list_versions


def resolve_version(model_root: str | Path, name: str, version: int | None = None) -> Path:
    model_dir = Path(model_root) / name
    versions = list_versions(model_dir)
    if not versions:
        raise TfdlError(f"no exported versions of '{name}' under {model_root}; run `tfdl train {name}` first")
    if version is None:
        return model_dir / str(versions[-1])
    if version not in versions:
        raise TfdlError(
            f"version {version} of '{name}' not found; available: {', '.join(map(str, versions))}"
        )
    return model_dir / str(version)


@dataclass
class LoadedVersion:
    path: Path
    meta: dict
    fn: Any  # the serving_default concrete function
    input_names: list[str]
    gradcam: Any = None  # the ``gradcam`` signature (image classifiers with a conv), else None

    def predict(self, x) -> np.ndarray:
        """Call serving_default on ``x`` (an array, or a dict of column arrays); returns the first output."""
        import tensorflow as tf

        spec = self.fn.structured_input_signature[1]
        if isinstance(x, dict):
            kwargs = {k: tf.constant(np.asarray(x[k]), dtype=spec[k].dtype) for k in self.input_names}
        else:
            name = self.input_names[0]
            kwargs = {name: tf.constant(np.asarray(x), dtype=spec[name].dtype)}
        out = self.fn(**kwargs)
        return np.asarray(next(iter(out.values())))

    def predict_all(self, x) -> dict[str, np.ndarray]:
        import tensorflow as tf

        spec = self.fn.structured_input_signature[1]
        if isinstance(x, dict):
            kwargs = {k: tf.constant(np.asarray(x[k]), dtype=spec[k].dtype) for k in self.input_names}
        else:
            kwargs = {self.input_names[0]: tf.constant(np.asarray(x), dtype=spec[self.input_names[0]].dtype)}
        return {k: np.asarray(v) for k, v in self.fn(**kwargs).items()}


def load_version(path: str | Path) -> LoadedVersion:
    import tensorflow as tf

    p = Path(path)
    if not (p / "saved_model.pb").is_file():
        raise TfdlError(f"'{p}' is not a SavedModel version folder (expected saved_models/NAME/VERSION)")
    meta_file = p / "metadata.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    loaded = tf.saved_model.load(str(p))
    fn = loaded.signatures["serving_default"]
    fn._tfdl_owner = loaded  # keep the trackable alive as long as the function
    names = sorted(fn.structured_input_signature[1])
    gradcam = loaded.signatures["gradcam"] if "gradcam" in loaded.signatures else None
    if gradcam is not None:
        gradcam._tfdl_owner = loaded
    return LoadedVersion(p, meta, fn, names, gradcam)
