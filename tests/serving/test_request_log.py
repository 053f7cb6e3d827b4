"""Drift end to end on real data (scikit-learn's bundled breast cancer set): export writes the reference
profile, ``serve --log-requests`` logs requests, /metrics has the drift gauge, ``tfdl monitor`` reports."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest

from tests.serving.helpers import export_tabular, running

COLUMNS = ["radius", "texture", "perimeter", "area", "smoothness"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small Keras classifier on five raw columns, exported through the pipeline's export path."""
    import keras
    from sklearn.datasets import load_breast_cancer

    from tfdl.app import App
    from tfdl.config import RunConfig
    from tfdl.data.splits import DataInfo, Splits
    from tfdl.export.savedmodel import export_run_model

    root = tmp_path_factory.mktemp("drift")
    data = load_breast_cancer()
    order = np.random.default_rng(0).permutation(len(data.target))
    x_all, y_all = data.data[order, :5].astype(np.float32), data.target[order].astype(np.int64)

    def cols(rows):
        return {c: x_all[rows, i : i + 1] for i, c in enumerate(COLUMNS)}

    tr, va, te = np.arange(0, 250), np.arange(250, 400), np.arange(400, len(y_all))
    info = DataInfo("breast_cancer", "scikit-learn", "sha256:test", list(data.target_names), (5,))
    splits = Splits(cols(tr), y_all[tr], cols(va), y_all[va], cols(te), y_all[te], info)

    keras.utils.set_random_seed(0)
    inputs = {c: keras.Input((1,), name=c) for c in COLUMNS}
    x = keras.layers.Concatenate()([inputs[c] for c in COLUMNS])
    norm = keras.layers.Normalization()
    norm.adapt(x_all[tr])
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(norm(x)))
    model.compile("adam", "binary_crossentropy")
    model.fit(splits.x_train, splits.y_train, epochs=10, batch_size=32, verbose=0)

    cfg = RunConfig()
    cfg.app, cfg.task, cfg.model.name = "cancer", "classification", "mlp"
    cfg.export.model_root = str(root / "saved_models")
    app = App(
        name="cancer", task="classification", summary="test", default_data="sklearn",
        load_data=lambda cfg: splits, models={}, default_model="mlp", baselines={},
    )  # fmt: skip
    metrics = {"test": {"accuracy": 0.9}, "dataset": {"name": "breast_cancer"}}
    version = export_run_model(app, cfg, model, splits, metrics)
    return root / "saved_models", version, splits


def _send(url: str, splits, shift: float = 0.0) -> None:
    x = splits.x_test
    n = len(x["radius"])
    for start in range(0, n, 20):
        rows = [
            {c: float(x[c][i, 0]) + (shift if c == "radius" else 0.0) for c in COLUMNS}
            for i in range(start, min(n, start + 20))
        ]
        r = httpx.post(f"{url}/v1/models/cancer:predict", json={"instances": rows}, timeout=30)
        assert r.status_code == 200, r.text


def _gauge(text: str, name: str) -> float:
    m = re.search(rf'^{name}\{{model="cancer",version="1"\}} (\S+)$', text, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def _serve_and_log(root, log, splits, shift):
    from tfdl.serving.server import create_app

    app = create_app(root, poll_seconds=0.3, log_requests=log)
    with running(app) as url:
        _send(url, splits, shift)
        app.state.request_log.flush()
        return httpx.get(f"{url}/metrics").text


@pytest.fixture(scope="module")
def logs(exported, tmp_path_factory):
    """Two servers (outside any capsys: uvicorn's log handlers keep the stream they start with) fed the
    test split as it is and with ``radius`` shifted by two standard deviations; their /metrics text."""
    root, _, splits = exported
    base = tmp_path_factory.mktemp("logs")
    shift = 2.0 * float(np.std(splits.x_train["radius"]))
    return {
        "plain": (base / "plain", _serve_and_log(root, base / "plain", splits, 0.0)),
        "shifted": (base / "shifted", _serve_and_log(root, base / "shifted", splits, shift)),
    }


def test_export_writes_reference_profile(exported):
    root, version, splits = exported
    profile = json.loads((version / "reference_profile.json").read_text())
    assert set(profile["features"]) == set(COLUMNS)
    assert profile["source"] == "training split"  # 150 validation rows is under the 200 a profile wants
    assert set(profile["prediction"]["counts"]) <= {"malignant", "benign"}


def test_unshifted_requests_no_alarm(exported, logs, tmp_path, capsys):
    from tfdl.cli import main

    root, _, splits = exported
    log, metrics = logs["plain"]
    assert _gauge(metrics, "tfdl_drift_alarm") == 0.0
    assert _gauge(metrics, "tfdl_drift_rows") == len(splits.y_test)
    lines = log.glob("requests-*.jsonl")
    assert sum(len(p.read_text().splitlines()) for p in lines) == len(splits.y_test)
    out = tmp_path / "report"
    rc = main(["monitor", "--model-root", str(root), "--requests", str(log), "--out", str(out),
               "--fail-on-drift"])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0 and f"cancer/1: {len(splits.y_test)} requests, no drift" in printed
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    assert list((out / "plots").glob("*.png"))


def test_shifted_feature_raises_the_alarm(exported, logs, tmp_path, capsys):
    from tfdl.cli import main

    root, _, splits = exported
    log, metrics = logs["shifted"]
    assert _gauge(metrics, "tfdl_drift_alarm") == 1.0 and _gauge(metrics, "tfdl_drift_share") > 0
    args = [
        "monitor",
        "--model-root",
        str(root),
        "--requests",
        str(log),
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "DRIFT" in printed and "radius" in printed and "texture" not in printed
    assert main([*args, "--fail-on-drift"]) == 3
    report = (tmp_path / "r" / "report.md").read_text()
    assert "| radius | ks |" in report and "**yes**" in report


def _error(args, capsys) -> str:
    from tfdl.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_bad_request_logs_exit_2(exported, tmp_path, capsys):
    from tfdl.monitoring.requestlog import MARKER

    root, _, _ = exported
    base = ["monitor", "--model-root", str(root), "--out", str(tmp_path / "r"), "--requests"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / MARKER).write_text("{}")
    assert "is empty" in _error([*base, str(empty)], capsys)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("hello")
    assert "not a request log" in _error([*base, str(other)], capsys)
    assert "not a folder" in _error([*base, str(tmp_path / "missing")], capsys)


def test_model_without_profile_says_reexport(exported, tmp_path, capsys):
    root, _, _ = exported
    export_tabular(root, "plain", "classification")  # written without a profile (as before this feature)
    log = tmp_path / "log"
    log.mkdir()
    line = {"t": 0, "model": "plain", "version": 1, "features": {"a": 1.0, "b": 2.0}, "prediction": "no"}
    (log / "requests-1.jsonl").write_text(json.dumps(line) + "\n")
    err = _error(
        ["monitor", "--model-root", str(root), "--requests", str(log), "--out", str(tmp_path / "r")], capsys
    )
    assert "no reference profile" in err and "re-export" in err


def test_upload_is_logged_as_a_summary_not_pixels(tmp_path):
    """An image upload is logged as statistics (no pixels), even for a version exported without a profile."""
    import io

    from PIL import Image

    from tests.serving.helpers import export_vision
    from tfdl.serving.server import create_app

    root = tmp_path / "models"
    export_vision(root)
    app = create_app(root, poll_seconds=0.3, log_requests=tmp_path / "log")
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(buf, format="PNG")
    with running(app) as url:
        r = httpx.post(
            f"{url}/v1/models/vision:upload", files={"file": ("a.png", buf.getvalue())}, timeout=30
        )
        assert r.status_code == 200, r.text
        app.state.request_log.flush()
    (line,) = [
        json.loads(s) for p in (tmp_path / "log").glob("requests-*.jsonl") for s in p.read_text().splitlines()
    ]
    assert line["model"] == "vision" and line["prediction"] == "bright"
    assert line["features"]["image.mean"] == pytest.approx(200 / 255, abs=1e-3)
    assert len(line["histograms"]["image"]) == 16 and len(json.dumps(line)) < 2000  # 64 pixels never stored
