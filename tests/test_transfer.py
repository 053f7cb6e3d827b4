"""Transfer learning: freezing rules per finetune mode, discriminative LRs, gradual unfreezing, CLI."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tfdl import transfer as T  # noqa: E402
from tfdl.config import TrainConfig  # noqa: E402
from tfdl.errors import TfdlError  # noqa: E402
from tfdl.models import build_cnn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved_cnn(tmp_path_factory) -> Path:
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1), dtype="uint8")
    rescale = lambda t: keras.layers.Rescaling(1 / 255)(t)  # noqa: E731
    model = build_cnn(None, 3, filters=(4, 8), dense_units=8, inputs=inp, preprocess=rescale)
    path = tmp_path_factory.mktemp("base") / "model.keras"
    model.save(path)
    return path


def _trainable(base):
    return {layer.name: layer.trainable for layer in base.layers if layer.weights}


def test_base_is_cut_between_preprocessing_and_classifier(saved_cnn):
    base, convention = T.load_base(str(saved_cnn))
    assert convention == "unit" and base.name == "base"
    assert base.layers[1].name == "block1_conv1" and base.output.shape[1:] == (8,)  # fc_act, no dropout
    assert [[layer.name for layer in g][:1] for g in T.layer_groups(base)] == [
        ["block1_conv1"],
        ["block2_conv1"],
        ["fc"],
    ]


@pytest.mark.parametrize(
    "mode, trainable_stages",
    [("feature_extraction", []), ("partial", ["block2", "fc"]), ("full", ["block1", "block2", "fc"])],
)
def test_freezing_rules(saved_cnn, mode, trainable_stages):
    base, _ = T.load_base(str(saved_cnn))
    model = T.build_transfer_model(base, (16, 16, 3), 2, finetune=mode)
    flags = _trainable(base)
    for name, trainable in flags.items():
        assert trainable == any(name.startswith(s) for s in trainable_stages), (mode, name)
    # head always trains; the model's trainable weights are exactly head + unfrozen base layers
    head = {v.path for v in model.get_layer("predictions").trainable_weights}
    unfrozen = {
        v.path for layer in base.layers if layer.trainable and layer.weights for v in layer.trainable_weights
    }
    assert {v.path for v in model.trainable_weights} == head | unfrozen
    # colour + size adaptation inside the model: RGB 16x16 in, the base's 20x20x1 out
    assert model.get_layer("rgb_to_gray").trainable is False and model.get_layer("resize") is not None
    assert model.predict(np.zeros((2, 16, 16, 3), np.uint8), verbose=0).shape == (2, 2)


def test_gradual_unfreezing_and_discriminative_rates(saved_cnn):
    base, _ = T.load_base(str(saved_cnn))
    model = T.build_transfer_model(base, (20, 20, 1), 2, finetune="gradual")
    cfg = TrainConfig(epochs=4, learning_rate=1e-2, schedule="constant")
    factory = lambda m: T.discriminative_optimizer(m, cfg, 2, 0.01)  # noqa: E731
    opt = factory(model)
    rates = sorted(float(o.learning_rate.numpy()) for o in opt.optimizers)
    # stage i of 3 at lr * 0.01 ** ((3 - i) / 3), bottom stage smallest; the head at lr
    np.testing.assert_allclose(rates, [1e-4, 1e-2 * 0.01 ** (2 / 3), 1e-2 * 0.01 ** (1 / 3), 1e-2], rtol=1e-5)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    first = base.get_layer("block1_conv1")
    w0 = first.kernel.numpy().copy()
    cb = T.GradualUnfreezing(1, factory)
    x = np.random.default_rng(0).integers(0, 256, (32, 20, 20, 1), dtype=np.uint8)
    model.fit(x, np.arange(32) % 2, epochs=3, batch_size=16, callbacks=[cb], verbose=0)
    assert cb.log == [(0, 0), (1, 1), (2, 2)]
    assert _trainable(base)["block1_conv1"] is False and _trainable(base)["block2_conv1"] is True
    np.testing.assert_array_equal(first.kernel.numpy(), w0)  # still frozen after 3 epochs
    model.fit(x, np.arange(32) % 2, epochs=4, initial_epoch=3, batch_size=16, callbacks=[cb], verbose=0)
    assert all(_trainable(base).values()) and not np.allclose(first.kernel.numpy(), w0)


def test_bad_base_names_are_user_errors(tmp_path):
    with pytest.raises(TfdlError, match="MobileNetV2"):
        T.load_base("vgg99")
    with pytest.raises(TfdlError, match="not found"):
        T.load_base(str(tmp_path / "missing.keras"))


def test_offline_imagenet_base_is_one_line_exit_2(image_folder, tmp_path):
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras_home"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [
        sys.executable,
        "-m",
        "tfdl.cli",
        "train",
        "vision",
        "--data",
        str(image_folder),
        "--epochs",
        "1",
        "--set",
        "model.base=MobileNetV2",
        "--set",
        "data.image_size=20",
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300
    )
    if proc.returncode == 0:
        pytest.skip("this machine is online: the ImageNet weights downloaded")
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = [line for line in proc.stderr.splitlines() if "ImageNet" in line]
    assert len(err) == 1 and "model.base=runs/vision/" in err[0] and "Traceback" not in proc.stderr
