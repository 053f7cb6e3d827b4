"""NBSVM-style text classifier: Naive Bayes log-count ratios mixed with a learned bag of n-grams.

Wang & Manning, "Baselines and Bigrams: Simple, Good Sentiment and Topic Classification", ACL 2012:
binarized uni+bigram features scaled by the log-count ratio ``r`` are a strong sentiment baseline, and
averaging the Naive Bayes model with a discriminative one (their NBSVM interpolation) beats both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from tfdl.models import _common as c
from tfdl.models.layers import BlockUnitNormalization, InferenceMix, NaiveBayesScores


def log_count_ratios(
    features: Any, y: np.ndarray, num_classes: int, *, alpha: float = 0.5, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest Naive Bayes log-count ratios of binarized features, from training data only.

    For class ``k``: ``p = alpha + sum of binarized x over examples of k``, ``q`` the same over the other
    classes, ``r_k = log((p / |p|_1) / (q / |q|_1))`` (Wang & Manning 2012, eq. 1-2, one class against the
    rest), and the log prior odds ``b_k = log(n_k / (n - n_k))``.

    Args:
        features: ``(n, num_features)`` array, or a callable ``(start, stop) -> features of rows
            start..stop-1`` (to vectorize a large corpus in batches); binarized as ``x > 0``.
        y: ``(n,)`` integer class ids in ``[0, num_classes)``.
        num_classes: number of classes (>= 2).
        alpha: additive (Laplace/Lidstone) smoothing count, default 0.5.
        batch_size: rows vectorized at a time when ``features`` is a callable, default 256.

    Returns:
        ``(ratios, log_prior)``: float32 arrays ``(num_features, num_classes)`` and ``(num_classes,)``.
    """
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2. Received: num_classes={num_classes}")
    if not alpha > 0:
        raise ValueError(f"`alpha` must be > 0 (it keeps unseen features finite). Received: alpha={alpha}")
    y = np.asarray(y).astype(int)
    counts = None  # (num_classes, num_features): in how many examples of each class a feature occurs
    rows = features if not callable(features) else None
    for i in range(0, len(y), batch_size):
        chunk = rows[i : i + batch_size] if rows is not None else features(i, min(len(y), i + batch_size))
        b = (np.asarray(chunk) > 0).astype(np.float64)
        onehot = np.eye(num_classes)[y[i : i + batch_size]]
        counts = onehot.T @ b if counts is None else counts + onehot.T @ b
    total = counts.sum(axis=0, keepdims=True)
    p = alpha + counts
    q = alpha + (total - counts)
    ratios = np.log(p / p.sum(axis=1, keepdims=True)) - np.log(q / q.sum(axis=1, keepdims=True))
    n_k = np.bincount(y, minlength=num_classes).astype(np.float64)
    log_prior = np.log(np.maximum(n_k, alpha)) - np.log(np.maximum(len(y) - n_k, alpha))
    return ratios.T.astype(np.float32), log_prior.astype(np.float32)


def build_nbsvm(
    num_features: int,
    num_classes: int,
    ratios: np.ndarray,
    log_prior: np.ndarray,
    *,
    units: Sequence[int] = (64,),
    dropout: float = 0.5,
    weight: float = 0.5,
    fixed_weight: bool = False,
    blocks: Sequence[int] | None = None,
    inputs: Any = None,
    preprocess: Callable[[Any], Any] | None = None,
    name: str = "nbsvm",
) -> keras.Model:
    """Naive Bayes on binarized n-grams averaged with a learned TF-IDF bag (an NBSVM-style ensemble).

    Reference: Wang & Manning, "Baselines and Bigrams: Simple, Good Sentiment and Topic Classification",
    ACL 2012 (NBSVM: log-count-ratio features; interpolating Naive Bayes with a discriminative model).

    Two members share one feature vector ``x`` (count or TF-IDF of n-grams, ``(batch, num_features)``):
    - ``naive_bayes``: ``sigmoid(binarize(x) @ ratios + log_prior)`` per class (one-vs-rest), normalized to
      sum to 1; the ratios are fixed (non-trainable weights computed on the training split, see
      ``log_count_ratios``), so they ship inside the ``.keras`` file and the SavedModel.
    - ``tfidf``: ``x`` L2-normalized (each block of ``blocks`` on its own) -> ``units`` (dense -> dropout)
      blocks -> softmax (``units=()`` gives logistic regression), the ``bow`` model's body.
    The output ``predictions`` is ``weight * tfidf + (1 - weight) * naive_bayes`` at inference (an
    ``InferenceMix``; 0.5, their average, until the app sets the weight chosen on validation after
    training). In training it is the learned member alone, so that member is fitted on its own loss as a
    separately trained ensemble member would be: Naive Bayes is nearly perfect on the examples it counted,
    and a joint loss would leave little for it to learn.

    Shapes: ``x`` (batch, num_features) -> (batch, num_classes) class probabilities.

    Args:
        num_features: length of the feature vector (the vectorizer's vocabulary size).
        num_classes: number of classes (>= 2).
        ratios: ``(num_features, num_classes)`` log-count ratios from ``log_count_ratios``.
        log_prior: ``(num_classes,)`` log prior odds from ``log_count_ratios``.
        units: hidden widths of the learned member, default ``(64,)``; ``()`` for a linear member.
        dropout: dropout rate after each hidden layer of the learned member, default 0.5.
        weight: the learned member's weight in the inference mix, in [0, 1], default 0.5.
        fixed_weight: True marks ``weight`` as the user's: the app does not choose it on validation.
        blocks: lengths of consecutive feature blocks the learned member L2-normalizes each on its own
            (e.g. word n-grams then character n-grams; they must sum to ``num_features``), default None
            (the whole vector at once).
        inputs: a KerasTensor to use instead of ``keras.Input((num_features,))`` (e.g. raw strings).
        preprocess: callable ``inputs -> x`` (e.g. a TextVectorization layer), default None.
        name: model name, default ``"nbsvm"``.

    Returns:
        An uncompiled ``keras.Model``; the output layer is ``"predictions"`` (float32).
    """
    c.check_positive_int("num_features", num_features)
    c.check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2. Received: num_classes={num_classes}")
    units = c.check_int_tuple("units", units, allow_empty=True)
    c.check_rate("dropout", dropout)
    if not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"`weight` must be in [0, 1]. Received: weight={weight}")
    ratios = np.asarray(ratios, dtype=np.float32)
    log_prior = np.asarray(log_prior, dtype=np.float32)
    if ratios.shape != (num_features, num_classes) or log_prior.shape != (num_classes,):
        raise ValueError(
            f"`ratios` must be ({num_features}, {num_classes}) and `log_prior` ({num_classes},). "
            f"Received: ratios {ratios.shape}, log_prior {log_prior.shape}"
        )

    if blocks is not None:
        blocks = c.check_int_tuple("blocks", blocks)
        if sum(blocks) != num_features:
            raise ValueError(f"`blocks` must sum to num_features={num_features}. Received: blocks={blocks}")

    inputs, x = c.resolve_inputs((num_features,), inputs, preprocess)
    nb_layer = NaiveBayesScores(num_classes, name="naive_bayes", dtype="float32")
    p_nb = nb_layer(x)
    nb_layer.set_weights([ratios, log_prior])

    if blocks is None or len(blocks) == 1:
        h = keras.layers.UnitNormalization(name="l2_normalize")(x)
    else:
        h = BlockUnitNormalization(blocks, name="l2_normalize")(x)
    for i, width in enumerate(units, start=1):
        h = keras.layers.Dense(width, activation="relu", kernel_initializer="he_normal", name=f"dense{i}")(h)
        h = keras.layers.Dropout(dropout, name=f"dropout{i}")(h)
    p_tfidf = c.output_head(h, num_classes, "softmax", name="tfidf")
    out = InferenceMix(weight, fixed=fixed_weight, name="predictions")([p_tfidf, p_nb])
    return keras.Model(inputs, out, name=name)
