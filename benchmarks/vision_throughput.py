"""`tfdl bench vision`: throughput of tfdl's training step vs a plain hand-written `model.fit`.

The vision CNN on the same Fashion-MNIST images, batch size and precision, alternated in one process:
tfdl's pipeline data set, optimizer, schedule and callbacks vs ``model.fit(numpy)`` with Adam and no
callbacks. Samples/s = training images / median epoch time of epochs 2..N (the first epoch traces).

    python benchmarks/vision_throughput.py [--limit 20000] [--epochs 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _EpochTimer:
    def __init__(self):
        import keras

        class T(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self._t)

        self.cb = T()


def vision_throughput(limit: int = 20_000, epochs: int = 3, rounds: int = 2) -> Path:
    """Samples/s of our fit step vs plain model.fit; same model, data, batch size and precision."""
    import keras
    import numpy as np

    from apps.vision import APP
    from tfdl.bench import record
    from tfdl.data.splits import limit_train
    from tfdl.pipeline import make_dataset, resolve_config
    from tfdl.training.callbacks import standard_callbacks
    from tfdl.training.optimizers import build_optimizer
    from tfdl.training.precision import apply_policy, choose_policy

    cfg = resolve_config(APP, {}, [f"train.epochs={epochs}"])
    policy, _ = choose_policy(cfg.train.precision)
    apply_policy(policy)
    splits = limit_train(APP.load_data(cfg), limit, 0)
    n, batch = len(splits.x_train), cfg.train.batch_size
    steps = -(-n // batch)
    ours_sps, plain_sps = [], []
    import tempfile

    for _ in range(rounds):
        # ours: the pipeline's data set, optimizer/schedule and full callback list
        keras.utils.set_random_seed(0)
        model = APP.models["cnn"](splits, cfg)
        model.compile(
            optimizer=build_optimizer(cfg.train, steps),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        timer = _EpochTimer()
        with tempfile.TemporaryDirectory() as tmp:
            cbs, _ = standard_callbacks(Path(tmp), early_stopping_patience=0)
            ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=0)
            model.fit(ds, epochs=epochs, callbacks=[*cbs, timer.cb], verbose=0, shuffle=False)
        ours_sps.append(n / statistics.median(timer.cb.times[1:]))
        # plain: the hand-written course listing
        keras.utils.set_random_seed(0)
        model = APP.models["cnn"](splits, cfg)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = _EpochTimer()
        model.fit(
            np.asarray(splits.x_train),
            splits.y_train,
            batch_size=batch,
            epochs=epochs,
            callbacks=[timer.cb],
            verbose=0,
        )
        plain_sps.append(n / statistics.median(timer.cb.times[1:]))
    ours, plain = max(ours_sps), max(plain_sps)
    ratio = ours / plain
    lines = [
        "| training step | samples/s (best of rounds) | all rounds |",
        "|---|---|---|",
        f"| tfdl pipeline (tf.data cache/shuffle/prefetch, AdamW+cosine, callbacks) | {ours:.0f} | "
        f"{', '.join(f'{v:.0f}' for v in ours_sps)} |",
        f"| plain `model.fit(numpy)` + Adam, no callbacks | {plain:.0f} | "
        f"{', '.join(f'{v:.0f}' for v in plain_sps)} |",
        "",
        f"Ratio ours/plain: **{ratio:.2f}** (target >= 0.95; {'met' if ratio >= 0.95 else 'NOT met'}). "
        f"CNN on {n} Fashion-MNIST images, batch {batch}, precision {policy}, "
        f"median epoch time of epochs 2..{epochs}.",
    ]
    return record("Vision training throughput: tfdl vs plain model.fit", "tfdl bench vision", lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20_000, help="training images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    vision_throughput(args.limit, args.epochs, args.rounds)


if __name__ == "__main__":
    main()
