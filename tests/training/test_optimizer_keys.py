"""train.optimizer / momentum / nesterov / weight_decay, model.l2 and train.log_gradients (issue 16)."""

import numpy as np
import pytest

from tfdl.config import RunConfig, TrainConfig, build_config
from tfdl.errors import TfdlError


def _opt(**kw):
    from tfdl.training.optimizers import build_optimizer

    return build_optimizer(TrainConfig(schedule="constant", **kw), steps_per_epoch=4)


def test_sgd_is_plain_unless_momentum_is_asked():
    plain = _opt(optimizer="sgd")
    assert plain.momentum == 0.0 and plain.nesterov is False
    heavy = _opt(optimizer="sgd", momentum=0.9, nesterov=True)
    assert heavy.momentum == pytest.approx(0.9) and heavy.nesterov is True
    assert _opt(optimizer="rmsprop", momentum=0.5).momentum == pytest.approx(0.5)
    assert type(_opt(optimizer="adagrad")).__name__ == "Adagrad"


def test_momentum_and_nesterov_errors_are_one_line():
    with pytest.raises(TfdlError, match="train.momentum applies to sgd and rmsprop"):
        build_config(RunConfig, {}, ["train.optimizer=adam", "train.momentum=0.9"])
    with pytest.raises(TfdlError, match="train.nesterov needs"):
        build_config(RunConfig, {}, ["train.optimizer=sgd", "train.nesterov=true"])


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd", "rmsprop", "adagrad", "lion", "adafactor"])
def test_weight_decay_reaches_every_optimizer(name):
    assert _opt(optimizer=name, weight_decay=0.01).weight_decay == pytest.approx(0.01)


def test_weight_decay_defaults_by_optimizer():
    assert _opt(optimizer="adamw").weight_decay == pytest.approx(1e-4)
    assert _opt(optimizer="lion").weight_decay == pytest.approx(1e-4)
    assert _opt(optimizer="adam").weight_decay is None
    assert _opt(optimizer="adamw", weight_decay=0).weight_decay == 0  # not AdamW's own 0.004
    assert _opt(optimizer="adam", weight_decay=0).weight_decay is None


def test_weight_decay_on_an_optimizer_without_it_is_a_one_line_error(monkeypatch):
    from tfdl.training import optimizers

    class NoDecay:  # an optimizer class whose constructor has no weight_decay
        def __init__(self, learning_rate=0.01):
            self.learning_rate = learning_rate

    monkeypatch.setattr(optimizers, "optimizer_class", lambda name: NoDecay)
    assert isinstance(_opt(optimizer="adam"), NoDecay)  # no decay asked: fine
    with pytest.raises(TfdlError, match="has no weight decay; remove train.weight_decay"):
        _opt(optimizer="adam", weight_decay=0.01)


def test_weight_decay_shrinks_weights_without_a_loss_gradient():
    import keras

    for name in ("adam", "sgd", "rmsprop"):
        v = keras.Variable(np.ones((3,), "float32"))
        opt = _opt(optimizer=name, weight_decay=0.1, learning_rate=0.1)
        opt.apply_gradients([(np.zeros((3,), "float32"), v)])
        assert float(v.numpy()[0]) == pytest.approx(1 - 0.1 * 0.1, rel=1e-4), name


def test_l2_is_a_loss_term_on_every_kernel():
    from tfdl.models import build_cnn, build_mlp

    plain = build_mlp((4,), 2, units=(8, 8))
    assert not plain.losses
    reg = build_mlp((4,), 2, units=(8, 8), l2=0.01)
    kernels = [layer.kernel for layer in reg.layers if hasattr(layer, "kernel")]
    assert len(reg.losses) == len(kernels) == 3
    expected = 0.01 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert float(sum(reg.losses)) == pytest.approx(expected, rel=1e-5)
    cnn = build_cnn((8, 8, 1), 3, filters=(4,), dense_units=8, l2=0.001)
    assert len(cnn.losses) == 4  # 2 convolutions, fc, head
    from tfdl.models import build_resnet, build_rnn

    res = build_resnet((8, 8, 1), 3, filters=(4, 8), l2=0.001)
    convs = [layer for layer in res.layers if hasattr(layer, "kernel")]
    assert len(res.losses) == len(convs) == 7  # stem, 2 per block x 2, stage-2 transition, head
    assert not build_resnet((8, 8, 1), 3, filters=(4, 8)).losses
    rnn = build_rnn((5, 2), 2, units=(4,), dense_units=3, l2=0.001)
    assert len(rnn.losses) == 4  # the cell's kernel and recurrent kernel, fc, head
    with pytest.raises(ValueError, match="`l2` must be a float >= 0"):
        build_mlp((4,), 2, l2=-1.0)


def test_layer_norm_in_the_mlp():
    from tfdl.models import build_mlp

    model = build_mlp((4,), 2, units=(8,), layer_norm=True)
    assert any(type(layer).__name__ == "LayerNormalization" for layer in model.layers)


def test_gradient_norms_per_layer_over_the_first_steps(tmp_path):
    import keras

    from tfdl.models import build_mlp
    from tfdl.training.gradients import GradientNorms

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = build_mlp((6,), 2, units=(16, 16, 16), activation="sigmoid", batch_norm=True, dropout=0.0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    bn_before = [v.numpy().copy() for v in model.non_trainable_variables]
    cb = GradientNorms(x[:32], y[:32], steps=5, log_dir=tmp_path / "tb")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb], shuffle=False)
    assert list(cb.norms) == ["dense1", "dense2", "dense3", "predictions"]
    assert all(len(v) == 5 and all(n > 0 for n in v) for v in cb.norms.values())
    # a sigmoid stack: the first layer's gradient is smaller than the last hidden layer's
    s = cb.summary()
    assert s["dense1"]["first"] < s["dense3"]["first"]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    # the probe passes left the BatchNorm statistics to training alone: a plain fit ends where the logged did
    keras.utils.set_random_seed(0)
    twin = build_mlp((6,), 2, units=(16, 16, 16), activation="sigmoid", batch_norm=True, dropout=0.0)
    twin.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert all(np.allclose(a, b.numpy()) for a, b in zip(bn_before, twin.non_trainable_variables))
    twin.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.non_trainable_variables, twin.non_trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_train_records_parameters_and_gradient_norms(image_folder, workdir):
    import json

    from tfdl.cli import main

    sets = ["train.log_gradients=true", "train.gradient_steps=2", "model.l2=0.001", "train.optimizer=sgd",
            "train.momentum=0.9"]  # fmt: skip
    args = ["train", "vision", "--data", str(image_folder), "--model", "mlp", "--epochs", "1", "--no-export"]
    rc = main([*args, *(a for s in sets for a in ("--set", s))])
    assert rc == 0
    run = next((workdir / "runs" / "vision").iterdir())
    m = json.loads((run / "metrics.json").read_text())
    assert m["parameters"] == 20 * 20 * 256 + 256 + 256 * 128 + 128 + 128 * 3 + 3
    assert list(m["gradient_norms"]) == ["dense1", "dense2", "predictions"]
    assert all(len(g["per_step"]) == 2 and g["first"] > 0 for g in m["gradient_norms"].values())
    assert f"| parameters | {m['parameters']:,} |" in (run / "report.md").read_text()
    assert list((run / "tensorboard" / "gradients").glob("events.out.tfevents.*"))


def test_ema_is_a_config_key_with_one_line_errors():
    opt = _opt(ema=0.99)
    assert opt.use_ema is True and opt.ema_momentum == pytest.approx(0.99)
    assert _opt().use_ema is False
    with pytest.raises(TfdlError, match="train.ema"):
        build_config(RunConfig, {}, ["train.ema=1.0"])
    with pytest.raises(TfdlError, match="train.ema needs Keras' fit loop"):
        build_config(RunConfig, {}, ["train.ema=0.9", "train.distribution=multi_worker"])


def _ema_fit(tmp_path, ema, patience):
    import keras

    from tfdl.training.callbacks import standard_callbacks

    tmp_path.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(256, 1))).astype("float32")
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=_opt(ema=ema, learning_rate=0.01), loss="mse")
    start = [w.copy() for w in model.get_weights()]
    cbs, _ = standard_callbacks(tmp_path, early_stopping_patience=patience, tensorboard=False, ema=ema)
    hist = model.fit(x[:192], y[:192], validation_data=(x[192:], y[192:]), epochs=6, batch_size=16,
                     callbacks=cbs, verbose=0)  # fmt: skip
    return model, start, hist, (x[192:], y[192:])


@pytest.mark.parametrize("patience", [0, 3])
def test_ema_weights_are_what_validation_saw_and_what_the_run_keeps(tmp_path, patience):
    # A momentum this close to 1 keeps the average at the initial weights over 72 steps: the final model
    # (and every validation pass) must be that average, while the raw weights moved.
    model, start, hist, (xv, yv) = _ema_fit(tmp_path / "a", 0.99999, patience)
    assert max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), start, strict=True)) < 0.05
    val = hist.history["val_loss"]
    assert max(val) - min(val) < 1e-2 * max(val)  # validation scored the (nearly fixed) average every epoch
    kept = min(val) if patience else val[-1]
    assert float(model.evaluate(xv, yv, verbose=0)) == pytest.approx(kept, rel=1e-4)
    raw, start, _, _ = _ema_fit(tmp_path / "b", None, patience)
    assert max(float(np.abs(a - b).max()) for a, b in zip(raw.get_weights(), start, strict=True)) > 0.3


def test_a_killed_ema_run_resumes_to_the_same_average(tmp_path):
    """BackupAndRestore saves the raw weights and the optimizer's average: an interrupted run, run again,
    ends with the weights of the run that was never interrupted (a lost average would restart from the raw
    weights and end elsewhere)."""
    import keras

    from tfdl.training.callbacks import standard_callbacks

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    def run(folder, kill):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(optimizer=_opt(ema=0.9, learning_rate=0.01), loss="mse")
        cbs, _ = standard_callbacks(folder, early_stopping_patience=0, tensorboard=False, ema=0.9)
        try:
            model.fit(x[:96], y[:96], validation_data=(x[96:], y[96:]), epochs=5, batch_size=16, verbose=0,
                      shuffle=False, callbacks=[*cbs, Kill()] if kill else cbs)  # fmt: skip
        except KeyboardInterrupt:
            return None
        return model.get_weights()

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    whole = run(tmp_path / "a", kill=False)
    assert run(tmp_path / "b", kill=True) is None and (tmp_path / "b" / "backup").is_dir()
    resumed = run(tmp_path / "b", kill=False)
    assert all(np.allclose(p, q, atol=1e-6) for p, q in zip(whole, resumed, strict=True))
