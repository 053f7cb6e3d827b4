"""Convex ensemble weights chosen on validation, after training (the tabular ``mlp+gbdt`` blend, the text
``nbsvm`` mix of Naive Bayes and the learned bag of n-grams).

Every member's validation output is scored on a grid of convex weights in steps of ``1 / GRID_STEPS``
(Caruana et al. 2004's ensemble selection with replacement, exhaustively; the rule AutoGluon's weighted
ensemble uses); the weights are set on the model's non-trainable blend layer, so the saved and exported
model serves them.
"""

from __future__ import annotations

import itertools

import numpy as np

GRID_STEPS = 10  # weights in steps of 0.1
RULES = ("min", "1se")


def simplex_grid(members: int, steps: int = GRID_STEPS) -> list[tuple[float, ...]]:
    """Every weight vector of ``members`` non-negative multiples of ``1 / steps`` that sum to 1 (66 for
    three members at 0.1): an exhaustive version of Caruana et al.'s (2004) ensemble selection with
    replacement over ``steps`` rounds, the rule AutoGluon's weighted ensemble uses."""
    return [
        tuple(c / steps for c in combo)
        for combo in itertools.product(range(steps + 1), repeat=members)
        if sum(combo) == steps
    ]


def row_losses(pred: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
    """Per-row loss: squared error (standardised target) or the negative log probability of the label."""
    if name == "squared error":
        return np.mean((pred - y) ** 2, axis=-1)
    return -np.log(np.clip(pred[np.arange(len(y)), y], 1e-7, 1.0))


def pick_weights(preds: list[np.ndarray], y: np.ndarray, loss: str, rule: str = "min"):
    """(chosen weights, {weights: mean validation loss}) over :func:`simplex_grid`.

    ``min``: the lowest validation loss. ``1se``: the one-standard-error rule (Breiman et al. 1984; Hastie,
    Tibshirani & Friedman, ESL 7.10) toward the simplest member: among the weights whose validation loss is
    within one standard error (of the per-row difference) of the lowest, the most weight on the last member
    (the linear model), then the lowest loss."""
    if rule not in RULES:
        raise ValueError(f"blend rule must be one of {RULES}; got {rule!r}")
    grid = simplex_grid(len(preds))
    rows = {w: row_losses(sum(wi * p for wi, p in zip(w, preds, strict=True)), y, loss) for w in grid}
    means = {w: float(r.mean()) for w, r in rows.items()}
    best = min(means, key=means.get)  # on equal losses the first wins: the last member alone
    if rule == "min" or len(y) < 2:
        return best, means

    def within(w):
        d = rows[w] - rows[best]
        return d.mean() <= d.std(ddof=1) / np.sqrt(len(d))

    return max((w for w in grid if within(w)), key=lambda w: (w[-1], -means[w])), means
