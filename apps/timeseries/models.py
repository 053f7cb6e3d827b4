"""Time series: the five builders. Each body's output plus a linear skip over the whole standardized window
(LSTNet's autoregressive part), which starts at the linear forecaster with the lowest validation MAE."""

from __future__ import annotations

import numpy as np

from tfdl.app import hooks
from tfdl.config import RunConfig
from tfdl.data.splits import Splits


def _io(splits: Splits):
    """Raw-window input, input standardization and output de-standardization (all in float32)."""
    import keras

    pre = splits.info.preprocessing
    inputs = keras.Input(splits.info.input_shape, dtype="float32", name="window")
    norm = keras.layers.Normalization(
        axis=-1, mean=pre["feature_mean"], variance=np.square(pre["feature_std"]).tolist(),
        dtype="float32", name="standardize",
    )  # fmt: skip
    # Outputs in the target's units, so the pipeline, the baselines and a served answer all agree.
    denorm = keras.layers.Rescaling(splits.info.extra["target_std"], splits.info.extra["target_mean"],
                                    dtype="float32", name="to_target_units")  # fmt: skip
    return inputs, norm, denorm


def _centred(norm):
    """The body's input transform with ``model.center=true``: standardized, then the window's own level
    removed (see WindowCenter). Off by default: on the generalization suite's five series it had the lower
    validation loss on two (BENCHMARKS.md)."""
    from tfdl.models.layers import WindowCenter

    center = WindowCenter(dtype="float32", name="window_center")
    return lambda t: center(norm(t))


def _wrap(body, norm, denorm, name: str, linear_skip: bool, splits: Splits | None = None):
    """Body output (+ a linear map of the whole standardized window), then back to target units.

    The linear skip is LSTNet's autoregressive component (Lai et al., 2018): the network only has to
    learn what a linear model on the same window (the ridge baseline) misses. With ``splits`` the skip
    starts at the best linear forecaster on the VALIDATION windows among ridge on the training windows and
    the seasonal naive forecasts the window reaches (:func:`linear_starts`), and the body's output layer
    at zero, so training starts from that forecast. A frozen copy of that start sits beside the network
    (``linear_start``), mixed in by ``forecaster_mix`` (:class:`tfdl.models.layers.InferenceMix`: the
    network alone in training and until :func:`choose_forecaster` sets the weight after training).
    """
    import keras

    from tfdl.models.layers import InferenceMix

    out = body.outputs[0]
    start = None
    if linear_skip:
        flat = keras.layers.Flatten(name="skip_flatten")(norm(body.inputs[0]))
        skip_layer = keras.layers.Dense(out.shape[-1], dtype="float32", name="linear_skip")
        skip = skip_layer(flat)
        out = keras.layers.Add(dtype="float32", name="add_skip")([out, skip])
        if splits is not None:
            start, (kernel, bias), _ = best_start(splits)
            skip_layer.set_weights([kernel, bias])
            head = next(lay for lay in reversed(body.layers) if getattr(lay, "kernel", None) is not None)
            head.set_weights([np.zeros(w.shape, w.dtype) for w in head.get_weights()])
            frozen = keras.layers.Dense(out.shape[-1], dtype="float32", trainable=False, name="linear_start")
            fixed = frozen(flat)
            frozen.set_weights([kernel, bias])
            out = InferenceMix(name="forecaster_mix")([out, fixed])
    model = keras.Model(body.inputs, denorm(out), name=name)
    model.start_name = start
    return model


CANDIDATES = {"network": 1.0, "mean": 0.5, "start": 0.0}  # the mix weight on the network
PREFERENCE = ("start", "mean", "network")  # ties go to the simpler forecaster


def choose_forecaster(model, splits: Splits, cfg: RunConfig | None = None) -> dict:
    """The app's ``fit_state``: the forecaster the run serves, chosen after training on the held-out
    validation windows (the last blocks of validation origins that training and early stopping never saw;
    ``info.extra["choice"]``), never on test.

    Candidates: the trained network, its linear start (frozen) and their mean. The one with the lowest
    MAE over the held-out windows (the mean of its MAE over their horizon-sized blocks of origins) is set
    as the model's mix weight, so the saved, evaluated and exported model is that forecaster; ties go to
    the start, then the mean. Deterministic for a trained model (``tfdl export`` runs it again). Returns
    the model card's record (``preprocessing["forecaster"]``) and the report section; models without a
    linear start return nothing.
    """
    try:
        mix = model.get_layer("forecaster_mix")
    except ValueError:
        return {}
    choice = splits.info.extra.get("choice") or {}
    x, y = choice.get("x"), choice.get("y")
    where = "held-out validation windows"
    if x is None or len(x) == 0:  # too few validation windows to hold any out: the validation windows
        x, y, where = splits.x_val, splits.y_val, "validation windows (none could be held out)"
    horizon = _horizon(splits)
    preds = {}
    for name in ("network", "start"):
        mix.weight.assign(CANDIDATES[name])
        preds[name] = np.asarray(model.predict(x, batch_size=1024, verbose=0), np.float64)
    preds["mean"] = (preds["network"] + preds["start"]) / 2
    err = {k: np.mean(np.abs(p - np.asarray(y, np.float64)), axis=1) for k, p in preds.items()}
    blocks = [b for b in np.array_split(np.arange(len(x)), max(1, -(-len(x) // horizon))) if len(b)]
    block_mae = {k: [float(np.mean(e[b])) for b in blocks] for k, e in err.items()}
    mae = {k: float(np.mean(v)) for k, v in block_mae.items()}
    chosen = min(PREFERENCE, key=lambda k: (round(mae[k], 10), PREFERENCE.index(k)))
    mix.weight.assign(CANDIDATES[chosen])
    scale = splits.info.mase_scale
    record = {
        "chosen": chosen,
        "weight_on_network": CANDIDATES[chosen],
        "start": model.start_name if getattr(model, "start_name", None) else _start_name(splits),
        "rule": f"lowest mean MAE over {len(blocks)} horizon-sized blocks of {where} ({len(x)} windows); "
        "ties: start, then mean",
        "windows": int(len(x)),
        "mae": {k: round(v, 6) for k, v in mae.items()},
        "block_mae": {k: [round(v, 6) for v in vals] for k, vals in block_mae.items()},
        **({"mase": {k: round(v / scale, 4) for k, v in mae.items()}} if scale else {}),
    }
    words = {"network": "the trained network", "start": f"its linear start ({record['start']})",
             "mean": "the mean of the network and its linear start"}  # fmt: skip
    text = (
        f"Served forecaster: **{words[chosen]}**, the lowest MAE on the {where} ({len(x)} windows in "
        f"{len(blocks)} blocks of {horizon} origins, after the windows early stopping used): "
        + ", ".join(f"{k} {v:.4g}" for k, v in mae.items())
        + ". Per block: "
        + "; ".join(f"{k} " + ", ".join(f"{v:.4g}" for v in vals) for k, vals in block_mae.items())
        + ". The test part plays no role in this choice."
    )
    pre = dict(splits.info.preprocessing or {})
    return {"preprocessing": {**pre, "forecaster": record}, "report_sections": [("Forecaster choice", text)]}


def _start_name(splits: Splits) -> str:
    return best_start(splits)[0]


def linear_starts(splits: Splits) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Linear forecasters of the standardized window, as the skip's (kernel, bias): ``ridge`` on the
    training windows, and ``seasonal_naive_<season>`` for every season the window reaches back (the
    target is feature 0 and shares its scaling, so "the value one season back" is a one-hot kernel)."""
    lookback, n_features = splits.info.input_shape
    horizon = _horizon(splits)
    out = {"ridge": _ridge_init(splits)}
    for season, lag in splits.info.extra["seasons"].items():
        if lag > lookback:
            continue
        kernel = np.zeros((lookback * n_features, horizon), np.float32)
        for h in range(horizon):
            t = lookback + h - lag * (h // lag + 1)  # as ts.seasonal_naive_forecast
            kernel[t * n_features, h] = 1.0
        out[f"seasonal_naive_{season}"] = (kernel, np.zeros(horizon, np.float32))
    return out


def best_start(splits: Splits) -> tuple[str, tuple[np.ndarray, np.ndarray], dict[str, float]]:
    """(name, (kernel, bias), validation MAE of every start): the linear start with the lowest MAE on the
    validation windows (ties: ridge). Never looks at test."""
    e, pre = splits.info.extra, splits.info.preprocessing
    mean, std = np.asarray(pre["feature_mean"]), np.asarray(pre["feature_std"])
    x = ((np.asarray(splits.x_val, np.float64) - mean) / std).reshape(len(splits.x_val), -1)
    y = np.asarray(splits.y_val, np.float64)
    starts = linear_starts(splits)
    mae = {}
    for name, (kernel, bias) in starts.items():
        pred = (x @ kernel.astype(np.float64) + bias) * e["target_std"] + e["target_mean"]
        mae[name] = float(np.mean(np.abs(pred - y)))
    name = min(mae, key=lambda k: (mae[k], k != "ridge"))
    return name, starts[name], mae


def _ridge_init(splits: Splits, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on the training windows in the model's own scaling (features standardized by the training-part
    statistics, target standardized): the linear skip's (kernel, bias)."""
    from sklearn.linear_model import Ridge

    e = splits.info.extra
    pre = splits.info.preprocessing
    mean, std = np.asarray(pre["feature_mean"]), np.asarray(pre["feature_std"])
    x = ((np.asarray(splits.x_train, np.float64) - mean) / std).reshape(len(splits.x_train), -1)
    y = (np.asarray(splits.y_train, np.float64) - e["target_mean"]) / e["target_std"]
    fit = Ridge(alpha=alpha).fit(x, y)
    return fit.coef_.T.astype(np.float32), np.asarray(fit.intercept_, np.float32).reshape(-1)


def _horizon(splits: Splits) -> int:
    return int(splits.y_train.shape[1])


@hooks(search_space="rnn")
def build_lstm(splits: Splits, cfg: RunConfig, *, units=(64,), dropout=0.0, dense_units=0, unroll=False,
               linear_skip=True, center=False):  # fmt: skip
    return _rnn(splits, "lstm", units, dropout, dense_units, unroll, linear_skip, center)


@hooks(search_space="rnn")
def build_gru(splits: Splits, cfg: RunConfig, *, units=(64,), dropout=0.0, dense_units=0, unroll=False,
              linear_skip=True, center=False):  # fmt: skip
    return _rnn(splits, "gru", units, dropout, dense_units, unroll, linear_skip, center)


@hooks(search_space="rnn")
def build_rnn_cell(splits: Splits, cfg: RunConfig, *, cell="lstm", bidirectional=False, units=(64,),
                   dropout=0.0, dense_units=0, unroll=False, linear_skip=True, center=False):  # fmt: skip
    """``rnn``: the recurrent forecaster with its cell as a key (``simple`` | ``lstm`` | ``gru``) and
    ``bidirectional``, as the text app's ``rnn`` (the recurrent study compares them on the forecast)."""
    return _rnn(splits, cell, units, dropout, dense_units, unroll, linear_skip, center, bidirectional)


def _rnn(splits, cell, units, dropout, dense_units, unroll, linear_skip, center, bidirectional=False):
    from tfdl.models import build_rnn

    inputs, norm, denorm = _io(splits)
    body = build_rnn(None, _horizon(splits), cell=cell, units=tuple(units), dropout=dropout,
                     bidirectional=bool(bidirectional), dense_units=dense_units, unroll=unroll,
                     output_activation=None, inputs=inputs, preprocess=_centred(norm) if center else norm,
                     name=f"{cell}_body")  # fmt: skip
    return _wrap(body, norm, denorm, cell, linear_skip, splits)


@hooks(search_space="cnn")
def build_tcn(splits: Splits, cfg: RunConfig, *, filters=32, kernel_size=3, dilations=(1, 2, 4, 8, 16),
              dropout=0.1, units=(128,), linear_skip=True, center=False):  # fmt: skip
    """Dilated causal Conv1D stack with residuals (Bai et al., 2018, "TCN"), then a dense head."""
    import keras

    from tfdl.models import build_mlp

    inputs, norm, denorm = _io(splits)
    first = _centred(norm) if center else norm

    def trunk(t):
        x = keras.layers.Conv1D(filters, 1, name="tcn_in")(first(t))
        for i, rate in enumerate(dilations, start=1):
            y = keras.layers.Conv1D(filters, kernel_size, padding="causal", dilation_rate=rate,
                                    activation="relu", name=f"tcn{i}_conv")(x)  # fmt: skip
            if dropout:
                y = keras.layers.SpatialDropout1D(dropout, name=f"tcn{i}_drop")(y)
            x = keras.layers.Add(name=f"tcn{i}_res")([x, y])
        return x

    body = build_mlp(None, _horizon(splits), units=tuple(units), dropout=0.0, output_activation=None,
                     inputs=inputs, preprocess=trunk, name="tcn_body")  # fmt: skip
    return _wrap(body, norm, denorm, "cnn", linear_skip, splits)


@hooks(search_space="transformer")
def build_transformer(splits: Splits, cfg: RunConfig, *, embed_dim=32, num_heads=4, num_layers=2, ff_dim=64,
                      dropout=0.1, pooling="avg", linear_skip=True, center=False):  # fmt: skip
    from tfdl.models import build_transformer as factory

    inputs, norm, denorm = _io(splits)
    body = factory(None, _horizon(splits), embed_dim=embed_dim, num_heads=num_heads, num_layers=num_layers,
                   ff_dim=ff_dim, dropout=dropout, pooling=pooling, output_activation=None, inputs=inputs,
                   preprocess=_centred(norm) if center else norm, name="transformer_body")  # fmt: skip
    return _wrap(body, norm, denorm, "transformer", linear_skip, splits)


@hooks(search_space="mlp")
def build_mlp(
    splits: Splits, cfg: RunConfig, *, units=(256, 128), dropout=0.1, linear_skip=True, center=False
):
    from tfdl.models import build_mlp as factory

    inputs, norm, denorm = _io(splits)
    body = factory(None, _horizon(splits), units=tuple(units), dropout=dropout, output_activation=None,
                   inputs=inputs, preprocess=_centred(norm) if center else norm, name="mlp_body")  # fmt: skip
    return _wrap(body, norm, denorm, "mlp", linear_skip, splits)
