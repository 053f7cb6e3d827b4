"""A tiny image classifier on generated data, and the App/config/splits the exporters expect."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfdl.app import App
from tfdl.config import RunConfig
from tfdl.data.splits import DataInfo, Splits

LABELS = ["dark", "mid", "bright"]


def tiny_splits(n_train: int = 300, n_test: int = 120, size: int = 12, seed: int = 0) -> Splits:
    """uint8 images whose class sets both the brightness and the position of a bright stripe."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = np.arange(n) % 3
        x = rng.integers(0, 50, size=(n, size, size, 1)) + (y * 70)[:, None, None, None]
        for i, c in enumerate(y):
            x[i, :, c * 4 : c * 4 + 3, 0] = 250
        return x.astype(np.uint8), y.astype(np.int64)

    (xtr, ytr), (xva, yva), (xte, yte) = make(n_train), make(60), make(n_test)
    info = DataInfo("tiny_stripes", "generated in tests", "sha256:test", list(LABELS), (size, size, 1))
    info.normalization = "uint8 pixels 0-255; the model scales by 1/255 inside"
    return Splits(xtr, ytr, xva, yva, xte, yte, info)


def build(splits: Splits, cfg: RunConfig, **kw):
    """The library's build_cnn, small, on raw uint8 pixels (scaling inside the model)."""
    import keras

    from tfdl.models import build_cnn

    inputs = keras.Input(splits.info.input_shape, dtype="uint8", name="image")
    return build_cnn(
        splits.info.input_shape, 3, filters=(8, 16), dense_units=16, dropout=0.0, batch_norm=False,
        inputs=inputs, preprocess=keras.layers.Rescaling(1 / 255), **kw,
    )  # fmt: skip


def tiny_app(splits: Splits, name: str = "tiny") -> App:
    return App(
        name=name, task="classification", summary="tiny test app", default_data="generated",
        load_data=lambda cfg: splits, models={"cnn": build}, default_model="cnn", baselines={},
    )  # fmt: skip


def tiny_config(root: Path) -> RunConfig:
    cfg = RunConfig()
    cfg.app, cfg.task, cfg.model.name = "tiny", "classification", "cnn"
    cfg.export.model_root = str(root / "saved_models")
    cfg.runs_dir = str(root / "runs")
    return cfg


def trained(splits: Splits, cfg: RunConfig, epochs: int = 6):
    """Fit the tiny CNN (float32, seeded) so accuracy is meaningful; returns (model, metrics dict)."""
    import keras

    keras.utils.set_random_seed(0)
    model = build(splits, cfg)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(splits.x_train, splits.y_train, epochs=epochs, batch_size=32, verbose=0)
    acc = float(np.mean(np.argmax(model.predict(splits.x_test, verbose=0), 1) == splits.y_test))
    metrics = {
        "app": "tiny", "model": "cnn", "task": "classification", "test": {"accuracy": acc},
        "dataset": {"name": "tiny_stripes", "fingerprint": "sha256:test"},
    }  # fmt: skip
    return model, metrics
