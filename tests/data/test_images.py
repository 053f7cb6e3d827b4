import numpy as np
import pytest

from tfdl.data.images import load_image_folder, read_fashion_mnist_dir, read_images
from tfdl.errors import TfdlError


def test_folder_loads_resized_grayscale(image_folder):
    x, y, labels, notes = load_image_folder(image_folder, 16)
    assert x.shape == (120, 16, 16, 1) and x.dtype == np.uint8
    assert labels == ["bright", "dark", "mid"] and np.bincount(y).tolist() == [40, 40, 40]
    assert notes == []


def test_corrupt_file_is_skipped_and_counted(image_folder):
    (image_folder / "dark" / "broken.png").write_bytes(b"\x89PNG not really")
    x, y, labels, notes = load_image_folder(image_folder, 16)
    assert len(x) == 120
    assert "skipped 1 unreadable" in notes[0] and "broken.png" in notes[0]


def test_colour_images_give_three_channels(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("RGB", (10, 14), (i * 50, 0, 200)).save(tmp_path / c / f"{i}.jpg")
    x, _, _, _ = load_image_folder(tmp_path, 8)
    assert x.shape == (6, 8, 8, 3)


def test_one_class_and_missing_folder_errors(tmp_path, image_folder):
    with pytest.raises(TfdlError, match="not found"):
        load_image_folder(tmp_path / "missing", 16)
    one = tmp_path / "one"
    (one / "only").mkdir(parents=True)
    with pytest.raises(TfdlError, match="need at least 2"):
        load_image_folder(one, 16)
    with pytest.raises(TfdlError, match="not a readable image"):
        bad = tmp_path / "x.png"
        bad.write_text("hello")
        read_images(bad, 16, 1)


def test_idx_reader_round_trip(tmp_path):
    import gzip

    imgs = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    labs = np.array([3, 7], dtype=np.uint8)
    for prefix in ("train", "t10k"):
        with gzip.open(tmp_path / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(b"\x00" * 16 + imgs.tobytes())
        with gzip.open(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(b"\x00" * 8 + labs.tobytes())
    xtr, ytr, xte, yte = read_fashion_mnist_dir(tmp_path)
    assert xtr.shape == (2, 28, 28, 1) and (xtr[..., 0] == imgs).all() and ytr.tolist() == [3, 7]
