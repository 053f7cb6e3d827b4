import numpy as np
import pytest

from tfdl.config import TrainConfig
from tfdl.training import precision


def test_auto_policy_records_reason(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert precision.choose_policy("auto")[0] == "mixed_bfloat16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2"})
    name, why = precision.choose_policy("auto")
    assert name == "float32" and "no GPU" in why
    assert "mixed_bfloat16" in why and "1.5x" in why and "measured on" in why  # what bf16 gave, and where
    assert precision.choose_policy("mixed_float16") == ("mixed_float16", "set explicitly in train.precision")


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd", "rmsprop", "adagrad", "lion", "adafactor"])
def test_every_optimizer_trains(name):
    import keras

    from tfdl.models import build_mlp
    from tfdl.training.optimizers import build_optimizer

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    cfg = TrainConfig(optimizer=name, epochs=3, learning_rate=0.01, warmup_epochs=0.5)
    model = build_mlp((4,), 2, units=(16,), dropout=0.0)
    model.compile(optimizer=build_optimizer(cfg, steps_per_epoch=4), loss="sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_cosine_warmup_schedule_shape():
    from tfdl.training.optimizers import build_schedule

    sched = build_schedule(TrainConfig(epochs=10, learning_rate=0.1, warmup_epochs=1), steps_per_epoch=10)
    lrs = [float(sched(s)) for s in (0, 5, 10, 55, 99)]
    assert lrs[0] == pytest.approx(0.0) and lrs[1] == pytest.approx(0.05, rel=1e-3)
    assert lrs[2] == pytest.approx(0.1, rel=1e-3) and lrs[2] > lrs[3] > lrs[4] >= 0


def test_progress_bar_on_a_terminal_one_line_per_epoch_otherwise(monkeypatch):
    import io
    import sys

    from tfdl.pipeline import fit_verbosity

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Tty())
    assert fit_verbosity() == 1
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert fit_verbosity() == 2
