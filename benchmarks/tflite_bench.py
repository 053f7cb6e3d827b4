"""`tfdl bench tflite`: TFLite precision trade-off on the vision CNN: size, test accuracy, latency.

    python benchmarks/tflite_bench.py [--run RUN|latest] [--train]

Exports the run (default: the newest finished vision run; with ``--train``, or when there is none,
it trains one first like ``tfdl train vision --epochs 3 --set data.limit=10000``) in every precision
via the same code as ``tfdl export vision --format tflite --quantize all``, then prints a Markdown
table from parity.json and
the BENCHMARKS.md targets: int8 file <= 30% of float, test accuracy within 1 point of the SavedModel,
TFLite single-example latency >= 10x lower than ``model.predict`` on one example (same run).
Exit code 1 when a target fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="latest", help="run id, run folder or 'latest' (vision)")
    parser.add_argument("--train", action="store_true", help="train a 3-epoch, 10k-image CNN first")
    args = parser.parse_args(argv)

    from tfdl.app import get_app
    from tfdl.errors import TfdlError
    from tfdl.export import runner
    from tfdl.export.tflite import comparison_table
    from tfdl.runs import DEFAULT_RUNS_DIR, resolve_run

    app = get_app("vision")
    run_dir = None
    if not args.train:
        try:
            run_dir = resolve_run(DEFAULT_RUNS_DIR, "vision", args.run)
        except TfdlError:
            if args.run != "latest":
                raise
            print("no finished vision run: training one (3 epochs, 10,000 images)", file=sys.stderr)
    if run_dir is None:
        from tfdl.pipeline import resolve_config, train

        cfg = resolve_config(app, {}, ["train.epochs=3", "data.limit=10000"])
        run_dir = train(app, cfg).run_dir
    paths = runner.export(app, run_dir, fmt="tflite", quantize="all")
    record = json.loads(next(p for p in paths if p.name == "parity.json").read_text())
    files = record["files"]
    print(f"## TFLite, vision CNN (run {run_dir.name}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()})\n")  # fmt: skip
    print(comparison_table(record))
    int8, none = files["int8"], files["none"]
    speedups = {q: f["speedup_vs_predict"] for q, f in files.items()}
    targets = [
        ("int8 file <= 30% of float", int8["size_bytes"] / none["size_bytes"] <= 0.30,
         f"{100 * int8['size_bytes'] / none['size_bytes']:.1f}%"),
        ("int8 test accuracy within 1 point of the SavedModel", int8["drop"] <= 0.01,
         f"{int8['value']:.4f} vs {int8['savedmodel_value']:.4f} (drop {100 * int8['drop']:.2f} points)"),
        ("TFLite 1-example latency >= 10x lower than model.predict", min(speedups.values()) >= 10,
         ", ".join(f"{q} {s}x" for q, s in speedups.items())),
    ]  # fmt: skip
    print("\n| target | result | measured |\n|---|---|---|")
    for name, ok, measured in targets:
        print(f"| {name} | {'PASS' if ok else 'FAIL'} | {measured} |")
    return 0 if all(ok for _, ok, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
