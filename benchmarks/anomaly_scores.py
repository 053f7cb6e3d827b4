"""`tfdl bench anomaly-scores`: every candidate score of the anomaly default, per fold, val and test (#14).

For each anomaly set of the generalization suite, the user's 5-fold ``tfdl cv anomaly`` runs are trained
again the same way (:func:`tfdl.pipeline.train`, same folds and seeds) and, from each fold's trained model,
every candidate score is computed on the validation and the test split: the autoencoder's reconstruction
error, the code distance, the combined index, k-nearest-neighbour distances (k = 1, 5, 10, 20; mean of the
k distances or the k-th one), their standardised ensembles, and the two baselines. ``--analyse`` then
prints, per candidate rule, the mean validation ROC-AUC (what a rule may be chosen on) and, separately,
the test ROC-AUC with the paired difference against the best baseline (what is reported, never chosen
on), plus a split-half check of "choose on validation" against the fixed ensemble.

    python benchmarks/anomaly_scores.py [--sets a,b] [--out runs/anomaly-scores] [--set key=value]
    python benchmarks/anomaly_scores.py --analyse [--out runs/anomaly-scores]   # the tables

The first writes ``<out>/<set>.json`` (the suite's 9 anomaly sets, or ``--sets``; a set already written is
skipped); the evidence in BENCHMARKS.md (session 7) used the first 7.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generalize_data as G  # noqa: E402

FOLDS, KS, REPEATS = 5, (1, 5, 10, 20), 10  # REPEATS: random half-splits of each validation split


def _z(s: np.ndarray, ref: np.ndarray) -> np.ndarray:
    sd = float(np.std(ref))
    return (s - float(np.mean(ref))) / (sd if sd > 1e-12 else 1.0)


def fold_scores(app, meta: dict, k: int, runs_dir: Path, extra: list[str] = ()) -> dict:
    """Train fold ``k`` as ``tfdl cv`` does and return every candidate's val/test scores and the labels."""
    from sklearn.neighbors import NearestNeighbors

    from apps.anomaly import baselines as B
    from apps.anomaly import scoring as S
    from tfdl.pipeline import resolve_config, train

    sets = [f"data.path={meta['path']}", "data.label_column=label", f"data.folds={FOLDS}", f"data.fold={k}"]
    cfg = resolve_config(app, None, [*sets, *extra, f"runs_dir={runs_dir}"])
    run = train(app, cfg, export=False, log=lambda *a: None)
    model, splits = run.model, run.splits
    state = S.state_of(model)
    parts = S.parts_model(model)
    out: dict = {
        "y_val": np.asarray(splits.y_val).astype(int),
        "y_test": np.asarray(splits.y_test).astype(int),
    }
    out["served_test_auc"] = float(run.metrics["test"]["roc_auc"])
    out["served_mode"] = state["mode"]
    ref = S._reference(splits).astype(np.float64)
    nn = NearestNeighbors(n_neighbors=min(max(KS), len(ref))).fit(ref)
    for part in ("val", "test"):
        x = getattr(splits, f"x_{part}")
        err, code = (np.asarray(a, np.float64) for a in parts.predict(x, batch_size=1024, verbose=0))
        diff = code - state["code_mean"]
        latent = np.einsum("ij,jk,ik->i", diff, state["precision"], diff) * state["latent_weight"]
        rec_col = (err * state["inv_column_mse"]).mean(axis=1)
        out[f"{part}:reconstruction"] = err.mean(axis=1)
        out[f"{part}:latent"] = latent
        out[f"{part}:combined"] = rec_col * state["recon_weight"] + latent
        dist, _ = nn.kneighbors(S._scaled(splits, x))
        for kk in KS:
            kk_ = min(kk, dist.shape[1])
            out[f"{part}:knn_mean{kk}"] = dist[:, :kk_].mean(axis=1)
            out[f"{part}:knn_kth{kk}"] = dist[:, kk_ - 1]
    pca = B._pca(splits)
    out["val:pca"] = B._pca_scores(pca, splits.x_val, splits.info)
    out["test:pca"] = B._pca_scores(pca, splits.x_test, splits.info)
    from sklearn.ensemble import IsolationForest

    xtr = B._flat(splits.x_train, splits.info)
    forest = IsolationForest(n_estimators=200, random_state=splits.info.extra["seed"], n_jobs=1).fit(xtr)
    out["val:iforest"] = -forest.score_samples(B._flat(splits.x_val, splits.info))
    out["test:iforest"] = -forest.score_samples(B._flat(splits.x_test, splits.info))
    out["baseline_test_auc"] = {b: float(v["roc_auc"]) for b, v in run.metrics["baselines"].items()}
    return out


def add_ensembles(f: dict) -> None:
    """Standardised (z on the validation normals) averages of candidate scores, Aggarwal & Sathe style."""
    y = f["y_val"]
    normal = y == 0 if (y == 0).sum() >= 2 else np.ones(len(y), bool)
    members = {
        "ens_rec_lat_knn10": ("reconstruction", "latent", "knn_mean10"),
        "ens_comb_knn10": ("combined", "knn_mean10"),
        "ens_rec_knn10": ("reconstruction", "knn_mean10"),
        "ens_rec_lat": ("reconstruction", "latent"),
    }
    for name, parts in members.items():
        for part in ("val", "test"):
            f[f"{part}:{name}"] = np.mean(
                [_z(f[f"{part}:{m}"], f[f"val:{m}"][normal]) for m in parts], axis=0
            )


def _auc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def guarded(y: np.ndarray, scores: dict, default: str, rng: np.random.Generator, n_boot: int = 200) -> str:
    """``default`` unless another candidate's validation ROC-AUC beats it by more than two bootstrap
    standard errors of the paired difference (rows resampled within each class)."""
    aucs = {c: _auc(y, s) for c, s in scores.items()}
    best = max(aucs, key=lambda c: aucs[c])
    if best == default:
        return default
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    d = []
    for _ in range(n_boot):
        i = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        d.append(_auc(y[i], scores[best][i]) - _auc(y[i], scores[default][i]))
    return best if aucs[best] - aucs[default] > 2 * float(np.std(d)) else default


def analyse(out: Path) -> None:
    rows = {}
    for npz in sorted(out.glob("*.json")):
        data = json.loads(npz.read_text())
        folds = [{k: (np.asarray(v) if isinstance(v, list) else v) for k, v in f.items()} for f in data]
        for f in folds:
            add_ensembles(f)
        rows[npz.stem] = folds
    names = sorted({k.split(":", 1)[1] for f in next(iter(rows.values())) for k in f if k.startswith("val:")})
    print("mean VALIDATION ROC-AUC per candidate (folds with >= 1 validation anomaly); n_val_anomalies")
    print("| candidate | " + " | ".join(rows) + " | mean |")
    for n in names:
        vals = []
        for folds in rows.values():
            v = [_auc(f["y_val"], f[f"val:{n}"]) for f in folds]
            vals.append(np.nanmean(v))
        print(f"| {n} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {np.mean(vals):.3f} |")
    print(
        "| val anomalies per fold | "
        + " | ".join(",".join(str(int(f["y_val"].sum())) for f in folds) for folds in rows.values())
        + " | |"
    )
    print("\nTEST ROC-AUC per candidate (mean over folds), paired diff vs best baseline (mean +/- se)")
    for n in names:
        cells = []
        for folds in rows.values():
            t = [_auc(f["y_test"], f[f"test:{n}"]) for f in folds]
            b = {m: [_auc(f["y_test"], f[f"test:{m}"]) for f in folds] for m in ("pca", "iforest")}
            best = max(b, key=lambda m: np.mean(b[m]))
            d = [a - c for a, c in zip(t, b[best])]
            se = statistics.stdev(d) / math.sqrt(len(d))
            tag = "W" if np.mean(d) > 2 * se else ("L" if np.mean(d) < -2 * se else "=")
            cells.append(f"{np.mean(t):.3f} ({np.mean(d):+.3f}+/-{se:.3f} {tag})")
        print(f"| {n} | " + " | ".join(cells) + " |")
    print("\nsplit-half on validation: choose among (reconstruction, latent, combined, knn_mean10) on one")
    print(
        "stratified half, score on the other, vs the fixed candidates on the same half (mean over halves,\n"
        f"{REPEATS} random half-splits per fold); guarded = knn_mean10 unless beaten by > 2 bootstrap s.e."
    )
    rng = np.random.default_rng(0)
    cands = ("reconstruction", "latent", "combined", "knn_mean10")
    fixed = ("ens_rec_lat_knn10", "knn_mean10", "combined")
    for set_name, folds in rows.items():
        res = {"choose": [], "guarded": [], **{x: [] for x in fixed}}
        for f in [f for f in folds for _ in range(REPEATS)]:
            y = f["y_val"]
            pos, neg = rng.permutation(np.flatnonzero(y == 1)), rng.permutation(np.flatnonzero(y == 0))
            if len(pos) < 4:
                continue
            a = np.r_[pos[::2], neg[::2]]
            b = np.r_[pos[1::2], neg[1::2]]
            for sel, ev in ((a, b), (b, a)):
                aucs = {c: _auc(y[sel], f[f"val:{c}"][sel]) for c in cands}
                pick = max(cands, key=lambda c: aucs[c])
                res["choose"].append(_auc(y[ev], f[f"val:{pick}"][ev]))
                g = guarded(y[sel], {c: f[f"val:{c}"][sel] for c in cands}, "knn_mean10", rng)
                res["guarded"].append(_auc(y[ev], f[f"val:{g}"][ev]))
                for x in fixed:
                    res[x].append(_auc(y[ev], f[f"val:{x}"][ev]))
        if res["choose"]:
            print(f"{set_name}: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in res.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=None)
    ap.add_argument("--out", default="runs/anomaly-scores")
    ap.add_argument("--cache", default=".cache/generalize")
    ap.add_argument("--analyse", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="extra key=value for every fold")
    args = ap.parse_args()
    out = Path(args.out)
    if args.analyse:
        analyse(out)
        return
    from tfdl.app import get_app

    app = get_app("anomaly")
    out.mkdir(parents=True, exist_ok=True)
    for ds in G.select("anomaly", args.sets.split(",") if args.sets else None):
        target = out / f"{ds.name}.json"
        if target.is_file():
            continue
        meta = G.prepare(ds, Path(args.cache))
        folds = []
        for k in range(FOLDS):
            f = fold_scores(app, meta, k, out / "runs", args.set)
            folds.append({k2: (v.tolist() if isinstance(v, np.ndarray) else v) for k2, v in f.items()})
            print(ds.name, k, f["served_mode"], round(f["served_test_auc"], 4), flush=True)
        target.write_text(json.dumps(folds))


if __name__ == "__main__":
    main()
