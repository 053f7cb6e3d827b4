"""Figures of a learned representation: 2-D codes side by side, originals vs reconstructions, error per epoch.

Used by the anomaly app's representation study (an autoencoder's 2-D latent space next to PCA with 2
components). Each function saves one PNG, closes the figure and returns the path written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: servers and CI have no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tfdl.figures import save_figure


def latent_scatter(
    codes: Mapping[str, np.ndarray], colour: np.ndarray, names: Sequence[str], out_path: Path | str
) -> Path:
    """One scatter panel per ``{title: (N, 2) points}``; ``colour``: (N,) ids into ``names``."""
    fig, axes = plt.subplots(1, len(codes), figsize=(5.5 * len(codes), 4.8), squeeze=False)
    cmap = plt.get_cmap("tab10")
    colour = np.asarray(colour).astype(int)
    for ax, (title, pts) in zip(axes[0], codes.items(), strict=True):
        ax.scatter(pts[:, 0], pts[:, 1], c=cmap(colour % 10), s=4, alpha=0.7)
        ax.set_title(title)
    handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(i % 10)) for i in range(len(names))]
    fig.legend(handles, list(names), loc="center right", fontsize=8)
    return save_figure(fig, out_path, rect=(0, 0, 0.86, 1))


def reconstruction_grid(
    rows: Mapping[str, np.ndarray], image_shape: Sequence[int], out_path: Path | str
) -> Path:
    """A grid: one row per ``{title: (k, ...) images in [0, 1]}`` (originals first), k columns."""
    k = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), k, figsize=(k * 1.1, 1.2 * len(rows)), squeeze=False)
    for r, (title, imgs) in enumerate(rows.items()):
        for j in range(k):
            axes[r, j].imshow(np.asarray(imgs[j]).reshape(tuple(image_shape)), cmap="gray", vmin=0, vmax=1)
            axes[r, j].axis("off")
        axes[r, 0].set_title(title, fontsize=8, loc="left")
    return save_figure(fig, out_path)


def error_per_epoch(
    history: Path | str | Mapping[str, Sequence[float]], references: Mapping[str, float], out_path: Path | str
) -> Path:
    """Reconstruction error per epoch with horizontal reference lines (e.g. PCA's). ``history``: a Keras
    CSVLogger file (its ``loss`` / ``val_loss``), or ``{label: error of epochs 1, 2, ...}`` (one line each,
    ``val`` in the label drawn dashed)."""
    if isinstance(history, Mapping):
        curves = {k: np.asarray(v, dtype=float) for k, v in history.items()}
    else:
        h = pd.read_csv(history)
        curves = {"train loss": h["loss"].to_numpy(float)}
        if "val_loss" in h:
            curves["val loss"] = h["val_loss"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, values in curves.items():
        ls = "--" if "val" in label else "-"
        ax.plot(np.arange(1, len(values) + 1), values, ls=ls, marker=".", label=label)
    n = len(curves)
    for i, (label, value) in enumerate(references.items()):
        ax.axhline(value, ls=":", lw=1.2, color=f"C{(i + n) % 10}", label=label)
    ax.set(xlabel="epoch", ylabel="reconstruction MSE", yscale="log", title="reconstruction error per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out_path)
