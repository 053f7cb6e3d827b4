"""`tfdl export APP --format onnx`: an ONNX file beside a SavedModel version, checked without TensorFlow.

Layout: ``saved_models/<name>/<version>/onnx/model.onnx`` + ``parity.json`` (and ``labels.txt``, ``vocab.txt``
for text); the model card (``metadata.json``) gains an ``onnx`` record.

The model is prepared as for TFLite (float32 rebuild of a mixed-precision model, unrolled recurrent layers,
text cut after its TextVectorization so the file takes token ids), its function frozen to constants and
converted by tf2onnx (what Keras 3's ``model.export(..., format="onnx")`` calls, minus the freeze). The
file is then run with onnxruntime in a fresh process that never imports TensorFlow, on the whole test
split: its headline metric must be within the tolerance of the SavedModel's and every output finite.
Only then is it renamed into place; a model that does not convert, or a file that fails its check, leaves
nothing behind and says why in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError
from tfdl.export import parity
from tfdl.export.tflite import (
    DEFAULT_TOLERANCE,
    _chunks_predict,
    _drop,
    _predict_latency_ms,
    _score,
    _write_json,
    find_run_version,
)
from tfdl.tasks import get_task


def run_onnx(path: Path, x, latency_runs: int = 200) -> tuple[np.ndarray, dict]:
    """Outputs of an ONNX file on ``x`` and single-example latency, from onnxruntime in a fresh process
    without TensorFlow (a RuntimeError if TensorFlow got imported there)."""
    with tempfile.TemporaryDirectory() as tmp:
        npz_in, npz_out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        parity.save_inputs(npz_in, x)
        try:
            info = parity.run_worker(["onnx", str(path), str(npz_in), str(npz_out), str(latency_runs)])
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            name = Path(path).name
            raise TfdlError(f"onnxruntime could not run {name} ({err}); the file was not kept") from None
        pred = np.load(npz_out)["pred"]
    if info["tensorflow_imported"]:
        raise RuntimeError("the ONNX check imported tensorflow; it must run with onnxruntime alone")
    return pred, info


def _convert(model, x_one, path: Path) -> None:
    """Keras model -> a standalone ONNX file at ``path``.

    The model's function is frozen first (variables AND captured eager constants, e.g. a Normalization
    built with mean/variance, become graph constants), then tf2onnx converts the frozen graph; without the
    freeze such constants become extra required ONNX inputs. Input and output names are kept clean
    (``window``, not ``window:0``)."""
    try:
        with warnings.catch_warnings():  # tf2onnx probes np.object at import (NumPy 2): a FutureWarning
            warnings.simplefilter("ignore", FutureWarning)
            import tf2onnx
    except ImportError:
        raise TfdlError(
            "ONNX export needs tf2onnx and onnxruntime: pip install -e '.[onnx]' (or make install)"
        ) from None
    try:
        import onnx
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        names = list(model.input) if isinstance(model.input, dict) else [t.name for t in model.inputs]
        specs = [tf.TensorSpec(t.shape, t.dtype, name=n) for n, t in zip(names, model.inputs)]

        def call(*args):
            x = dict(zip(names, args)) if isinstance(model.input, dict) else list(args)
            return model(x[0] if isinstance(x, list) and len(x) == 1 else x, training=False)

        frozen = convert_variables_to_constants_v2(tf.function(call).get_concrete_function(*specs))
        try:  # Keras' shim for tf2onnx on NumPy 2 (np.object, np.cast); harmless when not needed
            from keras.src.export.onnx import patch_tf2onnx

            patch_tf2onnx()
        except ImportError:
            pass
        ins, outs = [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_graph_def(
                frozen.graph.as_graph_def(), input_names=ins, output_names=outs
            )
        rename = {n: n.split(":")[0] for n in ins}
        rename.update({n: "output" if len(outs) == 1 else n.split(":")[0] for n in outs})
        for value in [*proto.graph.input, *proto.graph.output]:
            value.name = rename.get(value.name, value.name)
        for node in proto.graph.node:
            node.input[:] = [rename.get(i, i) for i in node.input]
            node.output[:] = [rename.get(o, o) for o in node.output]
        onnx.checker.check_model(proto)
        onnx.save(proto, str(path))
    except TfdlError:
        raise
    except Exception as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
        raise TfdlError(
            f"the model does not convert to ONNX ({type(err).__name__}: {lines[0][:160]}); "
            "serve the SavedModel instead (tfdl serve), or export TFLite"
        ) from None


def _update_card(version: Path, record: dict) -> Path:
    card_path = version / "metadata.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card["onnx"] = record
    _write_json(card_path, card)
    return card_path


def export_onnx(
    app, cfg, model, splits, metrics: dict, run_dir: Path, *, tolerance: float = DEFAULT_TOLERANCE
) -> list[Path]:
    """Write ``onnx/model.onnx`` for the run's newest exported version (exporting one first if none), check
    it with onnxruntime against the SavedModel on the test split, record it; return the written paths."""
    from tfdl.data.splits import take
    from tfdl.evaluation.metrics import headline
    from tfdl.export import tflite_convert as C
    from tfdl.export.load import load_version
    from tfdl.export.savedmodel import export_run_model, served_model

    served = served_model(app, cfg, model, splits, metrics)
    outputs = getattr(served, "outputs", None) or []
    if len(outputs) > 1:
        raise TfdlError(f"ONNX export handles single-output models; this one has {len(outputs)} outputs")
    print("ONNX: preparing the model (float32, token ids for text) ...", flush=True)
    prep = C.prepare(served, splits, seed=cfg.data.seed, target="ONNX")
    name = cfg.export.name or app.name
    version = find_run_version(cfg.export.model_root, name, run_dir.name)
    if version is None:
        version = export_run_model(app, cfg, model, splits, metrics, run_dir)

    out_dir = version / "onnx"
    staging = version / f".onnx-tmp-{uuid.uuid4().hex[:6]}"
    staging.mkdir()
    try:
        print("ONNX: converting with tf2onnx ...", flush=True)
        _convert(prep.model, take(prep.x_test, np.arange(1)), staging / "model.onnx")
        print("ONNX: checking the file with onnxruntime on the test split (no TensorFlow) ...", flush=True)
        loaded = load_version(version)
        ref_pred = _chunks_predict(loaded.predict, splits.x_test).astype(np.float64)
        pred, info = run_onnx(staging / "model.onnx", prep.x_test)
        pred = pred.reshape(ref_pred.shape)
        if not np.all(np.isfinite(pred)):
            raise TfdlError("the ONNX outputs hold NaN/inf; the file was not kept")
        metric_name, higher_better = headline(cfg.task)
        ref_score, score = _score(app, cfg, splits, ref_pred), _score(app, cfg, splits, pred)
        drop = _drop(ref_score, score, higher_better)
        if drop is not None and drop > tolerance:
            raise TfdlError(
                f"ONNX test {metric_name} {score:.4f} vs SavedModel {ref_score:.4f}: the drop {drop:.4f} "
                f"exceeds the tolerance {tolerance}; the file was not kept"
            )
        agreement = None
        if get_task(cfg.task).classifier and ref_pred.ndim == 2 and ref_pred.shape[1] > 1:
            agreement = float(np.mean(np.argmax(pred, 1) == np.argmax(ref_pred, 1)))
        record = {
            "file": "onnx/model.onnx", "size_bytes": (staging / "model.onnx").stat().st_size,
            "metric": metric_name, "value": score, "savedmodel_value": ref_score,
            "drop": None if drop is None else round(drop, 6), "tolerance": tolerance,
            "max_abs_diff": float(np.max(np.abs(pred - ref_pred))) if pred.size else 0.0,
            "label_agreement": agreement, "n_test": info["n_examples"],
            "latency_ms": round(info["latency_ms"], 4), "latency_p90_ms": round(info["latency_p90_ms"], 4),
            "keras_predict_latency_ms": round(_predict_latency_ms(served, take(splits.x_test, [0])), 3),
            "inputs": info["inputs"],
            "runtime": f"onnxruntime {info['onnxruntime']} (no TensorFlow in the process)",
            "notes": prep.notes, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }  # fmt: skip
        for asset in (version / "assets").glob("*"):
            if asset.is_file():
                shutil.copy2(asset, staging / asset.name)
        if prep.vocabulary is not None:
            (staging / "vocab.txt").write_text("\n".join(prep.vocabulary) + "\n", encoding="utf-8")
        _write_json(staging / "parity.json", record)
        # Swap the checked folder into place: a reader sees the old onnx/ or the new one, never half.
        old = version / f".onnx-old-{uuid.uuid4().hex[:6]}"
        if out_dir.exists():
            os.rename(out_dir, old)
        os.rename(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    card = _update_card(version, record)
    return [out_dir / "model.onnx", out_dir / "parity.json", card]
