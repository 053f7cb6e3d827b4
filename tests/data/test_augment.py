"""`augment=shift`: flips and moves images by at most 2 pixels of 28 in training, never at inference."""

from __future__ import annotations

import numpy as np
import pytest


def test_shift_moves_by_at_most_two_pixels_in_training_only():
    from tfdl.data.augment import augmentation

    aug = augmentation("shift", seed=3)
    img = np.zeros((64, 28, 28, 1), np.float32)
    img[:, 12:16, 12:16] = 1.0  # a centred square: a flip leaves it in place, a shift moves it
    np.testing.assert_array_equal(np.asarray(aug(img, training=False)), img)
    out = np.asarray(aug(img, training=True))
    moved = 0
    for o in out:
        rows, cols = np.nonzero(o[..., 0] > 0.5)
        assert rows.size, "the square left the image"
        dr, dc = rows.min() - 12, cols.min() - 12
        assert abs(dr) <= 2 and abs(dc) <= 2, (dr, dc)
        moved += bool(dr or dc)
    assert moved >= 32  # most of 64 images moved


def test_unknown_level_names_the_choices():
    from tfdl.data.augment import augmentation

    with pytest.raises(ValueError, match="none, flip, shift, light or strong"):
        augmentation("crop")
