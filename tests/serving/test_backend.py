"""``--backend tflite``: a version with a checked .tflite file answers from it; one without stays on the
SavedModel; both give the SavedModel's answers."""

from __future__ import annotations

import json

import httpx
import numpy as np

from tests.serving.helpers import export_vision, running


def _add_tflite(version_dir, within_tolerance: bool = True) -> None:
    import tensorflow as tf

    out = version_dir / "tflite"
    out.mkdir()
    (out / "model-none.tflite").write_bytes(
        tf.lite.TFLiteConverter.from_saved_model(str(version_dir)).convert()
    )
    record = {"files": {"none": {"file": "model-none.tflite", "metric": "accuracy", "value": 1.0,
                                 "within_tolerance": within_tolerance}}}  # fmt: skip
    (out / "parity.json").write_text(json.dumps(record))


def test_tflite_backend_serves_checked_files_only(tmp_path):
    from tfdl.serving.litert import checked_file
    from tfdl.serving.server import create_app

    v1 = export_vision(tmp_path, name="vision")
    _add_tflite(v1)
    plain = export_vision(tmp_path, name="plain")
    failed = export_vision(tmp_path, name="failed")
    _add_tflite(failed, within_tolerance=False)
    assert (
        checked_file(v1)[0] is not None and checked_file(plain)[0] is None and checked_file(failed)[0] is None
    )

    images = [np.full((8, 8, 1), v, np.uint8).tolist() for v in (0, 128, 255)]
    answers = {}
    for backend in ("savedmodel", "tflite"):
        app = create_app(tmp_path, poll_seconds=60, backend=backend)
        with running(app) as base:
            health = httpx.get(f"{base}/healthz").json()
            answers[backend] = {
                name: httpx.post(f"{base}/v1/models/{name}:predict", json={"instances": images}).json()[
                    "predictions"
                ]
                for name in ("vision", "plain", "failed")
            }
        if backend == "tflite":
            assert health["backends"] == {
                "failed/1": "savedmodel", "plain/1": "savedmodel", "vision/1": "tflite:model-none.tflite"
            }  # fmt: skip
        else:
            assert set(health["backends"].values()) == {"savedmodel"}
    for name in ("vision", "plain", "failed"):
        assert np.allclose(answers["tflite"][name], answers["savedmodel"][name], atol=1e-5)
        assert list(np.argmax(answers["tflite"][name], axis=1)) == [0, 1, 2]
