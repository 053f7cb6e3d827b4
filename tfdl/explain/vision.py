"""Grad-CAM, Grad-CAM++ and saliency maps for image classifiers, computed with tf-keras-vis.

Grad-CAM (Selvaraju et al., 2017) weights the last convolution's feature maps by the gradient of a class
score; Grad-CAM++ (Chattopadhay et al., 2018) weights them with higher-order terms; SmoothGrad saliency
(Smilkov et al., 2017) is the averaged input gradient.

Nested models (a transfer-learning base called inside an outer model) are a known failure of Grad-CAM
implementations: the inner convolution's output tensor is not connected to the outer model's input, so
``Model(outer.inputs, inner_conv.output)`` raises. :func:`flatten_model` re-executes the graph with every
nested functional model expanded into fresh copies of its layers (same weights), so the last convolution
becomes a node of one flat graph that tf-keras-vis can tap.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np

from tfdl.errors import TfdlError
from tfdl.explain import explain_dir, run_labels, target_index

METHODS = ("gradcam", "gradcam++", "saliency")
CONV_TYPES = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)


def _graph(layer):
    """The functional graph of a nested model (Functional, or a built Sequential's), else None."""
    from keras.src.models.functional import Functional

    if isinstance(layer, Functional):
        return layer
    inner = getattr(layer, "_functional", None) if isinstance(layer, keras.Sequential) else None
    return inner if isinstance(inner, Functional) else None


def last_conv_layer(model: keras.Model) -> keras.layers.Layer:
    """The last convolution of ``model`` in graph order, searching inside nested models too."""
    for layer in reversed(model.layers):
        if isinstance(layer, CONV_TYPES):
            return layer
        if isinstance(layer, keras.Model):
            try:
                return last_conv_layer(layer)
            except TfdlError:
                continue
    raise TfdlError(
        f"model '{model.name}' has no convolution layer, so Grad-CAM cannot run; "
        "use --method saliency (or train a cnn)"
    )


def flat_layers(model):
    """Every layer of ``model``, nested models expanded."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from flat_layers(layer)
        else:
            yield layer


def flatten_model(model: keras.Model) -> tuple[keras.Model, dict]:
    """A single-level copy of ``model`` taking float32 pixels; returns (flat model, {original layer: copy}).

    Shapes: same input ``(N, H, W[, C])`` (float32 instead of uint8, so input gradients exist) and outputs.
    Every layer is re-created from its config and given the original's weights, so each copy's first
    call (what ``layer.output`` refers to) is in the flat graph.
    """
    graph = _graph(model)
    if graph is None:
        raise TfdlError(f"model '{model.name}' is not a functional Keras model; cannot explain it")
    copies: dict = {}
    inputs = [
        keras.Input(t.shape[1:], dtype="float32", name=f"pixels_{i}") for i, t in enumerate(graph.inputs)
    ]
    outputs = _run(graph, inputs, copies)
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=f"{model.name}_flat"), copies


def _run(graph, inputs, copies: dict):
    def operation_fn(op):
        inner = _graph(op) if isinstance(op, keras.Model) else None
        if inner is not None:
            # training=... and masks of the nested call are dropped: explanation is inference.
            return lambda *args, **kwargs: _run(inner, list(args[:1]) if len(args) else [], copies)
        if not isinstance(op, keras.layers.Layer):
            return op
        if getattr(op, "explain_identity", False):
            # test-time views (FlipViews / MeanOfViews): explain the image as given, one view
            return lambda *args, **kwargs: args[0]

        def call(*args, **kwargs):
            config = op.get_config()
            if "dtype" in config:
                config["dtype"] = "float32"  # a bf16-trained model's maps in bf16 break tf-keras-vis' zoom
            clone = op.__class__.from_config(config)
            out = clone(*args, **kwargs)
            if op.weights:
                clone.set_weights(op.get_weights())
            copies[op] = clone
            return out

        return call

    args = inputs[0] if len(inputs) == 1 else inputs
    return graph._run_through_graph(args, operation_fn=operation_fn)


def heatmaps(
    model: keras.Model, images: np.ndarray, method: str = "gradcam", classes=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explain ``images`` (N, H, W[, C]) uint8 for ``classes`` (an int, N ints, or None = predicted).

    Returns ``(maps, classes, probs)``: maps (N, H, W) float32 in [0, 1] (1 = most important),
    classes (N,) int, probs (N, num_classes) the model's softmax scores.
    """
    from tf_keras_vis.utils.scores import CategoricalScore

    if method not in METHODS:
        raise TfdlError(f"unknown explanation method '{method}'; choose one of: {', '.join(METHODS)}")
    x = np.asarray(images, dtype=np.float32)
    flat, copies = flatten_model(model)
    probs = np.asarray(keras.ops.convert_to_numpy(flat(x, training=False)), dtype=np.float32)
    if any(getattr(layer, "explain_identity", False) for layer in flat_layers(model)):
        # test-time views: the maps explain one view, the class and scores are the model's own answer
        probs = np.asarray(model.predict(np.asarray(images), verbose=0), dtype=np.float32)
    n = len(x)
    if classes is None:
        cls = probs.argmax(axis=1)
    else:
        cls = np.broadcast_to(np.asarray(classes, dtype=np.int64), (n,)).copy()
    score = CategoricalScore([int(c) for c in cls])
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # scipy.ndimage.interpolation, inside tf-keras-vis
        # tf-keras-vis calls the model with a list of one input; Keras warns about the structure.
        warnings.filterwarnings("ignore", message="The structure of `inputs`", category=UserWarning)
        if method == "saliency":
            from tf_keras_vis.saliency import Saliency

            maps = Saliency(flat, clone=False)(score, x, smooth_samples=8, smooth_noise=0.1)
        else:
            from tf_keras_vis.gradcam import Gradcam
            from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus

            conv = copies[last_conv_layer(model)]
            cam = (Gradcam if method == "gradcam" else GradcamPlusPlus)(flat, clone=False)
            maps = cam(score, x, penultimate_layer=conv, seek_penultimate_conv_layer=False)
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32).reshape(n, x.shape[1], x.shape[2]))
    return np.clip(maps, 0.0, 1.0), cls, probs


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a (H, W) heatmap in [0, 1] (jet colours) over an image (H, W[, C]) uint8 -> (H, W, 3) uint8."""
    import matplotlib

    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    heat = matplotlib.colormaps["jet"](np.clip(heatmap, 0, 1))[..., :3] * 255.0
    return np.clip((1 - alpha) * img + alpha * heat, 0, 255).astype(np.uint8)


def _show(ax, image) -> None:
    img = np.asarray(image)
    ax.imshow(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
    ax.axis("off")


def save_panel(image: np.ndarray, maps: list[tuple[str, np.ndarray]], title: str, path: Path) -> Path:
    """One PNG: the image, then one overlay per (caption, heatmap (H, W)) pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdl.figures import save_figure

    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(2.6 * (1 + len(maps)), 2.9))
    _show(axes[0], image)
    axes[0].set_title("image", fontsize=9)
    for ax, (caption, heat) in zip(axes[1:], maps):
        ax.imshow(overlay(image, heat))
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def _inputs(model, cfg, input_path) -> tuple[np.ndarray, list[str]]:
    """(images uint8 (N, H, W, C), names): the --input file/folder, else the first 4 test images."""
    if input_path is not None:
        from tfdl.data.images import read_images

        shape = model.inputs[0].shape
        channels = shape[3] if len(shape) == 4 else 1
        x, names = read_images(input_path, (int(shape[1]), int(shape[2])), int(channels))
        return (x if len(shape) == 4 else x[..., 0]), names
    from tfdl.app import get_app

    splits = get_app(cfg.app).load_data(cfg)
    return splits.x_test[:4], [f"test_{i}" for i in range(min(4, len(splits.x_test)))]


def explain_images(model, cfg, run_dir: Path, method: str, input_path=None, target=None) -> list[Path]:
    """Write one PNG per image to ``run_dir/explain/<method>/``: the image, the map for the predicted
    class and, with ``target`` (a class name or index), the map for that class."""
    images, names = _inputs(model, cfg, input_path)
    labels = run_labels(run_dir, int(model.outputs[0].shape[-1]))
    k = target_index(target, labels)
    maps, pred, probs = heatmaps(model, images, method)
    tmaps = heatmaps(model, images, method, classes=k)[0] if k is not None else None
    out = explain_dir(run_dir, method.replace("+", "p"))
    paths = []
    for i, name in enumerate(names):
        panels = [(f"{method}: {labels[pred[i]]}", maps[i])]
        if tmaps is not None:
            panels.append((f"{method}: {labels[k]} (p={probs[i, k]:.2f})", tmaps[i]))
        title = f"{name}: predicted {labels[pred[i]]} p={probs[i, pred[i]]:.2f}"
        paths.append(save_panel(images[i], panels, title, out / f"{Path(name).stem}.png"))
    return paths


def gradcam(model, cfg, run_dir: Path, input_path=None, target=None) -> list[Path]:
    """``tfdl explain vision --method gradcam``: Grad-CAM overlays (PNG) in run_dir/explain/gradcam/."""
    return explain_images(model, cfg, run_dir, "gradcam", input_path, target)


def gradcam_plus_plus(model, cfg, run_dir: Path, input_path=None, target=None) -> list[Path]:
    """``--method gradcam++``: Grad-CAM++ overlays in run_dir/explain/gradcampp/."""
    return explain_images(model, cfg, run_dir, "gradcam++", input_path, target)


def saliency(model, cfg, run_dir: Path, input_path=None, target=None) -> list[Path]:
    """``--method saliency``: SmoothGrad saliency overlays in run_dir/explain/saliency/."""
    return explain_images(model, cfg, run_dir, "saliency", input_path, target)


EXPLAINERS = {"gradcam": gradcam, "gradcam++": gradcam_plus_plus, "saliency": saliency}


def top_losses(model, splits, probs: np.ndarray, run_dir: Path, k: int = 8) -> tuple[str, str]:
    """Report section: the ``k`` test images with the highest cross-entropy, each with its Grad-CAM
    overlay for the predicted class (image only for a model without convolutions).
    ``probs`` (N_test, num_classes); the figure goes to ``run_dir/plots/top_losses.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdl.figures import save_figure

    y = np.asarray(splits.y_test, dtype=np.int64)
    labels = list(splits.info.labels)
    loss = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))
    idx = np.argsort(-loss)[:k]
    images = splits.x_test[idx]
    try:
        maps, pred, _ = heatmaps(model, images, "gradcam")
    except TfdlError:  # no convolution (mlp): show the images alone
        maps, pred = None, probs[idx].argmax(axis=1)
    cols = 2 if maps is not None else 1
    fig, axes = plt.subplots(len(idx), cols, figsize=(2.4 * cols, 2.3 * len(idx)), squeeze=False)
    rows = ["| # | true | predicted | confidence | loss |", "|---|---|---|---|---|"]
    for r, i in enumerate(idx):
        p = int(probs[i].argmax())
        _show(axes[r, 0], images[r])
        axes[r, 0].set_title(f"#{r + 1} true {labels[y[i]]} / pred {labels[p]} {probs[i, p]:.2f}", fontsize=7)
        if maps is not None:
            axes[r, 1].imshow(overlay(images[r], maps[r]))
            axes[r, 1].set_title(f"Grad-CAM: {labels[pred[r]]}", fontsize=7)
            axes[r, 1].axis("off")
        rows.append(f"| {r + 1} | {labels[y[i]]} | {labels[p]} | {probs[i, p]:.3f} | {loss[i]:.2f} |")
    save_figure(fig, Path(run_dir) / "plots" / "top_losses.png", dpi=100)
    text = (
        "The test images the model gets most wrong (highest cross-entropy), with the Grad-CAM map of the "
        "class it predicted: where it looked.\n\n"
        + "\n".join(rows)
        + "\n\n![top losses](plots/top_losses.png)"
    )
    return "Top-loss test images", text


def confused_pairs(y_true: np.ndarray, probs: np.ndarray, labels: list[str], k: int = 5) -> tuple[str, str]:
    """Report section: the ``k`` most frequent (true -> predicted) mistakes on the test split."""
    y = np.asarray(y_true, dtype=np.int64)
    pred = probs.argmax(axis=1)
    n = len(labels)
    cm = np.bincount(y * n + pred, minlength=n * n).reshape(n, n)
    np.fill_diagonal(cm, 0)
    order = np.argsort(-cm, axis=None)[:k]
    rows = ["| true | predicted as | count | share of the true class |", "|---|---|---|---|"]
    support = np.bincount(y, minlength=n)
    for flat in order:
        t, p = divmod(int(flat), n)
        if cm[t, p] == 0:
            break
        rows.append(f"| {labels[t]} | {labels[p]} | {cm[t, p]} | {cm[t, p] / max(1, support[t]):.1%} |")
    if len(rows) == 2:
        return "Most confused class pairs", "No test mistakes."
    return "Most confused class pairs", "\n".join(rows)


def report_extras(model, splits, preds: dict, run_dir: Path) -> list[tuple[str, str]]:
    """``App.report_extras`` for classifiers of images: top-loss images with Grad-CAM, confused pairs."""
    probs = np.asarray(preds["model"], dtype=np.float32)
    return [
        top_losses(model, splits, probs, run_dir),
        confused_pairs(splits.y_test, probs, splits.info.labels),
    ]
