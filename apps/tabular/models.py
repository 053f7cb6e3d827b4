"""Tabular models: raw columns in, preprocessing inside (imputation, normalisation, lookups, embeddings).

``mlp`` (an MLP over the preprocessed columns), ``mlp+gbdt`` (the MLP blended with HistGradientBoosting
trees walked inside the Keras graph; the blend weight chosen on validation by :func:`choose_blend`) and
``ft_transformer`` (columns as tokens). Regression learns the standardised target; the inverse is the last
layer, so every model answers in the CSV's units.
"""

from __future__ import annotations

import numpy as np

from tfdl.app import forwards, hooks
from tfdl.config import RunConfig
from tfdl.data.splits import Splits
from tfdl.errors import TfdlError


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


@hooks(loss=_loss)
@forwards("tfdl.models:build_mlp", "output_activation", "inputs", "preprocess", "name")
def build_mlp_gbdt(
    splits: Splits, cfg: RunConfig, *, blend_weight=0.5, embed_min_categories=16, ple_bins=None, **kw
):
    """The MLP and gradient-boosted trees in one Keras model: HistGradientBoosting (tuned on the validation
    split like the baseline, categories as ordinal codes) is fitted here and walked inside the graph by a
    ``TreeEnsemble`` layer; the output is ``w * MLP + (1 - w) * trees`` (standardised target, or class
    probabilities). The MLP trains alone; ``w`` is chosen on the validation split after training
    (``blend_weight`` is only the value used while training stops early). The export takes raw columns."""
    import keras

    from tfdl.evaluation.tabular_baselines import fit_hgb_matrix
    from tfdl.models.tabular_layers import Blend, TargetInverse, TreeEnsemble, tree_ensemble_weights

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
    out = Blend(kind, blend_weight, name="blend")([net, raw])
    if cfg.task == "regression":
        out = TargetInverse(mean, std, transform, name="target_scale")(out)
    return keras.Model(inputs, out, name="tabular_mlp_gbdt")


def choose_blend(model, splits: Splits, cfg: RunConfig) -> dict:
    """mlp+gbdt: the blend weight (0, 0.1, ..., 1) with the lowest validation loss (the training loss:
    standardised squared error, or log loss), set on the model; returns the report section saying so.
    Other models: nothing to do."""
    from tfdl.models.tabular_layers import forward

    try:
        blend = model.get_layer("blend")
    except ValueError:
        return {}
    preds = []
    for w in (1.0, 0.0):  # the network alone, the trees alone
        blend.weight.assign(w)
        preds.append(np.asarray(model.predict(splits.x_val, batch_size=2048, verbose=0), np.float64))
    y = np.asarray(splits.y_val)
    if cfg.task == "regression":
        mean, std, transform = target_stats(splits)
        net, trees = (np.asarray(forward(p, mean, std, transform)) for p in preds)
        zy = np.asarray(forward(y.reshape(-1, 1), mean, std, transform))
        losses = {w: float(np.mean((w * net + (1 - w) * trees - zy) ** 2)) for w in np.linspace(0, 1, 11)}
    else:
        idx = y.astype(int).ravel()

        def nll(p):
            return float(-np.mean(np.log(np.clip(p[np.arange(len(idx)), idx], 1e-7, 1.0))))

        losses = {w: nll(w * preds[0] + (1 - w) * preds[1]) for w in np.linspace(0, 1, 11)}
    best = min(losses, key=losses.get)
    blend.weight.assign(float(best))
    section = (
        "Blend",
        f"mlp+gbdt: weight {best:.1f} on the MLP, {1 - best:.1f} on the trees (lowest validation loss; "
        f"MLP alone {losses[1.0]:.4f}, trees alone {losses[0.0]:.4f}, blend {losses[best]:.4f}).",
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
