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
    at zero, so training starts from that forecast. Fixed forecasters sit beside the network, mixed in by
    ``forecaster_mix`` (:class:`tfdl.models.forecast_layers.ForecastMix`: the network alone in training and
    until :func:`choose_forecaster` sets the weights after training): a frozen copy of that start
    (``linear_start``) and, when the series has a season the window holds, the seasonal-profile forecaster
    (``seasonal_profile``: MSTL + exponential smoothing inside the graph, :func:`seasonal_member`).
    """
    import keras

    from tfdl.models.forecast_layers import ForecastMix, SeasonalProfile

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
            members = [out, frozen(flat)]
            frozen.set_weights([kernel, bias])
            seasonal = seasonal_member(splits)
            if seasonal is not None:
                e = splits.info.extra
                layer = SeasonalProfile(seasonal["period"], seasonal["lookback"], _horizon(splits),
                                        alpha=seasonal["alpha"], name="seasonal_profile")  # fmt: skip
                scaled = keras.layers.Rescaling(1.0 / e["target_std"], -e["target_mean"] / e["target_std"],
                                                dtype="float32", name="seasonal_standardize")  # fmt: skip
                members.append(scaled(layer(body.inputs[0])))
                layer.profile.assign(seasonal["profile"])
            out = ForecastMix(members=len(members), name="forecaster_mix")(members)
    model = keras.Model(body.inputs, denorm(out), name=name)
    model.start_name = start
    return model


def seasonal_member(splits: Splits, fit_end: int | None = None) -> dict | None:
    """The seasonal-profile forecaster's constants, or ``None`` when the series has no season that the
    training part holds twice and the window holds once.

    MSTL (:func:`tfdl.evaluation.forecast_baselines.mstl_seasonal`, the ``mstl_ets`` baseline's
    decomposition) on the series before ``fit_end`` (default: the end of the training part) with every
    seasonal lag that divides the longest such lag; the profile is the last period of the summed seasonal
    components. The smoothing weight is the one of ``mstl_ets``'s grid with the lowest MAE on the
    validation windows (the training-part profile; never the test part)."""
    import keras

    from tfdl.evaluation.forecast_baselines import ALPHAS, mstl_seasonal
    from tfdl.models.forecast_layers import SeasonalProfile

    e = splits.info.extra
    lookback = int(splits.info.input_shape[0])
    train_end = int(e["bounds"][0])
    lags = sorted(lag for lag in e["seasons"].values() if 1 < lag <= lookback and 2 * lag <= train_end)
    if not lags or len(splits.x_val) == 0:
        return None
    period = lags[-1]
    periods = [lag for lag in lags if period % lag == 0]
    cache = e.setdefault("_seasonal_member", {})
    series = np.asarray(e["series"], np.float64)

    def profile(end: int) -> np.ndarray:
        if end not in cache:
            cache[end] = mstl_seasonal(series, end, periods)[end - period : end].astype(np.float32)
        return cache[end]

    if "alpha" not in cache:
        inputs = keras.Input((lookback, int(splits.info.input_shape[1])), dtype="float32")
        layer = SeasonalProfile(period, lookback, _horizon(splits))
        probe = keras.Model(inputs, layer(inputs))
        layer.profile.assign(profile(train_end))
        y = np.asarray(splits.y_val, np.float64)
        mae = {}
        for a in ALPHAS:
            layer.alpha.assign(a)
            pred = np.asarray(probe.predict(splits.x_val, batch_size=1024, verbose=0), np.float64)
            mae[a] = float(np.mean(np.abs(pred - y)))
        cache["alpha"] = min(mae, key=mae.get)
        cache["val_mae"] = mae[cache["alpha"]]
    end = train_end if fit_end is None else int(fit_end)
    return {"period": period, "periods": periods, "lookback": lookback, "alpha": cache["alpha"],
            "profile": profile(end), "fit_end": end, "val_mae": cache["val_mae"]}  # fmt: skip


# The forecasters the choice compares: convex weights on the mix's members (network, linear start and, when
# the model has one, the seasonal profile). Equal-weight means only (forecast combination's robust rule).
CANDIDATES = {
    "network": (1.0, 0.0, 0.0),
    "start": (0.0, 1.0, 0.0),
    "mean": (0.5, 0.5, 0.0),  # network and start
    "seasonal": (0.0, 0.0, 1.0),
    "start+seasonal": (0.0, 0.5, 0.5),
    "network+seasonal": (0.5, 0.0, 0.5),
    "all": (1 / 3, 1 / 3, 1 / 3),
}
# ties go to the simpler forecaster: the fixed ones, then the means, the trained network last
PREFERENCE = ("start", "seasonal", "start+seasonal", "mean", "network+seasonal", "all", "network")


def _mix_weights(mix, weights) -> None:
    """Set the forecaster mix (a ``ForecastMix``, or an older model's two-member ``InferenceMix``)."""
    if hasattr(mix, "mix_weights"):
        mix.mix_weights.assign(np.asarray(weights[: mix.members], np.float32))
    else:
        mix.weight.assign(float(weights[0]))


def choice_blocks(n: int, horizon: int) -> list[np.ndarray]:
    """The choice's unit: ``n`` validation windows (time order) cut into horizon-sized blocks of origins."""
    return [b for b in np.array_split(np.arange(n), max(1, -(-n // horizon))) if len(b)]


def lowest(mae: dict[str, float]) -> str:
    """The candidate with the lowest MAE; ties go to the simpler one (:data:`PREFERENCE`)."""
    order = [k for k in PREFERENCE if k in mae]
    return min(order, key=lambda k: (round(mae[k], 10), order.index(k)))


def choose_forecaster(model, splits: Splits, cfg: RunConfig | None = None) -> dict:
    """The app's ``fit_state``: the forecaster the run serves, chosen after training on every validation
    window (those early stopping watched and the last blocks of validation origins that training never saw,
    ``info.extra["choice"]``), never on test.

    Candidates (:data:`CANDIDATES`): the trained network, its linear start (frozen), their mean and, when the
    model has the seasonal-profile member, that forecaster and its equal-weight means with the others. The
    one with the lowest MAE over those windows (the mean of its MAE over their horizon-sized blocks of
    origins) is set as the model's mix weights, so the saved, evaluated and exported model is that
    forecaster; ties go to the simpler one (:data:`PREFERENCE`). The seasonal member is compared with its
    profile fitted on the training part; once chosen, its profile is refitted on everything before the test
    part (training + validation), as the ``mstl_ets`` baseline does for its test forecasts. Deterministic
    for a trained model (``tfdl export`` runs it again). Returns the model card's record
    (``preprocessing["forecaster"]``) and the report section; models without a linear start return nothing.
    """
    try:
        mix = model.get_layer("forecaster_mix")
    except ValueError:
        return {}
    try:
        profile_layer = model.get_layer("seasonal_profile")
    except ValueError:
        profile_layer = None
    seasonal = seasonal_member(splits) if profile_layer is not None else None
    if seasonal is not None:  # compare with the training-part fit (the choice windows are validation's)
        profile_layer.profile.assign(seasonal["profile"])
        profile_layer.alpha.assign(seasonal["alpha"])
    # Every validation window: those early stopping watched and the last blocks held out of training. On
    # the development series the held-out blocks alone chose worse forecasters (BENCHMARKS.md, session 8).
    choice = splits.info.extra.get("choice") or {}
    held_x, held_y = choice.get("x"), choice.get("y")
    x, y, where = splits.x_val, splits.y_val, "validation windows"
    if held_x is not None and len(held_x):
        x, y = np.concatenate([x, held_x]), np.concatenate([y, held_y])
        where = "validation windows (early stopping's and the held-out last blocks)"
    horizon = _horizon(splits)
    members = ["network", "start"] + (["seasonal"] if seasonal is not None else [])
    outs = []
    for k in range(len(members)):
        _mix_weights(mix, [1.0 if i == k else 0.0 for i in range(3)])
        outs.append(np.asarray(model.predict(x, batch_size=1024, verbose=0), np.float64))
    names = [n for n, w in CANDIDATES.items() if not any(w[len(members) :])]
    preds = {n: sum(w * o for w, o in zip(CANDIDATES[n], outs)) for n in names}
    err = {k: np.mean(np.abs(p - np.asarray(y, np.float64)), axis=1) for k, p in preds.items()}
    blocks = choice_blocks(len(x), horizon)
    block_mae = {k: [float(np.mean(e[b])) for b in blocks] for k, e in err.items()}
    mae = {k: float(np.mean(v)) for k, v in block_mae.items()}
    order = [k for k in PREFERENCE if k in mae]
    chosen = lowest(mae)
    _mix_weights(mix, CANDIDATES[chosen])
    scale = splits.info.mase_scale
    record = {
        "chosen": chosen,
        "weights": dict(zip(members, [round(w, 4) for w in CANDIDATES[chosen]], strict=False)),
        "weight_on_network": CANDIDATES[chosen][0],
        "start": model.start_name if getattr(model, "start_name", None) else _start_name(splits),
        "rule": f"lowest mean MAE over {len(blocks)} horizon-sized blocks of {where} ({len(x)} windows); "
        "ties: " + ", ".join(order),
        "windows": int(len(x)),
        "mae": {k: round(v, 6) for k, v in mae.items()},
        "block_mae": {k: [round(v, 6) for v in vals] for k, vals in block_mae.items()},
        **({"mase": {k: round(v / scale, 4) for k, v in mae.items()}} if scale else {}),
    }
    words = {"network": "the trained network", "start": f"its linear start ({record['start']})",
             "mean": "the mean of the network and its linear start",
             "seasonal": "the seasonal profile (MSTL + exponential smoothing in the graph)",
             "start+seasonal": "the mean of the linear start and the seasonal profile",
             "network+seasonal": "the mean of the network and the seasonal profile",
             "all": "the mean of the network, the linear start and the seasonal profile"}  # fmt: skip
    text = (
        f"Served forecaster: **{words[chosen]}**, the lowest MAE on the {where} ({len(x)} windows in "
        f"{len(blocks)} blocks of {horizon} origins, after the windows early stopping used): "
        + ", ".join(f"{k} {v:.4g}" for k, v in mae.items())
        + ". Per block: "
        + "; ".join(f"{k} " + ", ".join(f"{v:.4g}" for v in vals) for k, vals in block_mae.items())
        + ". The test part plays no role in this choice."
    )
    if seasonal is not None:
        refit = seasonal_member(splits, fit_end=int(splits.info.extra["bounds"][1]))
        profile_layer.profile.assign(refit["profile"])
        record["seasonal"] = {
            "period": seasonal["period"], "periods": seasonal["periods"], "alpha": seasonal["alpha"],
            "alpha_val_mae": round(seasonal["val_mae"], 6),
            "profile_fitted_on": "training + validation (compared: training part)",
        }  # fmt: skip
        text += (
            f" The seasonal profile: MSTL with periods {seasonal['periods']}, the window's phase fitted per"
            f" window, smoothing weight {seasonal['alpha']} (lowest validation MAE); the profile served is"
            " refitted on the training and validation parts."
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
