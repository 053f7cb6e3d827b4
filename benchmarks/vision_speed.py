"""`tfdl bench vision-speed`: the old vision default (`cnn`) vs the new one (`resnet`), same data.

Per model: samples/s (training steps only), seconds from the start of fit to the first epoch end whose
validation accuracy reaches 0.90 / 0.92 / 0.93 (so the resolution is one epoch), test accuracy on the
official 10k test split, and the achieved GFLOP/s as a percentage of the machine's peak. FLOPs per training
sample = 3 x the forward FLOPs (backward ~ 2x forward), forward FLOPs counted per Conv2D/Dense layer
(2 x multiply-adds); the peak is the best of a few large float32 ``tf.matmul`` in this same process.
Each model trains with its own defaults (``tfdl train vision --model NAME``: epochs, batch size, learning
rate, augmentation), the tfdl data pipeline, optimizer, schedule and callbacks. Precisions: float32, plus
mixed_bfloat16 when the CPU has bf16 instructions.

Options (for a shorter run): ``--old-epochs N`` trains the old default for N epochs instead of its 10.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THRESHOLDS = (0.90, 0.92, 0.93)


def peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n matmul (2 n^3 FLOPs), the machine's practical peak."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()  # warm-up
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def forward_flops(model) -> int:
    """FLOPs of one forward pass of one sample: 2 x multiply-adds of every Conv2D and Dense layer."""
    import keras

    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            total += 2 * h * w * cout * kh * kw * cin
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _layers(layer)
        else:
            yield layer


def cpu_flags() -> list[str]:
    from tfdl.training.precision import _cpu_flags

    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    flags = _cpu_flags()
    return [f"{f}={'yes' if f in flags else 'no'}" for f in wanted]


def train_one(app, splits, sets: list[str], precision: str) -> dict:
    import keras

    from tfdl.pipeline import build_model, default_loss, make_dataset, resolve_config
    from tfdl.training.callbacks import standard_callbacks
    from tfdl.training.optimizers import build_optimizer
    from tfdl.training.precision import apply_policy

    cfg = resolve_config(app, {}, [*sets, f"train.precision={precision}"])
    apply_policy(precision)
    keras.utils.set_random_seed(cfg.train.seed)
    n, batch = len(splits.x_train), cfg.train.batch_size
    steps = -(-n // batch)
    model = build_model(app, cfg, splits)
    model.compile(optimizer=build_optimizer(cfg.train, steps), loss=default_loss(cfg), metrics=["accuracy"])
    train_ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=cfg.train.seed)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch, shuffle=False, seed=cfg.train.seed)

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train_secs, self.reached, self.val = [], {}, []

        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.te = time.perf_counter()

        def on_test_begin(self, logs=None):
            self.train_secs.append(time.perf_counter() - self.te)

        def on_epoch_end(self, epoch, logs=None):
            acc = logs["val_accuracy"]
            self.val.append(acc)
            for th in THRESHOLDS:
                if acc >= th and th not in self.reached:
                    self.reached[th] = time.perf_counter() - self.t0

    clock = Clock()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cbs, _ = standard_callbacks(Path(tmp), early_stopping_patience=cfg.train.early_stopping_patience)
        hist = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.train.epochs,
            callbacks=[*cbs, clock],
            verbose=2,
            shuffle=False,
        )
    fit_secs = time.perf_counter() - t0
    cpu_secs = time.process_time() - cpu0
    probs = model.predict(splits.x_test, batch_size=512, verbose=0)
    test_acc = float((probs.argmax(1) == splits.y_test).mean())
    epochs_run = len(hist.epoch)
    sps = n * len(clock.train_secs) / sum(clock.train_secs)
    return {
        "model": cfg.model.name,
        "epochs": epochs_run,
        "batch": batch,
        "augment": cfg.augment,
        "lr": cfg.train.learning_rate,
        "params": model.count_params(),
        "flops": forward_flops(model),
        "sps": sps,
        "fit_secs": fit_secs,
        "cpu_secs": cpu_secs,
        "reached": clock.reached,
        "best_val": max(clock.val),
        "test_acc": test_acc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old-epochs", type=int, default=None, help="epochs of the old default (cnn)")
    args = parser.parse_args()

    from apps.vision import APP
    from tfdl.bench import record
    from tfdl.pipeline import resolve_config
    from tfdl.training.precision import CPU_BF16_FLAGS, _cpu_flags

    load_start = os.getloadavg()[0]
    splits = APP.load_data(resolve_config(APP, {}, []))
    peak = peak_gflops()
    has_bf16 = bool(_cpu_flags() & set(CPU_BF16_FLAGS))
    precisions = ["float32", "mixed_bfloat16"] if has_bf16 else ["float32"]
    old = ["model.name=cnn"] + ([f"train.epochs={args.old_epochs}"] if args.old_epochs else [])
    runs = [  # the new default first: its row is printed as soon as it is measured
        (f"{APP.default_model} (new default)", [f"model.name={APP.default_model}"]),
        (f"cnn (old default{', ' + str(args.old_epochs) + ' epochs' if args.old_epochs else ''})", old),
    ]
    rows = []
    for label, sets in runs:
        for precision in precisions:
            r = train_one(APP, splits, sets, precision)
            train_gflops = 3 * r["flops"] * r["sps"] / 1e9
            reached = " / ".join(
                f"{r['reached'][th]:.0f}" if th in r["reached"] else "-" for th in THRESHOLDS
            )
            rows.append(
                f"| {label} | {precision} | {r['epochs']} x batch {r['batch']}, augment {r['augment']}, "
                f"lr {r['lr']} | {r['params']:,} | {r['flops'] / 1e6:.1f} | {r['sps']:.0f} | "
                f"{r['fit_secs']:.0f} ({r['cpu_secs'] / 2:.0f}) | {reached} | {r['best_val']:.4f} | "
                f"**{r['test_acc']:.4f}** | {train_gflops:.1f} ({100 * train_gflops / peak:.0f}%) |"
            )
            print(rows[-1], flush=True)
    load_end = os.getloadavg()[0]
    lines = [
        f"CPU flags: {', '.join(cpu_flags())}. Peak (best float32 2048x2048 `tf.matmul`, same process): "
        f"**{peak:.0f} GFLOP/s**.",
        "",
        "| model | precision | budget | params | forward MFLOP/sample | samples/s | fit seconds (CPU s / 2) "
        "| seconds to val 0.90 / 0.92 / 0.93 | best val acc | test acc | train GFLOP/s (% of peak) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "samples/s: training steps only (validation excluded); fit seconds include the per-epoch validation "
        "and callbacks. Train GFLOP/s = 3 x forward FLOPs x samples/s. "
        + (
            ""
            if has_bf16
            else "This CPU has no AVX512_BF16/AMX, so only float32 ran (`auto` precision = float32 here). "
        )
        + f"Load average {load_start:.1f} at start, {load_end:.1f} at end: with other work on the machine, "
        "wall seconds are inflated; CPU seconds / 2 is what the run would take with both cores to itself.",
    ]
    record("Vision speed: old vs new default, against the machine's peak", "tfdl bench vision-speed", lines)


if __name__ == "__main__":
    main()
