"""`tfdl bench vision-accuracy`: the default `tfdl train vision` run; test accuracy, training time, samples/s.

python benchmarks/vision_accuracy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def vision_accuracy() -> Path:
    """The default `tfdl train vision` run (full Fashion-MNIST); accuracy, time, samples/s."""
    import json

    from apps.vision import APP
    from tfdl.bench import record
    from tfdl.pipeline import resolve_config, train

    cfg = resolve_config(APP, {}, [])
    result = train(APP, cfg, export=False)
    m = result.metrics
    acc, secs = m["test"]["accuracy"], m["train_seconds"]
    lines = [
        "| model | test accuracy | macro F1 | epochs | train seconds | samples/s | precision |",
        "|---|---|---|---|---|---|---|",
        f"| {m['model']} (default) | {acc} | {m['test']['macro_f1']} | {m['epochs_run']} | {secs} | "
        f"{m['samples_per_second']} | {m['precision_policy']} |",
        f"| baseline logistic_regression | {m['baseline']['test']['accuracy']} | "
        f"{m['baseline']['test']['macro_f1']} | | | | |",
        "",
        f"Target >= 0.91 test accuracy in <= 600 s of training: "
        f"**{'met' if acc >= 0.91 and secs <= 600 else 'NOT met'}**. "
        f"Run folder: `{result.run_dir}`.",
    ]
    json.dumps(m)  # fail early on non-JSON values
    return record("Vision accuracy, default config", "tfdl bench vision-accuracy", lines)


if __name__ == "__main__":
    vision_accuracy()
