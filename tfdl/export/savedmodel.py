"""Versioned SavedModel export in TensorFlow Serving's layout: ``<root>/<name>/<N>/``.

A version is written to a hidden temporary folder beside the versions and renamed into place, so a
reader (our server, TensorFlow Serving) never sees half a version. ``metadata.json`` is the model card.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def list_versions(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def git_dirty() -> bool | None:
    """True when the working tree has uncommitted changes to tracked files (the commit alone does not
    reproduce the model); None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("tfdl", "tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def export_inference(model, path: str | Path, gradcam: bool = False) -> str | None:
    """Write ``model`` as a SavedModel whose ``serving_default`` runs it in inference mode.

    ``model.export()`` serves ``model.__call__`` without ``training=False``, and Keras' random
    preprocessing layers (RandomFlip, RandomRotation, ...) default to ``training=True``: the served model
    would augment every request. Here the endpoint calls ``model(x, training=False)``; inputs, names and
    signatures are the same as ``model.export``'s.

    ``gradcam=True`` (image classifiers) also adds a ``gradcam`` signature (``tfdl.explain.signature``)
    when the model has a convolution. Returns None, or why there is no ``gradcam`` signature."""
    import keras
    from keras.src.export.export_utils import get_input_signature

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", lambda *args: model(*args, training=False), input_signature=get_input_signature(model)
    )
    why = "not requested"
    if gradcam:
        why = _add_gradcam(archive, model)
    archive.write_out(str(path), verbose=False)
    return why


def _add_gradcam(archive, model) -> str | None:
    """Add the ``gradcam`` endpoint to ``archive``; None when added, else why not (the export goes on:
    the server explains such models by occlusion)."""
    import logging

    from tfdl.errors import TfdlError

    try:
        from tfdl.explain.signature import SIGNATURE, gradcam_endpoint

        fn, signature, taps = gradcam_endpoint(model)
        archive.track(taps)
        archive.add_endpoint(SIGNATURE, fn, input_signature=signature)
        return None
    except TfdlError as e:  # no convolution, not an image model: expected, not worth a warning
        return str(e)
    except Exception as e:  # noqa: BLE001  (an explanation must never cost the user their export)
        logging.getLogger("tfdl.export").warning(
            "no gradcam signature (%s: %s); the server will explain this model by occlusion",
            type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "",
        )  # fmt: skip
        return f"{type(e).__name__}: {e}"


def write_version(
    model_root: str | Path,
    name: str,
    write: Callable[[Path], None],
    card: dict[str, Any],
    assets: dict[str, str] | None = None,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Call ``write(tmp_dir)`` to fill a SavedModel folder, add assets, run ``check(tmp_dir)`` (it raises
    to refuse the folder), add metadata.json, then rename it to the next integer version atomically.
    Returns the version folder. On any failure nothing is left: no version, no temporary folder."""
    model_dir = Path(model_root) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".tmp-{uuid.uuid4().hex[:8]}"
    try:
        write(tmp)
        (tmp / "assets").mkdir(exist_ok=True)
        for fname, text in (assets or {}).items():
            (tmp / "assets" / fname).write_text(text, encoding="utf-8")
        if check is not None:
            check(tmp)
        for _ in range(100):
            version = (list_versions(model_dir) or [0])[-1] + 1
            card = {**card, "name": name, "version": version}
            (tmp / "metadata.json").write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
            final = model_dir / str(version)
            try:
                os.rename(tmp, final)  # atomic on one file system; fails if another writer took N
                return final
            except OSError:
                if final.exists():
                    continue
                raise
        raise RuntimeError(f"could not find a free version number under {model_dir}")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def signature_in_words(model) -> dict[str, Any]:
    def describe(t) -> dict:
        return {"shape": [None if d is None else int(d) for d in t.shape], "dtype": str(t.dtype)}

    ins = model.inputs
    outs = model.outputs
    return {
        "inputs": {t.name: describe(t) for t in ins} if len(ins) > 1 else describe(ins[0]),
        "outputs": [describe(t) for t in outs],
        "signature": "serving_default",
    }


def model_card(app, cfg, model, splits, metrics: dict, extra: dict | None = None) -> dict[str, Any]:
    from tfdl.config import to_dict
    from tfdl.tasks import get_task

    return {
        "app": app.name,
        "model": cfg.model.name,
        "task": cfg.task,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "description": cfg.export.description,
        "dataset": metrics.get("dataset", {}),
        "config": to_dict(cfg),
        "test_metrics": metrics.get("test", {}),
        "baseline": metrics.get("baseline", {}),
        "baselines": metrics.get("baselines", {}),
        "precision_policy": metrics.get("precision_policy"),
        "libraries": library_versions(),
        "signature": signature_in_words(model),
        "labels": list(splits.info.labels),
        "preprocessing": splits.info.preprocessing or "inside the model",
        # The server accepts NaN in float inputs only where the model imputes them (export checks it).
        "allow_nan": bool(splits.info.allow_nan),  # export_run_model overrides it with the checked value
        **get_task(cfg.task).card(splits.info),
        **(extra or {}),
    }


def check_parity(model, version_dir: Path, x_sample, atol: float = 1e-3) -> float:
    """Reload the SavedModel IN A FRESH PROCESS and compare its serving_default output with the Keras
    model's on ``x_sample``. Tolerance: ``tfdl.export.parity.SAVEDMODEL_ATOL`` + ``SAVEDMODEL_RTOL`` x
    max|output| (``atol`` is kept for callers of the old signature and caps it from above).
    Returns the max |diff|; raises TfdlError saying why when they disagree."""
    from tfdl.export import parity

    expected = np.asarray(model.predict(x_sample, verbose=0), dtype=np.float64)
    return parity.check_savedmodel(Path(version_dir), x_sample, expected)["max_abs_diff"]


def served_model(app, cfg, model, splits, metrics: dict):
    """What is exported: the model's ``serving_model`` hook (anomaly: the score model), then the task's
    output transform (anomaly: ``[score, threshold, is_anomaly]``)."""
    from tfdl.app import model_hooks
    from tfdl.tasks import get_task

    hook = model_hooks(app, cfg).serving_model
    served = hook(model, splits, metrics) if hook else model
    return get_task(cfg.task).serving_model(served, splits.info)


def export_assets(app, model, splits) -> dict[str, str]:
    """labels.txt, the data's assets (schema.yaml, threshold.json, ...) and the app's, read off the model
    (text: vocab.txt / idf.txt of its vectorizer)."""
    assets = {}
    if splits.info.labels:
        assets["labels.txt"] = "\n".join(splits.info.labels) + "\n"
    assets.update(splits.info.assets)
    if app.assets is not None:
        assets.update(app.assets(model, splits))
    return assets


def imputes_missing(model, sample) -> bool:
    """True when the model's outputs stay finite with every float input of one example set to NaN."""
    if not isinstance(sample, dict):
        sample = {"x": sample}
        rows = lambda s: s["x"]  # noqa: E731
    else:
        rows = lambda s: s  # noqa: E731
    probe = {}
    for k, v in sample.items():
        v = np.array(v[:1], copy=True)
        if v.dtype.kind == "f":
            v[...] = np.nan
        probe[k] = v
    out = np.asarray(model.predict(rows(probe), verbose=0), dtype=np.float64)
    return bool(np.isfinite(out).all())


def export_run_model(
    app, cfg, model, splits, metrics: dict, run_dir: Path | None = None, extra: dict | None = None
) -> Path:
    """Export the trained model as :func:`served_model` makes it (the model's hook, the task's transform).

    The folder is checked before it becomes a version: reloaded in a fresh process, serving_default on up
    to 8 test examples must equal the Keras outputs (tolerance in tfdl.export.parity). A failed check
    leaves no version and raises a TfdlError saying why. ``extra`` adds fields to the model card (e.g. the
    search that chose the config)."""
    from tfdl.data.splits import n_rows, take
    from tfdl.tasks import get_task

    served = served_model(app, cfg, model, splits, metrics)
    sample = take(splits.x_test, np.arange(min(8, n_rows(splits.x_test))))
    # allow_nan only when the data says the model imputes missing values AND it does: finite outputs for an
    # example whose float inputs are all NaN (the server then accepts NaN instead of answering 400).
    allow_nan = bool(splits.info.allow_nan) and imputes_missing(served, sample)
    card = model_card(
        app, cfg, served, splits, metrics,
        {"run": str(run_dir.name) if run_dir else None, "allow_nan": allow_nan, **(extra or {})},
    )  # fmt: skip
    assets = export_assets(app, model, splits)
    return write_version(
        cfg.export.model_root,
        cfg.export.name or app.name,
        lambda tmp: (
            export_inference(served, tmp, gradcam=get_task(cfg.task).classifier),
            _reference(tmp, served, splits, cfg.task),
        ),
        card,
        assets,
        check=lambda tmp: check_parity(served, tmp, sample),
    )


def _reference(version_dir: Path, model, splits, task: str | None) -> None:
    """The reference profile for drift monitoring (``tfdl.monitoring.profile``). A profile that cannot be
    built is reported and skipped: monitoring must never cost the user their export."""
    import logging

    from tfdl.monitoring.profile import write_reference

    try:
        write_reference(version_dir, model, splits, task)
    except Exception as e:  # noqa: BLE001
        logging.getLogger("tfdl.export").warning(
            "no reference profile for drift monitoring (%s: %s); `tfdl monitor` will ask for a re-export",
            type(e).__name__, str(e)[:200],
        )  # fmt: skip
