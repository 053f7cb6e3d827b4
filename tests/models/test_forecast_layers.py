"""The time-series forecaster's fixed layers: the seasonal profile finds each window's phase and forecasts
as MSTL + exponential smoothing would (checked against a NumPy reference), survives save/load and TFLite;
the forecast mix serves the network alone in training and its weights at inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfdl.evaluation.forecast_baselines import _ses_levels


def _model(period: int, lookback: int, horizon: int, profile: np.ndarray, alpha: float):
    import keras

    from tfdl.models.forecast_layers import SeasonalProfile

    keras.mixed_precision.set_global_policy("float32")
    inputs = keras.Input((lookback, 2), dtype="float32")
    layer = SeasonalProfile(period, lookback, horizon, alpha=alpha, name="seasonal_profile")
    model = keras.Model(inputs, layer(inputs))
    layer.profile.assign(profile.astype(np.float32))
    return model


def _series(period: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    profile = rng.normal(0, 10, period)  # jagged: any wrong shift fits worse
    profile -= profile.mean()
    level = 200 + np.cumsum(rng.normal(0, 0.3, n))  # a wandering level the smoothing must follow
    return profile, level + np.tile(profile, n // period + 1)[:n] + rng.normal(0, 0.2, n)


def test_seasonal_profile_finds_the_phase_and_matches_the_reference_forecast():
    period, lookback, horizon, alpha = 12, 30, 7, 0.3
    profile, y = _series(period, 400)
    origins = np.arange(lookback, 400 - horizon, 5)
    x = np.stack([y[o - lookback : o] for o in origins])
    x = np.stack([x, np.ones_like(x)], axis=-1)  # a covariate the layer must ignore
    model = _model(period, lookback, horizon, profile, alpha)
    layer = model.get_layer("seasonal_profile")
    phase = np.asarray(layer.phase(x[:, :, 0].astype(np.float32)))
    np.testing.assert_array_equal(phase, (origins - lookback) % period)  # every window, exactly

    w = np.asarray(layer.level_weights())
    assert (
        w.shape == (lookback,) and w.sum() == pytest.approx(1.0, abs=1e-5) and w[-1] == pytest.approx(alpha)
    )
    expected = []
    for (
        o
    ) in origins:  # the reference: deseasonalize with the true phase, SES over the window, add the profile
        seasonal = profile[np.arange(o - lookback, o) % period]
        level = _ses_levels(y[o - lookback : o] - seasonal, alpha)[-1]
        expected.append(level + profile[np.arange(o, o + horizon) % period])
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-3)
    truth = np.stack([y[o : o + horizon] for o in origins])
    assert np.mean(np.abs(got - truth)) < 1.0  # the profile's amplitude is ~10: it forecasts the season


def test_seasonal_profile_and_mix_survive_save_load_and_convert_to_tflite(tmp_path: Path):
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    import tfdl.models  # noqa: F401 (registers the layers for load_model)
    from tfdl.models.forecast_layers import ForecastMix

    period, lookback, horizon = 7, 21, 5
    profile, y = _series(period, 200, seed=1)
    x = np.stack([np.stack([y[o - lookback : o], np.zeros(lookback)], -1) for o in range(lookback, 150)])
    model = _model(period, lookback, horizon, profile, 0.2)
    other = keras.layers.Dense(horizon, name="other")(keras.layers.Flatten()(model.inputs[0]))
    mix = ForecastMix(members=2, name="forecaster_mix")
    out = keras.Model(model.inputs, mix([other, model.outputs[0]]))
    mix.mix_weights.assign([0.25, 0.75])
    xs = x.astype(np.float32)
    first = keras.Model(out.inputs, out.get_layer("other").output)
    want = 0.25 * first.predict(xs, verbose=0) + 0.75 * model.predict(xs, verbose=0)
    np.testing.assert_allclose(out.predict(xs, verbose=0), want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(mix([xs[:, :5, 0], xs[:, 5:10, 0]], training=True)), xs[:, :5, 0])

    path = tmp_path / "m.keras"
    out.save(path)
    back = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(back.predict(xs, verbose=0), want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(back.get_layer("forecaster_mix").mix_weights.numpy(), [0.25, 0.75])

    conv = tf.lite.TFLiteConverter.from_keras_model(back)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interp = Interpreter(model_content=conv.convert())
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], (3, lookback, 2))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], xs[:3])
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, want[:3], rtol=1e-4, atol=1e-3)


def test_seasonal_profile_rejects_a_period_the_window_cannot_hold():
    from tfdl.models.forecast_layers import SeasonalProfile

    with pytest.raises(ValueError, match="period must be in"):
        SeasonalProfile(48, 24, 6)
