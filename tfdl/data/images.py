"""Image sources: Fashion-MNIST (embedded / TFDS) and user folders of class sub-folders.

Loader order (first that applies wins): ``--data PATH`` > ``$TFDL_DATA_DIR`` > the Debian package's
files > TFDS ``fashion_mnist`` (only when already prepared, or with ``data.download=true``) > an error
that names the fix. Never a silent download.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_LABELS = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
FIX = (
    "install it with `make data` (runs `apt-get install -y dataset-fashion-mnist` as root), "
    "set TFDL_DATA_DIR to a folder holding the four Fashion-MNIST .gz files, or pass --data FOLDER"
)


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)


def read_fashion_mnist_dir(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(x_train, y_train, x_test, y_test) from the idx .gz files in ``folder`` (or its fashion-mnist/)."""
    for d in (folder, folder / "fashion-mnist", folder / "fashion_mnist"):
        names = [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
        if all((d / n).is_file() for n in names):
            xtr = _read_idx(d / names[0], 16).reshape(-1, 28, 28, 1)
            ytr = _read_idx(d / names[1], 8).astype(np.int64)
            xte = _read_idx(d / names[2], 16).reshape(-1, 28, 28, 1)
            yte = _read_idx(d / names[3], 8).astype(np.int64)
            return xtr, ytr, xte, yte
    return None


def load_fashion_mnist(download: bool = False) -> tuple[tuple[np.ndarray, ...], str]:
    """Fashion-MNIST as uint8 (N, 28, 28, 1) images and int labels, plus where it came from."""
    env = os.environ.get("TFDL_DATA_DIR")
    if env:
        found = read_fashion_mnist_dir(Path(env))
        if found:
            return found, f"TFDL_DATA_DIR ({Path(env).name})"
    found = read_fashion_mnist_dir(DEBIAN_DIR)
    if found:
        return found, "Debian package dataset-fashion-mnist"
    try:
        return _load_tfds("fashion_mnist", download), "TFDS fashion_mnist"
    except TfdlError:
        raise
    except Exception as exc:  # noqa: BLE001  (any TFDS failure means: not available offline)
        raise TfdlError(f"Fashion-MNIST not found ({type(exc).__name__}); {FIX}") from None


def _load_tfds(name: str, download: bool):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise TfdlError(f"Fashion-MNIST not found and tensorflow-datasets is not installed; {FIX}") from None
    kwargs = {"data_dir": os.environ.get("TFDS_DATA_DIR")} if os.environ.get("TFDS_DATA_DIR") else {}
    try:
        (xtr, ytr), (xte, yte) = tfds.as_numpy(
            tfds.load(
                name, split=["train", "test"], batch_size=-1, as_supervised=True, download=download, **kwargs
            )
        )
    except AssertionError:
        raise TfdlError(f"Fashion-MNIST not found (TFDS has not prepared it); {FIX}") from None
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


# A folder whose images all share one size up to this (both sides) keeps it; else FOLDER_SIZE square.
KEEP_SIZE_MAX = 64
FOLDER_SIZE = 64


def load_image_folder(
    folder: str | Path, image_size: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Images from ``folder/<class>/*.png|jpg`` as uint8 (N, H, W, C) plus labels.

    Any size, grayscale or colour. ``image_size`` None (the default): when every image has the same
    size and both sides are <= ``KEEP_SIZE_MAX`` (64) they keep it (28x28 digits stay 28x28: no
    upscaling, no cost for pixels that carry nothing); otherwise all are resized to ``FOLDER_SIZE``
    (64) square. An int resizes all to that square. ``channels`` None = 1 when every image is
    grayscale, else 3. Unreadable files are skipped and reported in the notes.
    Returns (x, y, class_names, notes).
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(folder)
    if not root.exists():
        raise TfdlError(f"--data folder not found: '{root}' (give a folder of class sub-folders of images)")
    if root.is_file():
        raise TfdlError(
            f"--data for vision expects a folder of class sub-folders of images; got the file '{root}'"
        )
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise TfdlError(
            f"--data folder '{root}' has {len(classes)} class sub-folder(s); need at least 2 "
            "(one sub-folder of images per class)"
        )
    images, labels, skipped, modes = [], [], [], set()
    for ci, cname in enumerate(classes):
        for f in sorted((root / cname).rglob("*")):
            if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    im.load()
                    modes.add("L" if im.mode in ("L", "1", "I;16", "I") else "RGB")
                    images.append(im.convert("RGB"))
                    labels.append(ci)
            except (UnidentifiedImageError, OSError, ValueError):
                skipped.append(f"{cname}/{f.name}")
    if not images:
        raise TfdlError(f"no readable images (.png/.jpg/...) under '{root}'; check the folder")
    counts = np.bincount(labels, minlength=len(classes))
    empty = [classes[i] for i, c in enumerate(counts) if c == 0]
    if empty:
        raise TfdlError(
            f"class folder(s) without readable images: {', '.join(empty)}; add images or remove them"
        )
    if channels is None:
        channels = 1 if modes == {"L"} else 3
    size = folder_image_size({im.size for im in images}, image_size)  # (width, height)
    arr = np.stack(
        [
            np.asarray(
                (im if im.size == size else im.resize(size, Image.BILINEAR)).convert(
                    "L" if channels == 1 else "RGB"
                ),
                dtype=np.uint8,
            )
            for im in images
        ]
    )
    if channels == 1:
        arr = arr[..., None]
    notes = []
    if skipped:
        shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        notes.append(f"skipped {len(skipped)} unreadable image file(s): {shown}")
    return arr, np.asarray(labels, dtype=np.int64), classes, notes


def folder_image_size(sizes: set[tuple[int, int]], image_size: int | None) -> tuple[int, int]:
    """The (width, height) every image of a folder is brought to: ``image_size`` square when given;
    else the images' own size when they all share one with both sides <= KEEP_SIZE_MAX; else
    FOLDER_SIZE square."""
    if image_size is not None:
        return image_size, image_size
    if len(sizes) == 1:
        (w, h) = next(iter(sizes))
        if max(w, h) <= KEEP_SIZE_MAX:
            return w, h
    return FOLDER_SIZE, FOLDER_SIZE


def read_images(
    path: str | Path, image_size: int | tuple[int, int], channels: int
) -> tuple[np.ndarray, list[str]]:
    """One image file or a folder of them (predict input) as uint8 (N, H, W, channels);
    ``image_size`` is a square side or the model's (height, width)."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES) if p.is_dir() else [p]
    if not p.exists():
        raise TfdlError(f"--input not found: '{p}' (give an image file or a folder of images)")
    out, names = [], []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("L" if channels == 1 else "RGB")
                if im.size != (width, height):
                    im = im.resize((width, height), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError):
            raise TfdlError(
                f"'{f}' is not a readable image (PNG/JPEG expected); replace or remove it"
            ) from None
        out.append(arr[..., None] if channels == 1 else arr)
        names.append(f.name)
    if not out:
        raise TfdlError(f"no images found in '{p}' (.png/.jpg/.jpeg expected)")
    return np.stack(out), names
