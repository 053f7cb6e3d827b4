"""`tfdl bench vision-recipe`: one vision config's CPU cost per sample, or its validation accuracy per epoch.

How the vision default was chosen (issue 15), on the validation split only (the test split is never read):

    tfdl bench vision-recipe cost --set model.filters=[48,96]        # CPU ms per training sample
    tfdl bench vision-recipe val --set train.epochs=12 --set ...      # validation accuracy after each epoch

``cost`` trains on the first ``--images`` training images (default 3,072) for one epoch after a warm-up
and prints the CPU milliseconds (user + sys of this process) per training sample and per inference sample,
and the estimated seconds of one epoch of 51,000 images with the cores to itself (CPU s / cores): on a
shared machine CPU time is a steadier measure than wall time. ``val`` trains the full budget on the full
training split and prints, per epoch, training accuracy, validation accuracy and the CPU seconds / cores so
far; with ``model.flip_tta=true`` also the final validation accuracy without the test-time flip.
Precision float32 unless ``--set train.precision=...``. Prints JSON lines; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _setup(sets: list[str]):
    import keras

    from apps.vision import APP
    from tfdl.pipeline import load_splits, resolve_config
    from tfdl.training.precision import apply_policy

    if not any(s.startswith("train.precision=") for s in sets):
        sets = [*sets, "train.precision=float32"]
    cfg = resolve_config(APP, {}, sets)
    apply_policy(cfg.train.precision if cfg.train.precision != "auto" else "float32")
    keras.utils.set_random_seed(cfg.train.seed)
    return APP, cfg, load_splits(APP, cfg), sets


def _model(app, cfg, splits, steps: int):
    from tfdl.pipeline import build_model
    from tfdl.training.budget import set_bn_momentum
    from tfdl.training.fit import compile_model

    model = build_model(app, cfg, splits)
    set_bn_momentum(model, cfg.train.bn_momentum, steps)
    compile_model(app, cfg, model, splits, steps)
    return model


def cost(sets: list[str], images: int) -> dict:
    from tfdl.pipeline import make_dataset

    app, cfg, splits, sets = _setup(sets)
    batch = cfg.train.batch_size
    x, y = splits.x_train[:images], splits.y_train[:images]
    steps = max(1, len(x) // batch)
    model = _model(app, cfg, splits, steps)
    ds = make_dataset(x, y, batch, shuffle=True, seed=0).repeat()
    model.fit(ds, epochs=1, steps_per_epoch=max(3, steps // 4), verbose=0)  # warm-up: tracing, oneDNN
    c0, t0 = time.process_time(), time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    c1 = time.process_time()
    model.predict(x, batch_size=512, verbose=0)
    icpu = time.process_time() - c1
    seen = steps * batch
    return {
        "sets": sets,
        "params": model.count_params(),
        "train_cpu_ms_per_sample": round(1000 * cpu / seen, 3),
        "infer_cpu_ms_per_sample": round(1000 * icpu / len(x), 3),
        "estimated_s_per_51k_epoch": round(cpu / seen * 51_000 / CORES, 1),
        "wall_samples_per_s": round(seen / wall),
        "load": round(os.getloadavg()[0], 1),
    }


def val(sets: list[str]) -> dict:
    import keras

    from tfdl.pipeline import build_model, make_dataset, resolve_config

    app, cfg, splits, sets = _setup(sets)
    batch = cfg.train.batch_size
    steps = -(-len(splits.x_train) // batch)
    model = _model(app, cfg, splits, steps)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=cfg.train.seed)
    val_ds = make_dataset(splits.x_val, splits.y_val, 512, shuffle=False, seed=0)
    rows = []

    class Log(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.c0 = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            cpu = round((time.process_time() - self.c0) / CORES)
            rows.append((epoch + 1, round(logs["accuracy"], 4), round(logs["val_accuracy"], 4), cpu))
            line = {"epoch": epoch + 1, "train_acc": rows[-1][1], "val_acc": rows[-1][2]}
            line.update(cpu_s_per_core=cpu, load=round(os.getloadavg()[0], 1))
            print(json.dumps(line), flush=True)

    model.fit(train_ds, validation_data=val_ds, epochs=cfg.train.epochs, callbacks=[Log()], verbose=0)
    out = {"sets": sets, "params": model.count_params(), "val": [r[2] for r in rows]}
    if cfg.model.params().get("flip_tta"):
        plain = build_model(app, resolve_config(app, {}, [*sets, "model.flip_tta=false"]), splits)
        plain.set_weights(model.get_weights())
        pred = plain.predict(splits.x_val, batch_size=512, verbose=0).argmax(1)
        out["val_without_tta"] = round(float((pred == splits.y_val).mean()), 4)
    out["cpu_s_per_core"] = rows[-1][3]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["cost", "val"])
    parser.add_argument("--set", dest="sets", action="append", default=[], help="config override key=value")
    parser.add_argument("--images", type=int, default=3072, help="cost: training images timed")
    args = parser.parse_args(argv)
    out = cost(args.sets, args.images) if args.mode == "cost" else val(args.sets)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
