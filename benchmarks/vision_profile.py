"""`tfdl bench vision-profile`: where a vision training step spends its time, by layer kind (TF profiler).

Trains ``--steps`` steps (after a warm-up) of the vision model under the TensorFlow profiler, then sums the
self-times of the ops on the compute threads by layer kind (conv, bn, act, pool, dropout, optimizer, flip,
...) and direction (fwd, grad). This is how the session-6 vision default found Keras 3's unfused
BatchNormalization at a third of the step's op time (BENCHMARKS.md, "Vision default, session 6").

    tfdl bench vision-profile [--steps 30] [--keras-batchnorm] [--set model.downsample=conv_pool ...]

``--keras-batchnorm`` runs Keras' own (unfused) BatchNormalization code in the same layers: the "before".

Float32 unless ``--set train.precision=...``; 6,000 training images. Prints a table; writes the trace to a
temporary folder and nothing else.
"""

from __future__ import annotations

import argparse
import collections
import glob
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _kind(name: str) -> str:
    """'grad:conv', 'fwd:bn', ... for one op name of the model's train step."""
    grad = "grad" if "gradient_tape" in name else "fwd"
    low = name.lower()
    for key, kind in (("tta", "flip"), ("flip", "flip"), ("dropout", "dropout"), ("adam", "optimizer")):
        if key in low:
            return f"{grad}:{kind}"
    m = re.search(r"/(stem|stage\d+)_?(block\d+_)?(conv|bn|act|pool|out|add)", name)
    return f"{grad}:{m.group(3) if m else name.split('/')[-1][:25]}"


def op_times(xplane_file: str) -> collections.Counter:
    """Milliseconds of op self-time per kind on the tf_Compute threads of one profiler xplane file."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(xplane_file).read_bytes())
    out: collections.Counter = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for ev in line.events:
                name = plane.event_metadata[ev.metadata_id].name.split(":")[0]
                if "StatefulPartitionedCall/" in name:  # the step's leaf ops, not executor spans
                    out[_kind(name)] += ev.duration_ps / 1e9
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="profiled training steps (default 30)")
    parser.add_argument("--keras-batchnorm", action="store_true", help="Keras' unfused batch norm (before)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from apps.vision import APP
    from tfdl.pipeline import build_model, load_splits, make_dataset, resolve_config
    from tfdl.training.fit import compile_model
    from tfdl.training.precision import apply_policy

    if args.keras_batchnorm:
        import keras

        from tfdl.models.layers import FusedBatchNormalization

        FusedBatchNormalization.call = keras.layers.BatchNormalization.call
    sets = list(args.sets)
    if not any(s.startswith("train.precision=") for s in sets):
        sets.append("train.precision=float32")
    cfg = resolve_config(APP, {}, [*sets, "data.limit=6000"])
    apply_policy(cfg.train.precision if cfg.train.precision != "auto" else "float32")
    splits = load_splits(APP, cfg)
    model = build_model(APP, cfg, splits)
    compile_model(APP, cfg, model, splits, 2 * args.steps)
    ds = make_dataset(splits.x_train, splits.y_train, cfg.train.batch_size, shuffle=True, seed=0).repeat()
    model.fit(ds, steps_per_epoch=max(20, cfg.train.steps_per_execution), epochs=1, verbose=0)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        tf.profiler.experimental.start(tmp)
        model.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)
        tf.profiler.experimental.stop()
        times = op_times(sorted(glob.glob(f"{tmp}/plugins/profile/*/*.xplane.pb"))[-1])
    total = sum(times.values())
    print(f"| op kind | ms over {args.steps} steps (both compute threads) | share |")
    print("|---|---|---|")
    for kind, ms in times.most_common(15):
        print(f"| {kind} | {ms:.1f} | {100 * ms / total:.1f} % |")
    bn = sum(v for k, v in times.items() if k.endswith(":bn"))
    print(f"\nBatchNorm (fwd + grad): {100 * bn / total:.1f} % of the op time; total {total:.0f} ms")


if __name__ == "__main__":
    main()
