"""`tfdl bench timeseries_starts`: a finished time-series run's network against its linear starts, on the
validation AND the test windows (MAE over the run's MASE scale).

The run serves the forecaster chosen on its validation windows (``forecaster_choice`` in metrics.json: the
network, its linear start, the seasonal profile or their means); this prints, beside the test numbers that
judge it, the (early-stopping) validation numbers of the network, every linear start (ridge in the model's
scaling, the seasonal naive forecasts the window reaches) and the plain mean of the network and the ridge
start.

    python benchmarks/timeseries_starts.py runs/timeseries/<run-id> [more run folders]
    python benchmarks/timeseries_starts.py --cv runs/timeseries/cv-<time>-<hash> [more cv folders]

``--cv``: over the folds of a ``tfdl cv timeseries``, the test MASE of each candidate (the network alone,
the ridge start, their mean, and the forecaster each fold served), each one's paired difference against
the best baseline (mean +/- standard error over the folds, as ``tfdl cv``), and which candidate the folds
chose on their held-out validation windows (with those windows' MASE).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def starts_table(run: Path) -> dict[str, dict[str, float]]:
    """{"val": {forecaster: MASE}, "test": {...}} for the run folder ``run`` (config.yaml + model.keras)."""
    import keras
    import yaml

    import tfdl.models  # noqa: F401  (registers the custom layers before loading)
    from apps import timeseries as T
    from apps.timeseries.models import _mix_weights
    from tfdl.pipeline import resolve_config

    cfg = resolve_config(T.APP, yaml.safe_load((run / "config.yaml").read_text()), [])
    s = T.APP.load_data(cfg)
    model = keras.models.load_model(run / "model.keras", compile=False)
    e, pre = s.info.extra, s.info.preprocessing
    mean, std = np.asarray(pre["feature_mean"]), np.asarray(pre["feature_std"])
    starts = T.linear_starts(s)

    def linear(x, start):
        kernel, bias = start
        z = ((np.asarray(x, np.float64) - mean) / std).reshape(len(x), -1)
        return (z @ kernel + bias) * e["target_std"] + e["target_mean"]

    out = {}
    try:
        # the network alone, whatever was chosen
        _mix_weights(model.get_layer("forecaster_mix"), (1.0, 0.0, 0.0))
    except ValueError:
        pass  # a run from before the forecaster choice: the model is the network
    for part, x, y in (("val", s.x_val, s.y_val), ("test", s.x_test, s.y_test)):
        net = np.asarray(model.predict(x, verbose=0), np.float64)
        preds = {"network": net, **{f"start {k}": linear(x, v) for k, v in starts.items()}}
        preds["mean of network and ridge start"] = (net + preds["start ridge"]) / 2
        out[part] = {k: round(float(np.mean(np.abs(p - y))) / s.info.mase_scale, 4) for k, p in preds.items()}
    return out


def cv_table(folder: Path) -> dict:
    """Per candidate over the folds of one ``tfdl cv timeseries`` summary folder (cv.json): test MASE mean
    and the paired difference against the best baseline; the choices and their held-out MASE."""
    import statistics

    from tfdl.cv import CvResult

    cv = json.loads((folder / "cv.json").read_text())
    r = CvResult(cv["app"], cv["model"], cv["metric"], cv["higher_is_better"], cv["folds"], cv["per_fold"])
    best = min(r.baseline_names, key=lambda b: r.stats(b)["mean"])
    cand: dict[str, list[float]] = {"network": [], "ridge start": [], "mean": [], "served": []}
    chosen, held = [], {"network": [], "start": [], "mean": []}
    for f in cv["per_fold"]:
        run = Path(f["run_dir"])
        test = starts_table(run)["test"]
        cand["network"].append(test["network"])
        cand["ridge start"].append(test["start ridge"])
        cand["mean"].append(test["mean of network and ridge start"])
        cand["served"].append(f["model"])
        choice = json.loads((run / "metrics.json").read_text()).get("forecaster_choice") or {}
        chosen.append(choice.get("chosen"))
        for k in held:
            held[k].append((choice.get("mase") or {}).get(k))
    base = r.values(best)
    out = {"best_baseline": best, "baseline_mean": statistics.fmean(base), "chosen": chosen, "held_out": held}
    for name, vals in cand.items():
        d = [v - b for v, b in zip(vals, base)]
        se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
        out[name] = {"mean": statistics.fmean(vals), "diff": statistics.fmean(d), "se": se,
                     "wins": sum(x < 0 for x in d), "folds": len(d)}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "runs", nargs="+", help="finished tfdl train timeseries run folders (with --cv: cv folders)"
    )
    ap.add_argument("--cv", action="store_true", help="the folders are tfdl cv timeseries summaries")
    args = ap.parse_args(argv)
    if args.cv:
        for folder in map(Path, args.runs):
            t = cv_table(folder)
            print(
                f"{folder}: best baseline {t['best_baseline']} {t['baseline_mean']:.3f}; chosen {t['chosen']}"
            )
            for name in ("network", "ridge start", "mean", "served"):
                c = t[name]
                paired = f"{c['diff']:+.3f} +/- {c['se']:.3f}, {c['wins']}/{c['folds']}"
                print(f"  {name}: {c['mean']:.3f} ({paired})")
            print("  held-out MASE per fold: " + "; ".join(f"{k} {v}" for k, v in t["held_out"].items()))
        return 0
    for run in map(Path, args.runs):
        metrics = json.loads((run / "metrics.json").read_text())
        table = starts_table(run)
        chosen = (metrics.get("forecaster_choice") or {}).get("chosen")
        print(f"{run}: served forecaster={chosen}")
        for part, row in table.items():
            print(f"  {part}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
