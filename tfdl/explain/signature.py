"""Grad-CAM as a SavedModel signature: the exported version explains itself, with no Keras file beside it.

``tfdl export`` (SavedModel) adds a ``gradcam`` signature to image classifiers that have a convolution:
``{<input>: uint8 (N, H, W, C), "class_id": int32 (N,), -1 = predicted} -> {"heatmap": float32 (N, H, W)
in [0, 1], "class": int32 (N,) the class explained, "scores": float32 (N, K) = serving_default's
outputs}``. It runs Grad-CAM (Selvaraju et al., 2017) inside the graph: the gradient of the class's score
*before* the softmax (the paper's y^c; the softmax output saturates at p = 1.0 in float32 and its
gradient vanishes) with respect to the last convolution layer's output (the layer ``tfdl explain
--method gradcam`` taps too), averaged over space as channel weights, ReLU of the weighted sum,
bilinearly resized to the input size and divided by its maximum per image. The conv output, not the
activation after its BatchNormalization: BN's shift makes empty background a constant non-zero feature
there, and on a Fashion-MNIST CNN the map then peaked on the object for 22 of 40 test images against 32
of 40 with the conv output. The predicted class (``class_id`` -1) is the argmax of ``scores``. The
server's ``:explain`` route calls it; TensorFlow Serving serves it too (``signature_name: "gradcam"``).
A model whose output is not a softmax/sigmoid layer (a calibration temperature applied after it) is
explained through the log of its served probability.

Nested models (a reused base inside an outer model) are flattened first (``tfdl.explain.vision``), so
the signature then holds a float32 copy of the weights beside the served ones.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tfdl.errors import TfdlError
from tfdl.explain.vision import _graph, flat_layers, flatten_model, last_conv_layer

SIGNATURE = "gradcam"


def _head(graph: keras.Model) -> tuple[Any, Any]:
    """(tensor feeding the class scores, fn pre -> scores before the squashing activation)."""
    import tensorflow as tf

    op = graph.outputs[0]._keras_history[0]
    act = getattr(getattr(op, "activation", None), "__name__", "")
    if isinstance(op, keras.layers.Activation) and act in ("softmax", "sigmoid"):
        return op.input, lambda pre: tf.cast(pre, tf.float32)
    if isinstance(op, keras.layers.Dense) and act in ("softmax", "sigmoid"):

        def linear(pre):
            z = tf.matmul(tf.cast(pre, tf.float32), tf.cast(op.kernel, tf.float32))
            return z + tf.cast(op.bias, tf.float32) if op.use_bias else z

        return op.input, linear
    # Unknown head: the log of the probability (monotone in the class score, no saturation to 0 in log).
    return graph.outputs[0], lambda p: tf.math.log(tf.maximum(tf.cast(p, tf.float32), 1e-30))


def gradcam_taps(model: keras.Model) -> tuple[keras.Model, Any]:
    """A Keras model image -> [feature maps (N, h, w, c), head input, class probabilities (N, K)] sharing
    ``model``'s weights (a flattened copy for nested models), and the head fn (head input -> scores).
    Raises TfdlError when ``model`` is not a single-input image model with one (N, K) output and a conv."""
    ins, outs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(ins) != 1 or len(ins[0].shape) != 4 or len(outs) != 1 or len(outs[0].shape) != 2:
        raise TfdlError("Grad-CAM needs one image input (N, H, W, C) and one (N, classes) output")
    last_conv_layer(model)  # raises when there is no convolution anywhere (an MLP)
    graph = _graph(model)
    if graph is None or any(isinstance(layer, keras.Model) for layer in graph.layers):
        graph = flatten_model(model)[0]
    feature = last_conv_layer(graph)
    pre, head = _head(graph)
    return keras.Model(graph.inputs[0], [feature.output, pre, graph.outputs[0]], name="gradcam_taps"), head


def gradcam_endpoint(model: keras.Model):
    """(function, input signature, taps model) for ``ExportArchive.add_endpoint``; raises TfdlError when
    the model cannot have one (see :func:`gradcam_taps`). Inputs: the model's image input and ``class_id``
    int32 (N,): the class to explain per image, -1 for the predicted one (the argmax of the scores; a
    one-column sigmoid output counts as two classes, [1 - p, p])."""
    import tensorflow as tf

    taps, head = gradcam_taps(model)
    inp = model.inputs[0]
    height, width = int(inp.shape[1]), int(inp.shape[2])
    signature = [
        tf.TensorSpec((None, *inp.shape[1:]), inp.dtype, name=inp.name.split(":")[0] or "image"),
        tf.TensorSpec((None,), tf.int32, name="class_id"),
    ]
    in_dtype = taps.inputs[0].dtype
    one_column = int(model.outputs[0].shape[-1]) == 1
    # Test-time views (flip TTA: FlipViews/MeanOfViews) are skipped by the flat copy, which explains the
    # image as given; the class and scores are then the model's own (averaged) answer.
    views = any(getattr(layer, "explain_identity", False) for layer in flat_layers(model))

    def gradcam(image, class_id):
        x = tf.cast(image, in_dtype)
        served = tf.cast(model(image, training=False), tf.float32) if views else None
        with tf.GradientTape() as tape:
            maps, pre, probs = taps(x, training=False)
            probs = tf.cast(probs, tf.float32) if served is None else served
            scores, view = head(pre), probs
            if one_column:  # binary sigmoid: class 0 is "not positive"
                scores, view = tf.concat([-scores, scores], -1), tf.concat([1.0 - probs, probs], -1)
            n_classes = tf.shape(view)[-1]
            k = tf.where(
                class_id >= 0, tf.minimum(class_id, n_classes - 1), tf.argmax(view, -1, output_type=tf.int32)
            )
            chosen = tf.reduce_sum(scores * tf.one_hot(k, n_classes, dtype=scores.dtype), -1)
        grads = tf.cast(tape.gradient(chosen, maps), tf.float32)
        weights = tf.reduce_mean(grads, axis=[1, 2])  # (N, c): how much each map raises the class score
        cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", tf.cast(maps, tf.float32), weights))
        cam = tf.image.resize(cam[..., None], (height, width), method="bilinear")[..., 0]
        cam = tf.math.divide_no_nan(cam, tf.reduce_max(cam, axis=[1, 2], keepdims=True))
        return {"heatmap": tf.clip_by_value(cam, 0.0, 1.0), "class": k, "scores": probs}

    return gradcam, signature, taps


def call_gradcam(fn, images: np.ndarray, classes=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a loaded ``gradcam`` signature on images (N, H, W, C) for ``classes`` (N ints, or None = the
    predicted ones): (heatmaps (N, H, W), explained classes (N,), scores = serving_default's outputs)."""
    import tensorflow as tf

    specs = fn.structured_input_signature[1]
    image = next(k for k in specs if k != "class_id")
    n = len(images)
    cls = (
        np.full(n, -1, np.int32) if classes is None else np.broadcast_to(np.asarray(classes, np.int32), (n,))
    )
    out = fn(
        **{image: tf.constant(np.asarray(images), dtype=specs[image].dtype), "class_id": tf.constant(cls)}
    )
    return np.asarray(out["heatmap"]), np.asarray(out["class"]), np.asarray(out["scores"])
