"""Concurrent time-series uploads to one served version: each answer is stamped from its own window.

The codec's ``read`` returns ``(x, context)`` and ``describe`` reads the window's last timestamp from that
context, never from the served version's shared model card (which once held ``meta["window"]``, written
by one request's read and read by another's describe after an ``await``).
"""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serving.helpers import running

LOOKBACK, HORIZON = 4, 2


def export_forecaster(root) -> None:
    """A (N, 4, 1) window -> (N, 2) forecast model: [last value, mean of the window]."""
    import keras

    from tfdl.data.timeseries import step_str
    from tfdl.export.savedmodel import signature_in_words, write_version

    inputs = keras.Input((LOOKBACK, 1), name="window")
    dense = keras.layers.Dense(HORIZON, name="forecast")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    w = np.zeros((LOOKBACK, HORIZON), np.float32)
    w[-1, 0] = 1.0
    w[:, 1] = 1.0 / LOOKBACK
    dense.set_weights([w, np.zeros(HORIZON, np.float32)])
    card = {
        "app": "timeseries",
        "model": "tiny",
        "task": "forecast",
        "signature": signature_in_words(model),
        "labels": [],
        "preprocessing": {
            "kind": "window",
            "target": "load",
            "columns": ["load"],
            "lookback": LOOKBACK,
            "horizon": HORIZON,
            "time_column": "time",
            "step": step_str(pd.Timedelta(hours=1)),
        },
    }
    write_version(root, "load", lambda p: model.export(str(p), format="tf_saved_model", verbose=False), card)


def _window(start: pd.Timestamp, values: list[float]) -> bytes:
    times = pd.date_range(start, periods=len(values), freq="h")
    rows = [f"{t.isoformat()},{v}" for t, v in zip(times, values)]
    return ("time,load\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from tfdl.serving.server import create_app

    root = tmp_path_factory.mktemp("saved_models")
    export_forecaster(root)
    # A 30 ms batching wait: concurrent uploads are read, then wait together for one model call.
    app = create_app(root, max_batch=64, batch_wait_ms=30, poll_seconds=60)
    with running(app) as base:
        yield base


def test_concurrent_uploads_each_get_their_own_window(url):
    from tfdl.data.timeseries import step_str

    n = 24
    starts = [pd.Timestamp("2024-01-01") + pd.Timedelta(days=3 * i, hours=i) for i in range(n)]
    windows = [[10.0 * i + k for k in range(LOOKBACK)] for i in range(n)]
    # Every fourth upload has a wrong length (its own: 2, 3, 5 or 6 rows); the others are valid.
    lengths = [LOOKBACK if i % 4 else [2, 3, 5, 6][(i // 4) % 4] for i in range(n)]
    bodies = [_window(s, [10.0 * i + k for k in range(m)]) for i, (s, m) in enumerate(zip(starts, lengths))]

    async def go():
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
            return await asyncio.gather(
                *(
                    c.post("/v1/models/load:upload", files={"file": (f"w{i}.csv", body, "text/csv")})
                    for i, body in enumerate(bodies)
                )
            )

    for _ in range(2):  # twice: the second round runs on a warm server, with the tightest overlap
        answers = asyncio.run(go())
        for i, r in enumerate(answers):
            if lengths[i] != LOOKBACK:
                assert r.status_code == 422, r.text
                assert f"has {lengths[i]}" in r.json()["error"]
                continue
            assert r.status_code == 200, r.text
            body = r.json()
            last = starts[i] + pd.Timedelta(hours=LOOKBACK - 1)
            want_times = [(last + pd.Timedelta(hours=h)).isoformat() for h in range(1, HORIZON + 1)]
            assert body["target"] == "load" and body["step"] == step_str(pd.Timedelta(hours=1))
            assert [f["time"] for f in body["forecast"]] == want_times, (i, body)
            values = [f["value"] for f in body["forecast"]]
            assert values == pytest.approx([windows[i][-1], float(np.mean(windows[i]))], abs=1e-3)


def test_the_card_is_not_written_by_uploads(url):
    with httpx.Client(base_url=url, timeout=60) as c:
        r = c.post(
            "/v1/models/load:upload",
            files={"file": ("w.csv", _window(pd.Timestamp("2030-05-01"), [1, 2, 3, 4]), "text/csv")},
        )
        assert r.status_code == 200, r.text
        card = c.get("/v1/models/load/metadata").json()["model_card"]
    assert "window" not in card and set(card["preprocessing"]) >= {"lookback", "step", "time_column"}
