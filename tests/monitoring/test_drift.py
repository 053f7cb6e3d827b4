"""Reference profile + drift tests on real data: unshifted requests raise no alarm, a shifted feature does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfdl.data.splits import take
from tfdl.monitoring import drift as dr
from tfdl.monitoring.profile import Summarizer, build_profile, predictions
from tfdl.monitoring.requestlog import MARKER, RequestLogger, compare_rows, log_files

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _judge(profile, x, predict, labels):
    feats, hists = Summarizer.from_json(profile["summarizer"]).rows(x)
    preds = predictions(predict(x), profile["task"], labels)
    return dr.compare(profile, feats, hists, preds)


@pytest.fixture(scope="module")
def credit():
    """The tabular app's default data (modeldata credit_data: numbers with NaN and string categories)."""
    from tfdl.app import get_app
    from tfdl.pipeline import resolve_config

    app = get_app("tabular")
    splits = app.load_data(resolve_config(app, None, []))

    def predict(x):  # a stand-in model: the answer follows Income, so the prediction mix can move
        return np.nan_to_num(np.asarray(x["Income"], float) / 300.0).clip(0, 1)[:, None]

    profile = build_profile(predict, splits.x_train, splits.x_val, "classification", splits.info.labels)
    return splits, profile, predict


def test_tabular_profile_kinds(credit):
    splits, profile, _ = credit
    kinds = {k: v["kind"] for k, v in profile["summarizer"].items()}
    assert kinds["Home"] == "category" and kinds["Age"] == "numeric"
    assert profile["n_rows"] == min(len(splits.y_val), 1000)
    assert set(profile["prediction"]["counts"]) <= set(splits.info.labels)
    json.dumps(profile)  # it is written as JSON


def test_unshifted_tabular_no_alarm(credit):
    splits, profile, predict = credit
    r = _judge(profile, splits.x_test, predict, splits.info.labels)
    assert r.judged and not r.alarm and r.share == 0.0, [f.feature for f in r.drifted]


def test_shifted_numeric_column_alarms_on_that_column(credit):
    splits, profile, predict = credit
    x = dict(splits.x_test)
    x["Age"] = x["Age"] + 15.0  # applicants 15 years older
    r = _judge(profile, x, predict, splits.info.labels)
    assert r.alarm and [f.feature for f in r.drifted] == ["Age"]
    assert not r.prediction.drifted  # the stand-in model ignores Age


def test_shifted_category_and_prediction_mix(credit):
    splits, profile, predict = credit
    x = dict(splits.x_test)
    x["Home"] = np.array(["rent"] * len(x["Home"]), dtype=object)
    x["Income"] = x["Income"] * 3  # richer applicants: the predicted mix moves too
    r = _judge(profile, x, predict, splits.info.labels)
    assert {"Home", "Income"} <= {f.feature for f in r.drifted} and r.prediction.drifted


def test_too_few_requests_are_not_judged(credit):
    splits, profile, predict = credit
    r = _judge(profile, take(splits.x_test, np.arange(10)), predict, splits.info.labels)
    assert not r.judged and not r.alarm and "too few" in r.note


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST (Debian dataset-fashion-mnist) not installed")
def test_images_brightness_and_layout():
    from tfdl.data.images import read_fashion_mnist_dir

    xtr, _, xte, _ = read_fashion_mnist_dir(FASHION)

    def predict(x):
        m = x.reshape(len(x), -1).mean(1) / 255
        return np.stack([m < 0.2, (m >= 0.2) & (m < 0.4), m >= 0.4], 1).astype(float)

    labels = ["dark", "mid", "bright"]
    profile = build_profile(predict, xtr[:3000], xtr[3000:4000], "classification", labels)
    assert profile["summarizer"]["input"] == {"kind": "image", "range": [0.0, 255.0]}
    assert len(profile["histograms"]["input"]) == 16
    assert not _judge(profile, xte[:300], predict, labels).alarm
    bright = np.clip(xte[:300].astype(int) + 40, 0, 255).astype(np.uint8)
    r = _judge(profile, bright, predict, labels)
    assert r.alarm and {"input.mean", "input.pixel_histogram"} <= {f.feature for f in r.drifted}
    flipped = _judge(profile, xte[:300, :, ::-1], predict, labels)  # same pixels, mirrored: the grid sees it
    assert flipped.alarm and all(f.feature.startswith("input.cell") for f in flipped.drifted)


def test_text_length_and_out_of_vocabulary():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    new = [f"z{i}" for i in range(300)]

    def sentences(n, words, length=12):
        return np.array([" ".join(rng.choice(words, rng.integers(length - 4, length + 4))) for _ in range(n)],
                        dtype=object)  # fmt: skip

    def predict(x):
        return np.array([[len(s) % 2] for s in x], float)

    profile = build_profile(
        predict, sentences(2000, vocab), sentences(500, vocab), "classification", ["a", "b"]
    )
    assert profile["summarizer"]["input"]["kind"] == "text"
    assert not _judge(profile, sentences(200, vocab), predict, ["a", "b"]).alarm
    mixed = sentences(200, vocab[:150] + new[:150])
    r = _judge(profile, mixed, predict, ["a", "b"])
    assert [f.feature for f in r.drifted] == ["input.oov_rate"]
    longer = _judge(profile, sentences(200, vocab, length=30), predict, ["a", "b"])
    assert "input.n_words" in {f.feature for f in longer.drifted}


def test_windows_per_feature():
    rng = np.random.default_rng(1)

    def windows(n, scale=1.0):
        t = rng.uniform(0, 6.28, (n, 1, 1)) + np.linspace(0, 3, 24)[None, :, None]
        return np.concatenate([np.sin(t), scale * np.cos(t) + rng.normal(0, 0.1, (n, 24, 1))], axis=2)

    def predict(x):
        return x[:, -1, :1]

    profile = build_profile(predict, windows(1000), windows(600), "forecast", [])
    assert {"input[0].mean", "input[1].std"} <= set(profile["features"])
    assert not _judge(profile, windows(200), predict, []).alarm
    r = _judge(profile, windows(200, scale=2.0), predict, [])
    assert r.alarm and {f.feature for f in r.drifted} <= {"input[1].mean", "input[1].std"}


def test_request_log_is_bounded_and_rotated(tmp_path):
    x = {"a": np.arange(500, dtype=np.float32), "b": np.array(["x"] * 500, dtype=object)}
    out = {"y": np.ones((500, 1), np.float32)}
    logger = RequestLogger(
        tmp_path / "log", tmp_path / "models", max_bytes=20_000, max_files=4, rows_per_call=50
    )
    logger.start()
    for _ in range(40):
        logger.record("m", 1, {"task": "regression"}, x, out)
        logger.flush()
    logger.stop()
    files = log_files(tmp_path / "log")
    assert (tmp_path / "log" / MARKER).is_file() and len(files) >= 2
    assert sum(p.stat().st_size for p in files) <= 20_000
    lines = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    assert lines and all(set(r["features"]) == {"a", "b"} for r in lines)
    assert logger.written == 40 * 50  # 50 of each call's 500 rows
    # no profile for this version: rows are logged but the gauge has nothing to compare with
    assert "m" not in logger.results


def test_compare_rows_matches_compare(credit):
    splits, profile, predict = credit
    summ = Summarizer.from_json(profile["summarizer"])
    feats, hists = summ.rows(splits.x_test)
    preds = predictions(predict(splits.x_test), "classification", splits.info.labels)
    rows = [({k: (None if isinstance(v[i], float) and np.isnan(v[i]) else v[i]) for k, v in feats.items()},
             {}, preds[i]) for i in range(len(preds))]  # fmt: skip
    a, b = compare_rows(profile, rows), dr.compare(profile, feats, hists, preds)
    assert [f.p_value for f in a.features] == pytest.approx([f.p_value for f in b.features])
