"""`tfdl bench vision-speed`: the old vision default (`cnn`) vs the new one (`resnet`), same data, one run.

Per model and precision: samples/s (training steps only), seconds from the start of fit to the first epoch
end whose validation accuracy reaches 0.90 / 0.92 / 0.93 / 0.94 (so the resolution is one epoch), test
accuracy on
the official 10k test split, and the achieved GFLOP/s as a percentage of the machine's peak. FLOPs per
training sample = 3 x the forward FLOPs (backward ~ 2x forward), forward FLOPs counted per Conv2D/Dense
layer (2 x multiply-adds; BatchNorm, activations and pooling are not counted); the peak is the best of a
few large ``tf.matmul`` in this same process (float32; bfloat16 too where the CPU has bf16 instructions).
Each model trains exactly as ``tfdl train vision --model NAME`` does: its own defaults (epochs, batch size,
learning rate, augmentation, loss), the tfdl data pipeline, BatchNorm momentum, optimizer, schedule and
callbacks. Precisions: float32, plus mixed_bfloat16 when the CPU has bf16 instructions.

The machine may be shared: every time is given as wall seconds and as CPU seconds / cores (user + sys of
this process over the cores it may use), which estimates the wall time with the cores to itself.

Options (``tfdl bench vision-speed --quick`` passes them on): ``--quick`` (2,000 training images, 1 epoch
each, no small-data step floor, the first 2,000 validation and test images, float32 only, printed and not
written to BENCHMARKS.md: a check that everything runs), ``--limit N`` (training images), ``--eval-limit N``
(the first N validation and test images), ``--epochs N`` (both models), ``--old-epochs N`` (the old default
only), ``--precisions float32,mixed_bfloat16``, ``--no-record``, ``--only new|old`` (one of the two models),
``--set KEY=VALUE`` (repeatable: a config override for the new default, e.g. ``--only new --set
model.downsample=conv_pool --set train.epochs=12``: how the recipe variants of BENCHMARKS.md were compared;
rows with overrides are labelled with them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THRESHOLDS = (0.90, 0.92, 0.93, 0.94)
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def peak_gflops(dtype: str = "float32", n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """Best GFLOP/s of an n x n ``tf.matmul`` (2 n^3 FLOPs) in ``dtype``: the machine's practical peak.
    Returns ``(wall, cpu)``: per wall second, and per CPU second x cores (what it would reach with the cores
    free; on a shared machine the wall peak is deflated like every other wall time)."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    tf.matmul(a, b).numpy()  # warm-up
    wall = cpu = 0.0
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        tf.matmul(a, b).numpy()
        flop = 2 * n**3 / 1e9
        wall = max(wall, flop / (time.perf_counter() - t))
        cpu = max(cpu, flop / max(1e-9, (time.process_time() - c) / CORES))
    return wall, cpu


def forward_flops(model) -> int:
    """FLOPs of one forward pass of one sample (one view): 2 x multiply-adds of every Conv2D and Dense."""
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
    """Train one model the way ``tfdl train`` does (no report, no export); times and accuracies."""
    import keras

    from tfdl.pipeline import build_model, fit_verbosity, make_dataset, resolve_config
    from tfdl.training.budget import set_bn_momentum, steps_per_epoch
    from tfdl.training.callbacks import standard_callbacks
    from tfdl.training.fit import compile_model, model_callbacks
    from tfdl.training.precision import apply_policy

    cfg = resolve_config(app, {}, [*sets, f"train.precision={precision}"])
    apply_policy(precision)
    keras.utils.set_random_seed(cfg.train.seed)
    n, batch = len(splits.x_train), cfg.train.batch_size
    one_pass = -(-n // batch)
    steps = steps_per_epoch(n, batch, cfg.train.epochs, cfg.train.min_steps)
    model = build_model(app, cfg, splits)
    set_bn_momentum(model, cfg.train.bn_momentum, steps)
    compile_model(app, cfg, model, splits, steps)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=cfg.train.seed)
    if steps > one_pass:
        train_ds = train_ds.repeat()
    val_ds = make_dataset(splits.x_val, splits.y_val, batch, shuffle=False, seed=cfg.train.seed)

    class Clock(keras.callbacks.Callback):
        """Wall and CPU seconds of the training steps of each epoch, and when each threshold is reached."""

        def __init__(self):
            super().__init__()
            self.train_wall, self.train_cpu, self.reached, self.val = [], [], {}, []

        def on_train_begin(self, logs=None):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_begin(self, epoch, logs=None):
            self.te, self.ce = time.perf_counter(), time.process_time()

        def on_test_begin(self, logs=None):
            if len(self.train_wall) == len(self.val):  # the validation pass that ends an epoch
                self.train_wall.append(time.perf_counter() - self.te)
                self.train_cpu.append(time.process_time() - self.ce)

        def on_epoch_end(self, epoch, logs=None):
            acc = logs["val_accuracy"]
            self.val.append(acc)
            for th in THRESHOLDS:
                if acc >= th and th not in self.reached:
                    self.reached[th] = (
                        time.perf_counter() - self.t0,
                        (time.process_time() - self.c0) / CORES,
                    )

    clock = Clock()
    cpu0, t0 = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cbs, _ = standard_callbacks(Path(tmp), early_stopping_patience=cfg.train.early_stopping_patience)
        hist = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.train.epochs,
            steps_per_epoch=steps if steps > one_pass else None,
            callbacks=[*cbs, *model_callbacks(app, cfg, model, steps), clock],
            verbose=fit_verbosity(),
            shuffle=False,
        )
    fit_secs, cpu_secs = time.perf_counter() - t0, time.process_time() - cpu0
    probs = model.predict(splits.x_test, batch_size=512, verbose=0)
    names = {layer.name for layer in model.layers}
    augment = next((n.removeprefix("augment_") for n in names if n.startswith("augment_")), "none")
    tta = any(getattr(layer, "explain_identity", False) for layer in _layers(model))
    test_acc = float((probs.argmax(1) == splits.y_test).mean())
    samples = steps * batch * len(clock.train_wall)
    return {
        "model": cfg.model.name,
        "epochs": len(hist.epoch),
        "batch": batch,
        "augment": augment + (" + flip TTA" if tta else ""),
        "lr": cfg.train.learning_rate,
        "extra": {k: v for k, v in cfg.model.params().items()},
        "params": model.count_params(),
        "flops": forward_flops(model),
        "sps": samples / sum(clock.train_wall),
        "sps_cpu": samples / (sum(clock.train_cpu) / CORES),
        "fit_secs": fit_secs,
        "cpu_secs": cpu_secs,
        "reached": clock.reached,
        "best_val": max(clock.val),
        "test_acc": test_acc,
    }


def _row(label: str, precision: str, r: dict, peak: tuple[float, float]) -> str:
    gflops = 3 * r["flops"] * r["sps"] / 1e9
    gflops_cpu = 3 * r["flops"] * r["sps_cpu"] / 1e9
    reached = " / ".join(
        f"{r['reached'][th][0]:.0f} ({r['reached'][th][1]:.0f})" if th in r["reached"] else "-"
        for th in THRESHOLDS
    )
    extra = ", ".join(f"{k}={v}" for k, v in r["extra"].items())
    return (
        f"| {label} | {precision} | {r['epochs']} x batch {r['batch']}, lr {r['lr']}, augment {r['augment']}"
        f"{', ' + extra if extra else ''} | {r['params']:,} | {r['flops'] / 1e6:.1f} | {r['sps']:.0f} "
        f"({r['sps_cpu']:.0f}) | {r['fit_secs']:.0f} ({r['cpu_secs'] / CORES:.0f}) | {reached} | "
        f"{r['best_val']:.4f} | **{r['test_acc']:.4f}** | {gflops:.1f} ({100 * gflops / peak[0]:.0f}%); "
        f"{gflops_cpu:.1f} ({100 * gflops_cpu / peak[1]:.0f}%) |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images, 1 epoch, float32, not recorded")
    parser.add_argument("--limit", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="first N validation and test images (default all; --quick 2,000)")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=None, help="epochs of both models")
    parser.add_argument("--old-epochs", type=int, default=None, help="epochs of the old default (cnn)")
    parser.add_argument("--precisions", default=None, help="comma-separated (default: float32 [+ bf16])")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to BENCHMARKS.md")
    parser.add_argument("--only", choices=("new", "old"), default=None, help="train one of the two models")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the new default (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.limit = args.limit or 2000
        args.eval_limit = args.eval_limit or 2000
        args.epochs = args.epochs or 1
        args.precisions = args.precisions or "float32"
        args.no_record = True

    from apps.vision import APP
    from tfdl.bench import record
    from tfdl.pipeline import load_splits, resolve_config
    from tfdl.training.precision import CPU_BF16_FLAGS, _cpu_flags

    load_start = os.getloadavg()[0]
    common = [f"data.limit={args.limit}"] if args.limit else []
    if args.quick:
        common.append("train.min_steps=0")  # one pass over the few images, not the small-data step floor
    splits = load_splits(APP, resolve_config(APP, {}, common))
    if args.eval_limit:
        n = args.eval_limit
        splits = replace(splits, x_val=splits.x_val[:n], y_val=splits.y_val[:n], x_test=splits.x_test[:n],
                         y_test=splits.y_test[:n])  # fmt: skip
    has_bf16 = bool(_cpu_flags() & set(CPU_BF16_FLAGS))
    if args.precisions:
        precisions = args.precisions.split(",")
    else:
        precisions = ["float32", "mixed_bfloat16"] if has_bf16 else ["float32"]
    peak = peak_gflops("float32")
    peak_bf16 = peak_gflops("bfloat16") if "mixed_bfloat16" in precisions else None
    new = [f"model.name={APP.default_model}"] + ([f"train.epochs={args.epochs}"] if args.epochs else [])
    new += args.sets
    old_epochs = args.old_epochs or args.epochs
    old = ["model.name=cnn"] + ([f"train.epochs={old_epochs}"] if old_epochs else [])
    new_label = f"{APP.default_model} (new default{': ' + ', '.join(args.sets) if args.sets else ''})"
    runs = [  # the new default first: its row is printed as soon as it is measured
        (new_label, new),
        (f"cnn (old default{', ' + str(old_epochs) + ' epochs' if old_epochs else ''})", old),
    ]
    if args.only:
        runs = runs[:1] if args.only == "new" else runs[1:]
    rows = []
    for label, sets in runs:
        for precision in precisions:
            print(f"training {label} in {precision} ...", flush=True)
            r = train_one(APP, splits, [*common, *sets], precision)
            rows.append(_row(label, precision, r, peak_bf16 if precision == "mixed_bfloat16" else peak))
            print(rows[-1], flush=True)
    load_end = os.getloadavg()[0]
    peaks = f"float32 **{peak[0]:.0f} GFLOP/s** wall ({peak[1]:.0f} per CPU second x {CORES})" + (
        f", bfloat16 **{peak_bf16[0]:.0f}** wall ({peak_bf16[1]:.0f} per CPU second x {CORES}; bf16 rows are "
        "% of these)"
        if peak_bf16
        else ""
    )
    lines = [
        f"CPU flags: {', '.join(cpu_flags())}; {CORES} cores. Peak (best 2048x2048 `tf.matmul`, same "
        f"process): {peaks}. Training images: {len(splits.x_train):,}; validation {len(splits.x_val):,}; "
        f"test {len(splits.x_test):,}.",
        "",
        "| model | precision | budget | params | forward MFLOP/sample | samples/s wall (CPU-based estimate) "
        "| fit seconds wall (CPU s / cores) | seconds to val 0.90 / 0.92 / 0.93 / 0.94 wall (CPU s / cores) "
        "| best val acc | test acc "
        "| train GFLOP/s (% of peak): wall; CPU-based estimate (% of CPU-based peak) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "samples/s: training steps only (validation excluded); fit seconds include the per-epoch validation "
        "and callbacks. Train GFLOP/s = 3 x forward FLOPs x samples/s (forward FLOPs: Conv2D and Dense "
        "multiply-adds x 2, one view). CPU s / cores (user + sys of this "
        f"process / {CORES}) is an **estimate** of the wall time with the cores free; the CPU-based "
        "samples/s and GFLOP/s use it. "
        + (
            ""
            if has_bf16
            else "This CPU has no AVX512_BF16/AMX, so only float32 ran (`auto` precision = float32 here). "
        )
        + f"Load average {load_start:.1f} at start, {load_end:.1f} at end.",
    ]
    if args.no_record:
        print("\n".join(lines))
        return
    argv_text = " ".join(sys.argv[1:])
    command = "tfdl bench vision-speed" + (f" {argv_text}" if argv_text else "")
    record("Vision speed: old vs new default, against the machine's peak", command, lines)


if __name__ == "__main__":
    main()
