"""The `mlp+gbdt` blend's weight rules side by side on finished `tfdl cv tabular` runs (issue 14).

Each fold's saved model holds every member (MLP, trees, linear) whatever weights it chose, so any rule that
chooses on the validation split can be replayed exactly: this reloads each fold (config.yaml, model.keras),
takes the members' validation and test outputs, lets every rule choose its weights on validation only
(:func:`apps.tabular.models.pick_weights`), and scores the test fold. Rules: ``min`` (the lowest validation
loss), ``1se`` (the one-standard-error rule toward the linear model), ``mlp+trees`` (the two-member blend
before the linear member, lowest validation loss) and each member alone. Per data set: the mean test
metric per rule, the paired difference against the best baseline of the run (mean +/- standard error over
folds, folds won) and the verdict in the words of ``tfdl cv`` (within noise = within two standard errors).
The row ``as run`` recomputes the run's own model from its members: it must equal ``tfdl cv``'s number
(metrics are rounded to 4 decimals, as metrics.json rounds them).

    python benchmarks/blend_rules.py CV_FOLDER_OR_CV_JSON [...]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _metric(name: str, task: str, pred: np.ndarray, y: np.ndarray) -> float:
    from sklearn import metrics as skm

    if task == "regression":
        y, pred = y.ravel(), pred.ravel()
        return {"r2": skm.r2_score, "mae": skm.mean_absolute_error}[name](y, pred)
    if name == "roc_auc":
        return (
            skm.roc_auc_score(y, pred[:, 1])
            if pred.shape[1] == 2
            else skm.roc_auc_score(y, pred, multi_class="ovr")
        )
    if name == "accuracy":
        return skm.accuracy_score(y, pred.argmax(axis=1))
    raise ValueError(f"metric {name} is not replayed here; use r2, mae, roc_auc or accuracy")


def fold_table(run: Path, metric: str) -> dict[str, float]:
    """{rule: test metric} for one finished fold run of mlp+gbdt."""
    import keras
    import yaml

    import tfdl.models  # noqa: F401  (registers the custom layers)
    from apps.tabular import APP
    from apps.tabular import models as M
    from tfdl.pipeline import load_splits, resolve_config

    cfg = resolve_config(APP, yaml.safe_load((run / "config.yaml").read_text()), [])
    splits = load_splits(APP, cfg)
    model = keras.models.load_model(run / "model.keras", compile=False)
    blend = model.get_layer("blend")
    pv, yv, loss = M.member_predictions(model, splits, "val")
    pt, _, _ = M.member_predictions(model, splits, "test")
    y_test = np.asarray(splits.y_test)
    regression = splits.info.task == "regression"
    if regression:
        mean, std, transform = M.target_stats(splits)
        y_test = y_test.astype(np.float64)

    def score(w) -> float:
        p = sum(wi * q for wi, q in zip(w, pt, strict=True))
        if regression:
            p = p * std + mean
            p = np.expm1(p) if transform == "log1p" else p
        return round(float(_metric(metric, splits.info.task, p, y_test)), 4)  # as metrics.json rounds

    n = len(pv)
    out = {"as run": score(np.asarray(blend.blend_weights.numpy(), np.float64))}
    chosen = {}
    for rule in M.RULES:
        chosen[rule], _ = M.pick_weights(pv, yv, loss, rule)
        out[rule] = score(chosen[rule])
    two, _ = M.pick_weights(pv[:2], yv, loss, "min")
    out["mlp+trees"] = score((*two, 0.0)[:n])
    for i, name in enumerate(M.MEMBERS[:n]):
        out[f"{name} alone"] = score(tuple(float(i == j) for j in range(n)))
    out["_weights"] = {r: [round(v, 1) for v in w] for r, w in chosen.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cv", nargs="+", help="tfdl cv folders (or their cv.json) of the tabular mlp+gbdt")
    ap.add_argument("--metric", help="the cv metric (default: the one cv.json names)")
    args = ap.parse_args(argv)
    for arg in args.cv:
        p = Path(arg)
        cvjson = p if p.is_file() else sorted(p.glob("**/cv.json"))[-1]
        cv = json.loads(cvjson.read_text())
        metric = args.metric or cv["metric"]
        higher = cv["higher_is_better"]
        folds = [fold_table(Path(f["run_dir"]), metric) for f in cv["per_fold"]]
        base = {b: [f["baselines"][b] for f in cv["per_fold"]] for b in cv["per_fold"][0]["baselines"]}
        best = (max if higher else min)(base, key=lambda b: statistics.fmean(base[b]))
        print(f"{cvjson} ({metric}; best baseline {best} {statistics.fmean(base[best]):.4f})")
        print(
            "  weights chosen per fold (mlp, trees, linear): "
            + "; ".join(
                f"{r}: " + " ".join(str(tuple(f["_weights"][r])) for f in folds) for r in folds[0]["_weights"]
            )
        )
        cv_model = [f["model"] for f in cv["per_fold"]]
        for rule in [k for k in folds[0] if not k.startswith("_")]:
            vals = [f[rule] for f in folds]
            d = [v - b for v, b in zip(vals, base[best], strict=True)]
            se = statistics.stdev(d) / math.sqrt(len(d))
            won = sum((x > 0) if higher else (x < 0) for x in d)
            word = (
                "within noise"
                if abs(statistics.fmean(d)) <= 2 * se
                else ("wins" if (statistics.fmean(d) > 0) == higher else "loses")
            )
            check = ""
            if rule == "as run":
                check = f"  (tfdl cv: {statistics.fmean(cv_model):.4f})"
            print(
                f"  {rule:14s} {statistics.fmean(vals):.4f} +/- {statistics.stdev(vals):.4f}  "
                f"vs {best}: {statistics.fmean(d):+.4f} +/- {se:.4f} ({won}/{len(d)} folds) {word}{check}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
