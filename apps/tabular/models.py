"""Tabular models: raw columns in, preprocessing inside (imputation, normalisation, lookups, embeddings).

``mlp`` (an MLP over the preprocessed columns), ``mlp+gbdt`` (a convex blend of the MLP, HistGradientBoosting
trees walked inside the Keras graph and the linear baseline's model; the weights chosen on validation by
:func:`choose_blend`) and
``ft_transformer`` (columns as tokens). Regression learns the standardised target; the inverse is the last
layer, so every model answers in the CSV's units.
"""

from __future__ import annotations

import numpy as np

from tfdl.app import forwards, hooks
from tfdl.config import RunConfig
from tfdl.data.splits import Splits
from tfdl.errors import TfdlError
from tfdl.training.ensemble import GRID_STEPS, RULES, pick_weights, row_losses


def _normalised_train(c, x: np.ndarray) -> np.ndarray:
    """A numeric column's training values as the model sees them after imputation and normalisation."""
    v = np.asarray(x, dtype=np.float64)
    v = v[~np.isnan(v)]
    v = np.log1p(np.maximum(v, 0.0)) if c.log else v
    return (v - c.mean) / np.sqrt(max(c.variance, 1e-12))


def _preprocess(splits: Splits, *, embed_min_categories: int, tokens: int = 0, ple_bins: int = 0):
    """(inputs dict, preprocess fn): raw columns -> one (batch, features) tensor, or (batch, columns, tokens)
    column tokens when ``tokens`` > 0 (FT-Transformer). ``ple_bins`` > 0 adds a piecewise-linear encoding
    of each numeric column over that many training-quantile bins (beside the normalised value)."""
    import keras
    from keras import ops

    from tfdl.data.tabular import INT_MISSING
    from tfdl.models.tabular_layers import PiecewiseLinearEncoding, quantile_edges

    columns = splits.info.columns
    inputs = {c.input_name: keras.Input(shape=(), dtype=c.dtype, name=c.input_name) for c in columns}

    def preprocess(inp):
        parts = []
        for c in columns:
            t, n = inp[c.input_name], c.input_name
            if c.dtype == "float32":
                t = ops.expand_dims(t, -1)
                miss = ops.cast(ops.isnan(t), "float32")
                if c.log:  # impute with the value whose log1p is the training mean, then log1p
                    t = ops.log1p(ops.maximum(ops.nan_to_num(t, nan=float(np.expm1(c.mean))), 0.0))
                else:
                    t = ops.nan_to_num(t, nan=c.mean if c.kind == "numeric" else 0.5)
                if c.kind == "numeric":
                    t = keras.layers.Normalization(
                        mean=c.mean, variance=max(c.variance, 1e-12), name=f"{n}_norm"
                    )(t)
                    edges = quantile_edges(_normalised_train(c, splits.x_train[n]), ple_bins)
                    if ple_bins and len(edges) > 2:
                        ple = PiecewiseLinearEncoding(edges, name=f"{n}_ple")(t)
                        t = keras.layers.Concatenate(name=f"{n}_with_ple")([t, ple])
                feats = keras.layers.Concatenate(name=f"{n}_with_missing")([t, miss]) if c.missing else t
                parts.append(keras.layers.Dense(tokens, name=f"{n}_token")(feats) if tokens else feats)
                continue
            if c.dtype == "int64":
                vocab = [v for v in c.vocabulary if v != INT_MISSING]
                lookup = keras.layers.IntegerLookup(
                    vocabulary=vocab, oov_token=INT_MISSING, name=f"{n}_lookup"
                )
            else:
                lookup = keras.layers.StringLookup(
                    vocabulary=c.vocabulary, num_oov_indices=1, name=f"{n}_lookup"
                )
            size = lookup.vocabulary_size()
            ids = lookup(t)
            if tokens:
                parts.append(keras.layers.Embedding(size, tokens, name=f"{n}_token")(ids))
            elif size <= embed_min_categories:
                parts.append(
                    keras.layers.CategoryEncoding(size, output_mode="one_hot", name=f"{n}_onehot")(ids)
                )
            else:
                dim = int(min(16, round(1.6 * size**0.56)))  # fastai's embedding-size rule of thumb
                parts.append(keras.layers.Embedding(size, dim, name=f"{n}_embedding")(ids))
        if tokens:
            parts = [
                keras.layers.Reshape((1, tokens), name=f"{c.input_name}_as_token")(p)
                for c, p in zip(columns, parts, strict=False)
            ]
            return (
                keras.layers.Concatenate(axis=1, name="column_tokens")(parts) if len(parts) > 1 else parts[0]
            )
        return keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]

    return inputs, preprocess


def target_stats(splits: Splits) -> tuple[float, float, str]:
    """(mean, std, transform) of the training target in the space the network learns it."""
    transform = "log1p" if splits.info.extra.get("target_transform") == "log1p" else "none"
    y = np.asarray(splits.y_train, dtype=np.float64).ravel()
    y = np.log1p(y) if transform == "log1p" else y
    return float(y.mean()), float(y.std() or 1.0), transform


def _head(splits: Splits, cfg: RunConfig, body, inputs):
    """Classification: softmax over labels. Regression: the inverse of the target's standardisation (and
    log1p) as the last layer, so the network learns a standardised target while the model (and the export)
    outputs the user's units; the loss (``_loss``) is computed in the standardised space."""
    import keras

    from tfdl.models.tabular_layers import TargetInverse

    if cfg.task == "classification":
        return body
    mean, std, transform = target_stats(splits)
    out = TargetInverse(mean, std, transform, name="target_scale")(body.output)
    return keras.Model(inputs, out, name=body.name)


def _loss(cfg: RunConfig, splits: Splits):
    import keras

    from tfdl.models.tabular_layers import StandardizedMSE

    if cfg.task == "classification":
        return keras.losses.SparseCategoricalCrossentropy()
    return StandardizedMSE(*target_stats(splits))


def _outputs(splits: Splits, cfg: RunConfig) -> tuple[int, str | None]:
    return (splits.info.num_classes, "softmax") if cfg.task == "classification" else (1, None)


# Every tabular model trains regression on the standardised target (the inverse is inside the model).
@hooks(loss=_loss)
@forwards("tfdl.models:build_mlp", "output_activation", "inputs", "preprocess", "name")
def build_mlp(
    splits: Splits,
    cfg: RunConfig,
    *,
    units=(256, 128),
    dropout=None,
    batch_norm=True,
    embed_min_categories=16,
    ple_bins=None,
    **kw,
):
    """MLP over the preprocessed columns (batch norm by default); ``ple_bins`` > 0 adds a piecewise-linear
    encoding of every numeric column (Gorishniy et al., 2022). ``None`` = by task, chosen on validation
    (BENCHMARKS.md): classification dropout 0.2 and no encoding; regression no dropout (its noise swamps a
    standardised target's small residuals) and 16 quantile bins."""
    from tfdl.models import build_mlp as factory

    regression = cfg.task == "regression"
    dropout = (0.0 if regression else 0.2) if dropout is None else dropout
    ple_bins = (16 if regression else 0) if ple_bins is None else ple_bins

    inputs, preprocess = _preprocess(splits, embed_min_categories=embed_min_categories, ple_bins=ple_bins)
    n, act = _outputs(splits, cfg)
    body = factory(
        None,
        n,
        units=tuple(units),
        dropout=dropout,
        batch_norm=batch_norm,
        output_activation=act,
        inputs=inputs,
        preprocess=preprocess,
        name="tabular_mlp",
        **kw,
    )
    return _head(splits, cfg, body, inputs)


def _category_ranks(ids: np.ndarray, y: np.ndarray | None, size: int) -> np.ndarray | None:
    """Regression: lookup index -> rank of the category's mean training target (1-based; 0 stays unseen), so
    one threshold on the code can separate high- from low-target categories (Fisher's ordering, exact for
    a single squared-error split). None = keep the lookup order."""
    if y is None:
        return None
    sums = np.bincount(ids, weights=y, minlength=size)
    counts = np.bincount(ids, minlength=size)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    means[0] = np.nan  # OOV
    order = np.argsort(np.where(np.isnan(means), np.inf, means), kind="stable")
    ranks = np.zeros(size, np.float32)
    ranks[order] = np.arange(1, size + 1, dtype=np.float32)
    ranks[0] = 0.0
    return ranks


def _ordinal_codes(splits: Splits, inputs, y_train: np.ndarray | None = None):
    """Raw columns -> (batch, columns) float32 for the trees: numbers as they are (NaN = missing), categories
    as their lookup index (unseen or missing = NaN), or with ``y_train`` (regression, standardised target)
    as the rank of their mean target."""
    import keras
    from keras import ops

    from tfdl.data.tabular import INT_MISSING

    parts = []
    for c in splits.info.columns:
        t, n = inputs[c.input_name], c.input_name
        if c.dtype == "float32":
            parts.append(ops.expand_dims(ops.cast(t, "float32"), -1))
            continue
        if c.dtype == "int64":
            vocab = [v for v in c.vocabulary if v != INT_MISSING]
            lookup = keras.layers.IntegerLookup(vocabulary=vocab, oov_token=INT_MISSING, name=f"{n}_code")
        else:
            lookup = keras.layers.StringLookup(vocabulary=c.vocabulary, num_oov_indices=1, name=f"{n}_code")
        ids = lookup(t)
        ranks = _category_ranks(
            np.asarray(lookup(splits.x_train[n])).astype(int), y_train, lookup.vocabulary_size()
        )
        ids = ops.take(ops.convert_to_tensor(ranks), ids) if ranks is not None else ops.cast(ids, "float32")
        parts.append(ops.expand_dims(ops.where(ids > 0, ids, float("nan")), -1))
    return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def _linear_features(splits: Splits, inputs):
    """Raw columns -> the ``linear`` baseline's features, computed in the graph with statistics of the
    training split: each number mean-imputed (0 when it has no value), a missing indicator for numbers
    that miss values in training, all of them standardised (scikit-learn's SimpleImputer(add_indicator) +
    StandardScaler); each category one-hot over its training values (an unseen value: no column set, as
    OneHotEncoder(handle_unknown="ignore"); the lookup's OOV column never fires in training)."""
    import keras
    from keras import ops

    def scaled(t, values):
        mu, sd = float(np.mean(values)), float(np.std(values))
        return (t - mu) / (sd if sd > 1e-12 else 1.0)

    numbers, indicators, categories = [], [], []
    for c in splits.info.columns:
        n, x = c.input_name, splits.x_train[c.input_name]
        t = inputs[n]
        if c.dtype == "float32":
            v = np.asarray(x, np.float64)
            miss = np.isnan(v)
            fill = float(v[~miss].mean()) if (~miss).any() else 0.0
            t = ops.expand_dims(ops.cast(t, "float32"), -1)
            numbers.append(scaled(ops.nan_to_num(t, nan=fill), np.where(miss, fill, v)))
            if miss.any():
                indicators.append(scaled(ops.cast(ops.isnan(t), "float32"), miss.astype(np.float64)))
            continue
        if c.dtype == "int64":
            vocab = sorted({int(v) for v in x})
            lookup = keras.layers.IntegerLookup(
                vocabulary=vocab, oov_token=min(vocab) - 1, name=f"{n}_linear_lookup"
            )
        else:
            vocab = sorted({str(v) for v in x})
            oov = "[UNK]" if "[UNK]" not in vocab else "[UNSEEN]"
            lookup = keras.layers.StringLookup(
                vocabulary=vocab, num_oov_indices=1, oov_token=oov, name=f"{n}_linear_lookup"
            )
        onehot = keras.layers.CategoryEncoding(
            lookup.vocabulary_size(), output_mode="one_hot", name=f"{n}_linear_onehot", dtype="float32"
        )
        categories.append(onehot(lookup(t)))
    parts = numbers + indicators + categories
    # float32 throughout (a mixed-precision policy would round the standardised values to bfloat16)
    if len(parts) == 1:
        return parts[0]
    return keras.layers.Concatenate(name="blend_linear_features", dtype="float32")(parts)


def _linear_member(splits: Splits, inputs, y_train, y_val, classify: bool, k: int):
    """The ``linear`` baseline's model (logistic regression over C, or ridge over alpha, chosen on the
    validation split) fitted on :func:`_linear_features` and set as a frozen Dense layer: class
    probabilities, or the standardised target."""
    import keras

    from tfdl.evaluation.tabular_baselines import fit_linear_matrix

    feats = _linear_features(splits, inputs)
    features = keras.Model(inputs, feats, name="blend_linear_features_model")
    x_train = np.asarray(features.predict(splits.x_train, batch_size=4096, verbose=0), np.float64)
    x_val = np.asarray(features.predict(splits.x_val, batch_size=4096, verbose=0), np.float64)
    fitted = fit_linear_matrix(x_train, y_train, x_val, y_val, classify, k)
    coef = np.asarray(fitted.coef_, np.float32).reshape(-1, x_train.shape[1])  # (outputs, features)
    intercept = np.asarray(fitted.intercept_, np.float32).reshape(-1)
    if classify and k == 2:  # one logit -> two classes: softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]
        coef = np.concatenate([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros(1, np.float32), intercept])
    head = keras.layers.Dense(len(intercept), name="blend_linear", trainable=False, dtype="float32")
    out = head(feats)
    head.set_weights([coef.T, intercept])
    if classify:
        out = keras.layers.Softmax(name="blend_linear_proba", dtype="float32")(out)
    return out


@hooks(loss=_loss)
@forwards("tfdl.models:build_mlp", "output_activation", "inputs", "preprocess", "name")
def build_mlp_gbdt(
    splits: Splits,
    cfg: RunConfig,
    *,
    blend_weight=0.5,
    blend_rule="1se",
    linear=True,
    embed_min_categories=16,
    ple_bins=None,
    **kw,
):
    """The MLP, gradient-boosted trees and the linear baseline's model in one Keras model:
    HistGradientBoosting (tuned on the validation split like the baseline, categories as ordinal codes) is
    fitted here and walked inside the graph by a ``TreeEnsemble`` layer; with ``linear`` (default) the
    ``linear`` baseline's regularised model (same features, same validation-chosen C or alpha) is a frozen
    Dense layer. The output is a convex blend ``w_mlp * MLP + w_trees * trees + w_linear * linear``
    (standardised target, or class probabilities). The MLP trains alone; the weights are chosen on the
    validation split after training (:func:`choose_blend`; ``blend_weight`` is the MLP's weight, the rest on
    the trees, only while training stops early; ``blend_rule``: :func:`pick_weights`, ``1se`` by default,
    chosen on development sets, BENCHMARKS.md). The export takes raw columns."""
    import keras

    from tfdl.evaluation.tabular_baselines import fit_hgb_matrix
    from tfdl.models.tabular_layers import Blend, TargetInverse, TreeEnsemble, tree_ensemble_weights

    if blend_rule not in RULES:
        raise TfdlError(f"model.blend_rule must be one of {', '.join(RULES)}; got {blend_rule!r}")
    mlp = build_mlp(splits, cfg, embed_min_categories=embed_min_categories, ple_bins=ple_bins, **kw)
    inputs = mlp.input
    if cfg.task == "regression":
        net = mlp.get_layer("target_scale").input  # the standardised prediction
    else:
        net = mlp.output
    classify = cfg.task == "classification"
    k = splits.info.num_classes
    if classify:
        if len(np.unique(splits.y_train)) != k:
            raise TfdlError("mlp+gbdt needs every class in the training split; use --model mlp for this data")
        y_train, y_val = splits.y_train, splits.y_val
        kind = "binary" if k == 2 else "multiclass"
    else:
        mean, std, transform = target_stats(splits)
        z = lambda y: ((np.log1p(y) if transform == "log1p" else np.asarray(y, np.float64)) - mean) / std  # noqa: E731
        y_train, y_val = z(splits.y_train), z(splits.y_val)
        kind = "regression"
    ordered = None if classify else np.asarray(y_train, np.float64).ravel()
    codes = keras.Model(inputs, _ordinal_codes(splits, inputs, ordered), name="tree_codes")
    x_train = np.asarray(codes.predict(splits.x_train, batch_size=4096, verbose=0))
    x_val = np.asarray(codes.predict(splits.x_val, batch_size=4096, verbose=0))
    trees = fit_hgb_matrix(x_train, y_train, x_val, y_val, classify, k)
    config, weights = tree_ensemble_weights(trees)
    ensemble = TreeEnsemble(**config, name="trees")
    raw = ensemble(codes.output)
    ensemble.set_weights(weights)
    members = [net, raw]
    if linear:
        members.append(_linear_member(splits, inputs, y_train, y_val, classify, k))
    out = Blend(kind, blend_weight, members=len(members), rule=blend_rule, name="blend")(members)
    if cfg.task == "regression":
        out = TargetInverse(mean, std, transform, name="target_scale")(out)
    return keras.Model(inputs, out, name="tabular_mlp_gbdt")


MEMBERS = ("mlp", "trees", "linear")


def member_predictions(model, splits: Splits, part: str = "val") -> tuple[list[np.ndarray], np.ndarray, str]:
    """(each member's output on the ``part`` split in the blended space, the target in that space, the
    loss's name): class probabilities and labels, or the standardised target."""
    import keras

    from tfdl.models.tabular_layers import forward

    blend = model.get_layer("blend")
    inner = keras.Model(model.input, blend.input)
    x, y = (splits.x_val, splits.y_val) if part == "val" else (splits.x_test, splits.y_test)
    outs = inner.predict(x, batch_size=2048, verbose=0)
    preds = [np.asarray(p, np.float64) for p in blend.outputs_of(outs)]
    y = np.asarray(y)
    if splits.info.task == "regression":
        mean, std, transform = target_stats(splits)
        return preds, np.asarray(forward(y.reshape(-1, 1), mean, std, transform), np.float64), "squared error"
    return preds, y.astype(int).ravel(), "log loss"


def blend_record(model, splits: Splits) -> dict:
    """The blend's weights per member and the validation losses they were chosen on (each member alone,
    the blend as set, and the lowest over the grid with its weights and the standard error of the per-row
    difference from it), as recorded in metrics.json (``blend``); {} for a model without a blend."""
    try:
        blend = model.get_layer("blend")
    except ValueError:
        return {}
    preds, y, loss = member_predictions(model, splits)
    names = MEMBERS[: len(preds)]
    w = [round(float(v), 4) for v in np.asarray(blend.blend_weights.numpy())]
    rows = row_losses(sum(wi * p for wi, p in zip(w, preds, strict=True)), y, loss)
    lowest, means = pick_weights(preds, y, loss, "min")
    diff = rows - row_losses(sum(wi * p for wi, p in zip(lowest, preds, strict=True)), y, loss)
    rule = (
        "the lowest validation loss"
        if blend.rule == "min"
        else (
            "the one-standard-error rule toward the linear model (the most linear weight within one standard "
            "error of the lowest validation loss)"
        )
    )
    return {
        "members": list(names),
        "weights": dict(zip(names, w, strict=True)),
        "rule": f"convex weights in steps of {1 / GRID_STEPS:g}: {rule}",
        "validation_loss": {
            "metric": loss + (" (standardised target)" if loss == "squared error" else ""),
            "n_val": int(len(y)),
            **{n: round(float(row_losses(p, y, loss).mean()), 6) for n, p in zip(names, preds, strict=True)},
            "blend": round(float(rows.mean()), 6),
            "lowest": round(means[lowest], 6),
            "lowest_weights": dict(zip(names, lowest, strict=True)),
            "blend_minus_lowest_se": round(float(diff.std(ddof=1) / np.sqrt(len(diff))), 6)
            if len(diff) > 1
            else None,
        },
    }


def choose_blend(model, splits: Splits, cfg: RunConfig) -> dict:
    """mlp+gbdt: the convex weights over its members (MLP, trees, linear; :func:`simplex_grid`) chosen on
    the validation loss (the training loss: standardised squared error, or log loss) by the blend's rule
    (:func:`pick_weights`), set on the model; returns the report section saying so. Other models: nothing
    to do."""
    try:
        blend = model.get_layer("blend")
    except ValueError:
        return {}
    preds, y, loss = member_predictions(model, splits)
    best, losses = pick_weights(preds, y, loss, blend.rule)
    blend.blend_weights.assign(np.asarray(best, np.float32))
    names = MEMBERS[: len(preds)]
    alone = {n: losses[tuple(float(i == j) for j in range(len(preds)))] for i, n in enumerate(names)}
    weights = ", ".join(f"{n} {v:.1f}" for n, v in zip(names, best, strict=True))
    how = (
        "lowest validation"
        if blend.rule == "min"
        else ("most linear weight within one standard error of the lowest validation")
    )
    section = (
        "Blend",
        f"mlp+gbdt: weights {weights} (the convex combination in steps of 0.1 with the {how} {loss}, over "
        f"{len(y)} validation rows; lowest {min(losses.values()):.4f}; "
        + ", ".join(f"{n} alone {v:.4f}" for n, v in alone.items())
        + f"; chosen {losses[best]:.4f}).",
    )
    return {"report_sections": [section]}


@hooks(loss=_loss)
@forwards(
    "tfdl.models:build_transformer",
    *("pooling", "output_activation", "inputs", "preprocess", "name", "vocab_size", "positions", "mask_zero"),
)
def build_ft_transformer(
    splits: Splits, cfg: RunConfig, *, embed_dim=32, num_heads=4, num_layers=2, ff_dim=64, dropout=0.1, **kw
):  # noqa: E501
    """FT-Transformer in spirit (Gorishniy et al., 2021): every column becomes a token (a per-column
    linear map of a numeric value, an embedding of a category); a [CLS] token reads the encoder's output."""
    from tfdl.models import build_transformer

    inputs, preprocess = _preprocess(splits, embed_min_categories=0, tokens=embed_dim)
    n, act = _outputs(splits, cfg)
    body = build_transformer(
        None,
        n,
        embed_dim=embed_dim,
        num_heads=num_heads,
        num_layers=num_layers,
        ff_dim=ff_dim,
        dropout=dropout,
        pooling="cls",
        output_activation=act,
        inputs=inputs,
        preprocess=preprocess,
        name="ft_transformer",
        **kw,
    )
    return _head(splits, cfg, body, inputs)
