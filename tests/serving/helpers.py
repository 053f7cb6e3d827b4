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


def fashion_mnist():
    """Fashion-MNIST as ((x_train, y_train, x_test, y_test) uint8 (N, 28, 28, 1), where); pytest.skip when
    it is not installed (Debian package dataset-fashion-mnist, or TFDL_DATA_DIR)."""
    import pytest

    from tfdl.data.images import load_fashion_mnist
    from tfdl.errors import TfdlError

    try:
        return load_fashion_mnist(False)
    except TfdlError as e:
        pytest.skip(f"Fashion-MNIST not available: {e}")


def export_fashion(root: Path, name: str = "fashion", n_train: int = 6000, epochs: int = 2) -> Path:
    """A small CNN (the library's build_cnn, 16/32 filters) trained on ``n_train`` Fashion-MNIST images,
    exported by ``export_run_model`` as ``tfdl export`` does: fresh-process check, gradcam signature."""
    import keras

    from tfdl.app import get_app
    from tfdl.data.images import FASHION_LABELS
    from tfdl.data.splits import DataInfo, Splits
    from tfdl.export.savedmodel import export_run_model
    from tfdl.models import build_cnn

    (xtr, ytr, xte, yte), where = fashion_mnist()
    app = get_app("vision")
    cfg = app.config_class()
    cfg.app, cfg.task, cfg.model.name = "vision", "classification", "cnn"
    cfg.export.model_root, cfg.export.name = str(root), name
    info = DataInfo("fashion_mnist", where, "sha256:test", list(FASHION_LABELS), (28, 28, 1))
    splits = Splits(xtr[:n_train], ytr[:n_train], xtr[-500:], ytr[-500:], xte[:1000], yte[:1000], info)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1), dtype="uint8", name="image")
    model = build_cnn(
        (28, 28, 1), 10, filters=(16, 32), dense_units=64, dropout=0.0, inputs=inputs,
        preprocess=keras.layers.Rescaling(1 / 255),
    )  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(splits.x_train, splits.y_train, epochs=epochs, batch_size=64, verbose=0)
    acc = float(np.mean(model.predict(splits.x_test, verbose=0).argmax(1) == splits.y_test))
    metrics = {"test": {"accuracy": acc}, "dataset": {"name": "fashion_mnist", "rows": n_train}}
    return export_run_model(app, cfg, model, splits, metrics)
