"""Grad-CAM / Grad-CAM++ / saliency on a plain CNN and on a nested model (a base inside an outer model)."""

import numpy as np
import pytest

pytest.importorskip("tf_keras_vis")
keras = pytest.importorskip("keras")

from tfdl.errors import TfdlError  # noqa: E402
from tfdl.explain import vision as V  # noqa: E402
from tfdl.models import build_cnn, build_mlp, build_resnet  # noqa: E402

METHODS = ["gradcam", "gradcam++", "saliency"]


def _cnn():
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1), dtype="uint8")
    rescale = lambda t: keras.layers.Rescaling(1 / 255)(t)  # noqa: E731
    return build_cnn(None, 3, filters=(4, 8), dense_units=8, inputs=inp, preprocess=rescale)


def _resnet():
    """The default vision model's factory: the last conv sits in a residual block at 1/4 resolution."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1), dtype="uint8")
    rescale = lambda t: keras.layers.Rescaling(1 / 255)(t)  # noqa: E731
    return build_resnet(None, 3, filters=(4, 8), inputs=inp, preprocess=rescale)


def _nested():
    """A trained-style body cut out of a CNN, called inside an outer model (as transfer learning does)."""
    inner = _cnn()
    base = keras.Model(inner.get_layer("block1_conv1").input, inner.get_layer("fc_act").output, name="base")
    inp = keras.Input((20, 20, 1), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inp)
    out = keras.layers.Dense(2, activation="softmax", name="predictions")(base(x, training=False))
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(3, 20, 20, 1), dtype=np.uint8)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("make", [_cnn, _resnet, _nested], ids=["plain", "resnet", "nested"])
def test_heatmap_per_image_in_unit_range(make, method, images):
    model = make()
    maps, cls, probs = V.heatmaps(model, images, method)
    assert maps.shape == (3, 20, 20) and maps.dtype == np.float32
    assert 0.0 <= maps.min() and maps.max() <= 1.0 and maps.max() > 0.5  # normalised, not all zero
    np.testing.assert_allclose(probs, model.predict(images, verbose=0), atol=1e-5)  # flat copy == model
    np.testing.assert_array_equal(cls, probs.argmax(1))


def test_flip_tta_resnet_explains_one_view_and_reports_the_models_answer(images):
    """The default vision model averages an image and its mirror inside the model (flip TTA); Grad-CAM
    explains the image as given, and the scores are the model's own (averaged) ones."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1), dtype="uint8")
    rescale = lambda t: keras.layers.Rescaling(1 / 255)(t)  # noqa: E731
    model = build_resnet(None, 3, filters=(4, 8), inputs=inp, preprocess=rescale, flip_tta=True)
    maps, cls, probs = V.heatmaps(model, images, "gradcam")
    assert maps.shape == (3, 20, 20) and maps.max() > 0.5
    np.testing.assert_allclose(probs, model.predict(images, verbose=0), atol=1e-5)
    assert V.last_conv_layer(model).name == "stage2_block1_conv2"


def test_resnet_last_conv_is_the_last_residual_conv():
    assert V.last_conv_layer(_resnet()).name == "stage2_block1_conv2"


def test_nested_last_conv_found_inside_the_base():
    model = _nested()
    assert V.last_conv_layer(model).name == "block2_conv2"
    # the naive tap fails on nested models: the inner conv output is not connected to the outer input
    with pytest.raises(ValueError):
        keras.Model(model.inputs, V.last_conv_layer(model).output)


def test_chosen_class_changes_the_map(images):
    model = _cnn()
    a, cls_a, _ = V.heatmaps(model, images, "gradcam", classes=0)
    b, cls_b, _ = V.heatmaps(model, images, "gradcam", classes=2)
    assert set(cls_a) == {0} and set(cls_b) == {2}
    assert not np.allclose(a, b)


def test_mlp_has_no_conv_clear_error(images):
    inp = keras.Input((20, 20, 1), dtype="uint8")
    model = build_mlp(
        None, 3, units=(8,), inputs=inp, preprocess=lambda t: keras.layers.Rescaling(1 / 255)(t)
    )
    with pytest.raises(TfdlError, match="saliency"):
        V.heatmaps(model, images, "gradcam")
    assert V.heatmaps(model, images, "saliency")[0].shape == (3, 20, 20)


def test_explainer_writes_pngs_for_input_and_target(tmp_path, images):
    from PIL import Image

    model = _nested()
    img_dir = tmp_path / "in"
    img_dir.mkdir()
    for i in range(2):
        Image.fromarray(images[i, ..., 0]).save(img_dir / f"im{i}.png")
    paths = V.gradcam(model, None, tmp_path / "run", input_path=str(img_dir), target="1")
    assert [p.name for p in paths] == ["im0.png", "im1.png"]
    assert all(p.parent == tmp_path / "run" / "explain" / "gradcam" for p in paths)
    assert Image.open(paths[0]).size[0] > 300  # image + predicted-class + target-class panels
    with pytest.raises(TfdlError, match="--class"):
        V.saliency(model, None, tmp_path / "run", input_path=str(img_dir), target="zebra")


def test_confused_pairs_counts_mistakes():
    y = np.array([0, 0, 0, 1, 1, 2])
    probs = np.eye(3)[[1, 1, 0, 1, 0, 2]]
    title, md = V.confused_pairs(y, probs, ["a", "b", "c"])
    lines = md.splitlines()
    assert lines[2] == "| a | b | 2 | 66.7% |" and lines[3] == "| b | a | 1 | 50.0% |" and len(lines) == 4
