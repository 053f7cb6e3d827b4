"""`tfdl bench vision-augment`: does augmentation narrow overfitting? Train vs validation accuracy gap.

The vision CNN on 5,000 Fashion-MNIST training images, same seed and budget, with --set augment=none,
light and strong; validation = the pipeline's validation split (9,000 images).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIMIT, EPOCHS = 5_000, 8


def main() -> None:
    import keras

    from apps.vision import APP
    from tfdl.bench import record
    from tfdl.data.splits import limit_train
    from tfdl.pipeline import resolve_config

    rows = []
    for level in ("none", "light", "strong"):
        cfg = resolve_config(APP, {}, [f"augment={level}", f"train.epochs={EPOCHS}"])
        splits = limit_train(APP.load_data(cfg), LIMIT, 0)
        keras.utils.set_random_seed(0)
        model = APP.models["cnn"](splits, cfg)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        t0 = time.perf_counter()
        model.fit(splits.x_train, splits.y_train, epochs=EPOCHS, batch_size=128, verbose=0)
        secs = time.perf_counter() - t0
        # train accuracy measured in inference mode (augmentation off), like validation
        tr = float((model.predict(splits.x_train, verbose=0).argmax(1) == splits.y_train).mean())
        va = float((model.predict(splits.x_val, verbose=0).argmax(1) == splits.y_val).mean())
        rows.append(f"| {level} | {tr:.3f} | {va:.3f} | {tr - va:+.3f} | {secs:.0f} |")
    lines = [
        "| augment | train accuracy | val accuracy | gap (train - val) | train seconds |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"CNN (default vision model) on {LIMIT:,} training images, {EPOCHS} epochs, Adam 1e-3, batch 128, "
        "seed 0; accuracies in inference mode. Horizontal flips are on (garments are left-right symmetric).",
    ]
    record("Vision augmentation study: train-val gap", "tfdl bench vision-augment", lines)


if __name__ == "__main__":
    main()
