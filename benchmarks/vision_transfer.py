"""`tfdl bench vision-transfer`: transfer from Fashion-MNIST classes 0-4 to classes 5-9 with 500 labels.

Pretrain the vision CNN on classes 0-4 (a capped subset), then train on 500 labelled images of classes
5-9: from scratch (same architecture) vs the pretrained body with each fine-tuning mode. Test accuracy on
all 5,000 test images of classes 5-9. Small on purpose (shared 2-core CPU).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRETRAIN_N, PRETRAIN_EPOCHS, FEW, EPOCHS = 12_000, 3, 500, 20


def _cnn(shape, k):
    import keras

    from tfdl.models import build_cnn

    inp = keras.Input(shape, dtype="uint8", name="image")
    return build_cnn(
        None, k, inputs=inp, preprocess=lambda t: keras.layers.Rescaling(1 / 255, name="rescale")(t)
    )


def _fit(model, x, y, epochs, optimizer="adam"):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return time.perf_counter() - t0


def main() -> None:
    import keras
    import numpy as np

    from tfdl import transfer as T
    from tfdl.bench import record
    from tfdl.config import TrainConfig
    from tfdl.data.images import load_fashion_mnist

    (xtr, ytr, xte, yte), _ = load_fashion_mnist()
    rng = np.random.default_rng(0)
    src = rng.permutation(np.flatnonzero(ytr < 5))[:PRETRAIN_N]
    few = rng.permutation(np.flatnonzero(ytr >= 5))[:FEW]
    test = np.flatnonzero(yte >= 5)
    x_few, y_few, x_test, y_test = xtr[few], ytr[few] - 5, xte[test], yte[test] - 5
    acc = lambda m: float((m.predict(x_test, verbose=0).argmax(1) == y_test).mean())  # noqa: E731

    keras.utils.set_random_seed(0)
    source = _cnn(xtr.shape[1:], 5)
    pre_s = _fit(source, xtr[src], ytr[src], PRETRAIN_EPOCHS)
    tmp = Path(tempfile.mkdtemp()) / "source.keras"
    source.save(tmp)

    rows = []
    keras.utils.set_random_seed(0)
    scratch = _cnn(xtr.shape[1:], 5)
    secs = _fit(scratch, x_few, y_few, EPOCHS)
    rows.append(("from scratch (same CNN)", acc(scratch), secs))
    cfg = TrainConfig(epochs=EPOCHS, learning_rate=1e-3, schedule="constant")
    for mode in ("feature_extraction", "partial", "full"):
        keras.utils.set_random_seed(0)
        base, conv = T.load_base(str(tmp))
        model = T.build_transfer_model(base, xtr.shape[1:], 5, convention=conv, finetune=mode)
        opt = "adam" if mode == "feature_extraction" else T.discriminative_optimizer(model, cfg, 8, 0.1)
        secs = _fit(model, x_few, y_few, EPOCHS, opt)
        rows.append((f"transfer, finetune={mode}", acc(model), secs))
    lines = [
        "| model (500 labelled images of classes 5-9) | test accuracy (5,000 images) | train seconds |",
        "|---|---|---|",
        *[f"| {name} | {a:.3f} | {s:.1f} |" for name, a, s in rows],
        "",
        f"Base: the vision CNN pretrained on {PRETRAIN_N:,} images of classes 0-4, {PRETRAIN_EPOCHS} epochs "
        f"({pre_s:.0f} s); every model then trains {EPOCHS} epochs, batch 64, Adam 1e-3 (discriminative "
        "rates, base_lr_factor 0.1, for partial/full). Seed 0.",
    ]
    record(
        "Vision transfer learning: Fashion-MNIST 0-4 -> 5-9, 500 labels", "tfdl bench vision-transfer", lines
    )


if __name__ == "__main__":
    main()
