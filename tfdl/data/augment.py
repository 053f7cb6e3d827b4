"""Augmentation as Keras preprocessing layers: inside the model, active only in training."""

from __future__ import annotations


def augmentation(level: str, *, flip: bool = True, seed: int = 42):
    """A ``keras.Sequential`` of random layers for images in [0, 1], or None for ``none``.

    flip: horizontal flip only (the cheap augmentation of fast small-image recipes such as airbench).
    shift: flip and a random translation of up to 1/14 of each side (2 pixels of 28; the padded random crop
    of small-image recipes).
    light: flip, rotation +-5%, zoom +-10%, translation +-10%.
    strong: the same wider (10%/20%/15%) plus contrast and Gaussian noise.
    Random layers are identity at inference, so the exported model is unaffected.
    """
    import keras
    from keras import layers

    if level == "none":
        return None
    if level not in ("flip", "shift", "light", "strong"):
        raise ValueError(f"augment must be none, flip, shift, light or strong. Received: augment={level}")
    if level == "flip":
        return keras.Sequential([layers.RandomFlip("horizontal", seed=seed)], name="augment_flip")
    strong = level == "strong"
    steps = []
    if flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if level == "shift":
        steps.append(layers.RandomTranslation(1 / 14, 1 / 14, fill_mode="constant", seed=seed))
        return keras.Sequential(steps, name="augment_shift")
    steps += [
        layers.RandomRotation(0.10 if strong else 0.05, fill_mode="constant", seed=seed),
        layers.RandomZoom(0.20 if strong else 0.10, fill_mode="constant", seed=seed),
        layers.RandomTranslation(
            0.15 if strong else 0.10, 0.15 if strong else 0.10, fill_mode="constant", seed=seed
        ),
    ]
    if strong:
        steps += [layers.RandomContrast(0.2, seed=seed), layers.GaussianNoise(0.05, seed=seed)]
    return keras.Sequential(steps, name=f"augment_{level}")
