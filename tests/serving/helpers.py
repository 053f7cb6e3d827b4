"""Tiny exported models and a real uvicorn server on a free loopback port, for the serving tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import numpy as np

LABELS = ["dark", "mid", "bright"]


def export_vision(root: Path, name: str = "vision", bias: float = 0.0) -> Path:
    """A uint8 (N, 8, 8, 1) image classifier whose answer is a fixed function of mean brightness:
    class = dark / mid / bright; ``bias`` shifts the logits so two versions answer differently."""
    import keras

    from tfdl.export.savedmodel import signature_in_words, write_version

    inputs = keras.Input((8, 8, 1), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)  # (N, 1) mean brightness in [0, 1]
    dense = keras.layers.Dense(3, name="logits")
    out = keras.layers.Activation("softmax", dtype="float32")(dense(x))
    model = keras.Model(inputs, out)
    dense.set_weights(
        [np.array([[-20.0, 0.0, 20.0]], np.float32), np.array([8.0 + bias, 0.0, -12.0], np.float32)]
    )
    card = {
        "app": "vision",
        "model": "tiny",
        "task": "classification",
        "labels": LABELS,
        "signature": signature_in_words(model),
    }
    return write_version(
        root, name, lambda p: model.export(str(p), format="tf_saved_model", verbose=False), card
    )


def export_tabular(root: Path, name: str, task: str) -> Path:
    """A dict-of-columns model on two float features ``a`` and ``b``, each (N, 1):
    classification -> sigmoid(a - b); regression -> 2a + 3b + 1."""
    import keras

    from tfdl.export.savedmodel import signature_in_words, write_version

    a = keras.Input((1,), name="a")
    b = keras.Input((1,), name="b")
    dense = keras.layers.Dense(1, activation="sigmoid" if task == "classification" else None)
    model = keras.Model({"a": a, "b": b}, dense(keras.layers.Concatenate()([a, b])))
    w = [[1.0], [-1.0]] if task == "classification" else [[2.0], [3.0]]
    dense.set_weights(
        [np.array(w, np.float32), np.array([0.0 if task == "classification" else 1.0], np.float32)]
    )
    card = {
        "app": "tabular",
        "model": "tiny",
        "task": task,
        "signature": signature_in_words(model),
        "labels": ["no", "yes"] if task == "classification" else [],
    }
    return write_version(
        root, name, lambda p: model.export(str(p), format="tf_saved_model", verbose=False), card
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, timeout: float = 60.0):
    """Run ``app`` on uvicorn in a thread on a free loopback port; yields the base URL; always stops it."""
    import uvicorn

    port = free_port()
    # Keep-alive 60 s, not uvicorn's 5 s: on a loaded 2-core machine a test client (same process, same GIL)
    # can pause over 5 s between two requests, and then races the server closing that idle connection.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=60)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def export_text(root: Path, name: str = "reviews") -> Path:
    """A raw-string sentiment classifier: counts of "good" minus "bad" -> softmax over [neg, pos]."""
    import keras
    import tensorflow as tf

    from tfdl.export.savedmodel import write_version

    class Counts(keras.layers.Layer):
        def call(self, x):
            words = tf.strings.split(tf.strings.lower(x))
            good = tf.reduce_sum(tf.cast(tf.equal(words, "good"), "float32"), axis=-1)
            bad = tf.reduce_sum(tf.cast(tf.equal(words, "bad"), "float32"), axis=-1)
            return tf.stack([bad - good, good - bad], axis=-1) * 3.0

    inputs = keras.Input((), dtype="string", name="text")
    model = keras.Model(inputs, keras.layers.Softmax()(Counts()(inputs)))
    card = {
        "app": "text",
        "model": "tiny",
        "task": "classification",
        "labels": ["neg", "pos"],
        "signature": {"inputs": {"shape": [None], "dtype": "string"}},
    }
    return write_version(
        root, name, lambda p: model.export(str(p), format="tf_saved_model", verbose=False), card
    )
