"""train.min_steps (a floor on optimizer steps) and train.bn_momentum (issue 14)."""

import keras
import numpy as np
import pytest

from tfdl.config import TrainConfig
from tfdl.training.budget import auto_bn_momentum, batchnorm_layers, set_bn_momentum, steps_per_epoch


def test_steps_per_epoch_floor():
    assert steps_per_epoch(1400, 128, 10) == 11  # one pass
    assert steps_per_epoch(1400, 128, 10, min_steps=400) == 40  # lengthened: 10 x 40 >= 400
    assert steps_per_epoch(51_000, 128, 10, min_steps=400) == 399  # large data: unchanged


def test_auto_bn_momentum_follows_steps():
    assert auto_bn_momentum(399) == pytest.approx(0.99)  # Fashion-MNIST: Keras' default kept
    m = auto_bn_momentum(11)
    assert m < 0.8 and m**11 <= 0.05 + 1e-9  # initial statistics weigh <= 5% after one epoch
    assert auto_bn_momentum(1) == 0.5


def test_set_bn_momentum_reaches_nested_models():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    x = keras.Input((4,))
    out = keras.layers.BatchNormalization()(inner(x))
    model = keras.Model(x, out)
    assert len(batchnorm_layers(model)) == 2
    assert set_bn_momentum(model, "auto", 11) == pytest.approx(auto_bn_momentum(11))
    assert all(bn.momentum == pytest.approx(auto_bn_momentum(11)) for bn in batchnorm_layers(model))
    assert set_bn_momentum(model, 0.9, 11) == 0.9
    assert set_bn_momentum(model, "keep", 11) is None
    assert set_bn_momentum(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), "auto", 5) is None


def test_bn_momentum_config_values():
    assert TrainConfig(bn_momentum=0.95).bn_momentum == 0.95
    for bad in (1.5, "fast"):
        with pytest.raises(ValueError, match="bn_momentum must be auto, keep or a number"):
            TrainConfig(bn_momentum=bad)


def test_min_steps_is_honoured_by_a_run(image_folder, workdir):
    """A 3-epoch run on 84 images at batch 16 (6 steps per pass) with min_steps=60 takes 3 x 20 steps."""
    from tfdl.app import get_app
    from tfdl.pipeline import resolve_config, train

    app = get_app("vision")
    cfg = resolve_config(
        app,
        overrides=[
            f"data.path={image_folder}",
            "train.epochs=3",
            "train.batch_size=16",
            "train.min_steps=60",
            "model.name=cnn",
            "model.filters=[4]",
            "model.dense_units=8",
        ],
    )
    res = train(app, cfg, export=False, log=lambda *a: None)
    assert res.metrics["steps_per_epoch"] == 20 and res.metrics["optimizer_steps"] == 60
    assert int(np.asarray(res.model.optimizer.iterations)) == 60  # what the optimizer really did
    assert res.splits.x_train.shape[1:] == (20, 20, 1)  # the folder's own size, no data.image_size
    assert res.metrics["bn_momentum"] == pytest.approx(auto_bn_momentum(20))
