"""A study's figures: the variants overlaid on one set of axes, with units and a legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfdl.figures import save_figure


def _plt():
    import matplotlib.pyplot as plt

    from tfdl import figures  # noqa: F401  (the Agg backend, before pyplot draws)

    return plt


def _colors(n: int) -> list:
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _vals(xs) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in xs], dtype=float)


def _loss_label(task: str | None) -> str:
    return {
        "classification": "loss (cross-entropy, nats per example)",
        "regression": "loss (the model's training loss)",
    }.get(task or "", "loss")


def _log_if_wide(ax, values: list[np.ndarray]) -> None:
    flat = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values] or [np.array([])])
    if flat.size and flat.max() / max(flat.min(), 1e-12) > 30:
        ax.set_yscale("log")


def draw(study, rows: list[dict], out: Path, *, lr_range=None, splits=None, cfg=None, app=None) -> list[Path]:
    """Every figure the study names; returns the PNG paths."""
    out = Path(out)
    task = getattr(cfg, "task", None)
    made = []
    for kind in study.figures:
        if kind == "loss":
            made.append(loss_curves(rows, out / "loss.png", study.name, task))
        elif kind == "gap":
            made.append(gap_curves(rows, out / "gap.png", study.name))
        elif kind == "gradients":
            made.append(gradient_norms(rows, out / "gradients.png", study.name))
        elif kind == "lr_range" and lr_range:
            made.append(lr_range_plot(lr_range, rows, out / "lr_range.png", task))
        elif kind == "steps":
            made.append(steps_curves(rows, out / "batch_size.png", task))
        elif kind == "params":
            made.append(params_plot(rows, out / "parameters.png"))
        elif kind == "roc":
            made.append(roc_plot(rows, out / "roc.png"))
        elif kind == "threshold":
            made.append(threshold_plot(rows, out / "threshold.png"))
        elif kind == "augment" and splits is not None:
            made.append(
                augment_grid(splits, out / "augmented_samples.png", seed=cfg.train.seed if cfg else 42)
            )
    return [p for p in made if p is not None]


def loss_curves(rows: list[dict], path: Path, title: str, task: str | None) -> Path:
    """Train (solid) and validation (dashed) loss per epoch, one colour per variant."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    series = []
    for row, color in zip(rows, _colors(len(rows))):
        h = row.get("history", {})
        ep = h.get("epoch", [])
        tr, va = _vals(h.get("train_loss", [])), _vals(h.get("val_loss", []))
        series += [tr, va]
        ax.plot(ep, tr, "-", color=color, marker="o", ms=3, label=f"{row['variant']} (train)")
        ax.plot(ep, va, "--", color=color, marker="s", ms=3, label=f"{row['variant']} (val)")
    _log_if_wide(ax, series)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_ylabel(_loss_label(task))
    ax.set_title(f"study {title}: training (solid) and validation (dashed) loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def gap_curves(rows: list[dict], path: Path, title: str) -> Path:
    """Validation loss minus training loss per epoch (the over-fitting gap)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    for row, color in zip(rows, _colors(len(rows))):
        h = row.get("history", {})
        gap = _vals(h.get("val_loss", [])) - _vals(h.get("train_loss", []))
        ax.plot(h.get("epoch", []), gap, "-", color=color, marker="o", ms=3, label=row["variant"])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_ylabel("validation loss - training loss (nats)")
    ax.set_title(f"study {title}: the generalisation gap\n(both losses in inference mode, no penalty term)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def gradient_norms(rows: list[dict], path: Path, title: str) -> Path | None:
    """Left: each layer's gradient norm, averaged over the first logged steps, by depth (input -> output).
    Right: the first hidden layer's gradient norm at each logged step."""
    plt = _plt()
    have = [r for r in rows if r.get("gradient_norms")]
    if not have:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 5))
    names = None
    for row, color in zip(rows, _colors(len(rows))):
        g = row.get("gradient_norms")
        if not g:
            continue
        names = list(g)
        a.plot(range(1, len(names) + 1), [g[n]["mean"] for n in names], "-o", color=color, ms=4,
               label=row["variant"])  # fmt: skip
        first = g[names[0]]["per_step"]
        b.plot(range(len(first)), first, "-", color=color, label=row["variant"])
    a.set_yscale("log")
    a.set_xticks(range(1, len(names) + 1))
    a.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    a.set_xlabel("layer (input side -> output)")
    a.set_ylabel("||dL/dW|| (L2 norm of the kernel gradient), mean over logged steps")
    a.set_title("gradient norm by depth")
    b.set_yscale("log")
    b.set_xlabel("optimizer step")
    b.set_ylabel(f"||dL/dW|| of {names[0]}")
    b.set_title("first layer's gradient norm over the first steps")
    for ax in (a, b):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"study {title}: per-layer gradient norms on one fixed training batch")
    return save_figure(fig, path)


def lr_range_plot(lr: dict, rows: list[dict], path: Path, task: str | None) -> Path:
    """Loss against the learning rate (log axis) while it grows each step; the variants' rates marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    x = np.array(lr["lr"])
    ax.plot(x, _vals(lr["loss"]), color="0.75", lw=0.8, label="loss of each step")
    ax.plot(x, _vals(lr["smoothed"]), color="C0", lw=2, label="smoothed (EMA 0.9)")
    if lr.get("lr_at_min_loss"):
        ax.axvline(
            lr["lr_at_min_loss"],
            color="C3",
            ls=":",
            label=f"lowest smoothed loss: {lr['lr_at_min_loss']:.2g}",
        )
    if lr.get("lr_steepest"):
        ax.axvline(lr["lr_steepest"], color="C2", ls=":", label=f"steepest fall: {lr['lr_steepest']:.2g}")
    for row, color in zip(rows, _colors(len(rows))):
        rate = _set_value(row, "train.learning_rate")
        if rate is not None:
            ax.axvline(
                float(rate), color=color, lw=0.8, alpha=0.6, ls="--", label=f"variant {row['variant']}"
            )
    ax.set_xscale("log")
    fin = _vals(lr["smoothed"])
    fin = fin[np.isfinite(fin)]
    if fin.size:
        ax.set_ylim(0, min(float(np.nanmax(fin)), 4 * float(fin.min())) * 1.1)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(_loss_label(task))
    factor = (x[-1] / x[0]) ** (1 / max(1, len(x) - 1))
    ax.set_title(f"LR range test: {lr.get('steps_run')} steps, the rate x{factor:.3f} per step")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _set_value(row: dict, key: str):
    for s in row.get("sets", []):
        k, _, v = s.partition("=")
        if k == key:
            return v
    return None


def steps_curves(rows: list[dict], path: Path, task: str | None) -> Path:
    """Validation loss against epochs, optimizer steps and training seconds (batch-size study)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    colors = _colors(len(rows))
    for row, color in zip(rows, colors):
        h = row.get("history", {})
        va = _vals(h.get("val_loss", []))
        style = "-" if row.get("group") != "equal steps" else "--"
        lab = row["variant"]
        axes[0].plot(h.get("epoch", []), va, style, color=color, marker="o", ms=3, label=lab)
        axes[1].plot(h.get("steps", []), va, style, color=color, marker="o", ms=3, label=lab)
        axes[2].plot(_vals(h.get("seconds", [])), va, style, color=color, marker="o", ms=3, label=lab)
    for ax, xl in zip(axes, ("epoch", "optimizer steps", "training seconds (this machine)")):
        ax.set_xlabel(xl)
        ax.set_ylabel("validation " + _loss_label(task))
        ax.grid(alpha=0.3)
    axes[1].set_xscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle("study batch-size: equal epochs (solid) and equal optimizer steps (dashed)")
    return save_figure(fig, path)


def params_plot(rows: list[dict], path: Path) -> Path:
    """Test accuracy (or the task's headline) against the parameter count."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    metric = next((m for m in ("accuracy", "roc_auc", "rmse") if m in (rows[0].get("test") or {})), None)
    for row, color in zip(rows, _colors(len(rows))):
        y = (row.get("test") or {}).get(metric)
        if y is None:
            continue
        ax.scatter(
            row["parameters"], y, color=color, s=60, label=f"{row['variant']}: {row['parameters']:,} weights"
        )
        ax.annotate(
            row["variant"], (row["parameters"], y), textcoords="offset points", xytext=(6, 4), fontsize=8
        )
    ax.set_xscale("log")
    ax.set_xlabel("trainable + non-trainable parameters (log scale)")
    ax.set_ylabel(f"test {metric}")
    ax.set_title("parameters against test score, same data and epochs")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def augment_grid(
    splits, path: Path, seed: int = 42, n_images: int = 6, levels=("none", "light", "strong")
) -> Path:
    """The same training images through each augmentation level (training mode), one row per level."""
    import keras

    from tfdl.data.augment import augmentation

    plt = _plt()
    x = np.asarray(splits.x_train[:n_images]).astype("float32") / 255.0
    if x.ndim == 3:
        x = x[..., None]
    keras.utils.set_random_seed(seed)
    fig, axes = plt.subplots(len(levels), n_images, figsize=(1.6 * n_images, 1.7 * len(levels)))
    for r, level in enumerate(levels):
        aug = augmentation(level, seed=seed + r)
        out = np.asarray(aug(x, training=True)) if aug is not None else x
        for c in range(n_images):
            ax = axes[r, c]
            img = np.clip(out[c], 0, 1)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                      vmin=0, vmax=1)  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(level, fontsize=10)
    fig.suptitle(
        "augment=none / light / strong: the same training images, as the model sees them in training"
    )
    return save_figure(fig, path)


def roc_plot(rows: list[dict], path: Path) -> Path | None:
    """Test ROC curves of the model and of every baseline on one set of axes, with their AUCs."""
    th = next((r["threshold"] for r in rows if r.get("threshold")), None)
    if th is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for (name, c), color in zip(th["roc"].items(), _colors(len(th["roc"]))):
        ax.plot(c["fpr"], c["tpr"], color=color, lw=2 if not name.startswith("baseline") else 1.3,
                label=f"{name} (AUC {c['auc']:.3f})")  # fmt: skip
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="chance (AUC 0.5)")
    ax.set_xlabel("false positive rate (share of negatives flagged)")
    ax.set_ylabel(f"true positive rate (recall of '{th['positive_class']}')")
    ax.set_title("ROC on the test split: the model and its baselines")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def threshold_plot(rows: list[dict], path: Path) -> Path | None:
    """Validation precision, recall and F1 of the positive class against the decision threshold."""
    th = next((r["threshold"] for r in rows if r.get("threshold")), None)
    if th is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    g = th["grid"]
    ax.plot(g, th["val_precision"], label="precision")
    ax.plot(g, th["val_recall"], label="recall")
    ax.plot(g, th["val_f1"], label="F1", lw=2)
    ax.axvline(0.5, color="0.5", ls=":", label="default 0.5")
    ax.axvline(th["chosen"], color="C3", ls="--", label=f"chosen on validation: {th['chosen']:g}")
    ax.set_xlabel("decision threshold on the predicted probability of " + repr(th["positive_class"]))
    ax.set_ylabel("score on the validation split (0-1)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"precision / recall / F1 of '{th['positive_class']}' against the threshold (validation)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
