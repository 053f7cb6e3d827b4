"""Bootstrap intervals for every test metric, and the paired difference model - baseline.

One test split gives one number per metric. The bootstrap resamples the test rows (with replacement)
``resamples`` times and recomputes every metric on each resample; the 2.5 % and 97.5 % percentiles are
the 95 % interval. The model and every baseline are scored on the SAME resamples, so the difference
model - baseline is paired: its interval is much narrower than the two separate intervals suggest, and
it decides the verdict (:func:`verdict`): "wins" when the whole interval is on the better side of 0,
"loses" when it is on the worse side, "within noise" when it holds 0.

How rows are resampled:

- classification and anomaly: **stratified** (each class keeps its test count, so a rare class never
  vanishes from a resample and ROC-AUC stays defined);
- regression: plain (iid) resampling of rows;
- forecast (and any time-ordered data): a **moving-block** bootstrap over the test windows in time
  order (blocks of ``block`` consecutive windows, default the horizon or ``n ** (1/3)`` if larger):
  consecutive windows share most of their future and their errors are correlated, and an iid bootstrap
  would make the interval far too narrow.

Cheap by construction: a resample is a row of counts ``w`` (how often each test row was drawn), and
every metric is a weighted sum (confusion-matrix counts, weighted errors, weighted rank statistics for
ROC-AUC and average precision), so ``resamples`` x metrics is a few matrix products in NumPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfdl.evaluation.metrics import class_ids, higher_is_better

RESAMPLES = 1000
LEVEL = 0.95
_CHUNK_CELLS = 4_000_000  # resamples x rows held at once (float64: 32 MB)


# --------------------------------------------------------------------------- resampling weights


def method_for(task: str) -> str:
    """ "stratified" (classification, anomaly), "block" (forecast) or "iid" (regression and others)."""
    if task in ("classification", "anomaly"):
        return "stratified"
    if task == "forecast":
        return "block"
    return "iid"


def block_length(n: int, horizon: int = 1) -> int:
    """Moving-block length: at least the horizon (windows that share future values are correlated),
    at least ``n ** (1/3)`` (the usual rate), at most ``n``."""
    return int(max(1, min(n, max(horizon, math.ceil(n ** (1 / 3))))))


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, m) drawn row ids -> (B, n) counts of each row."""
    b = idx.shape[0]
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def resample_weights(
    n: int,
    resamples: int,
    rng: np.random.Generator,
    *,
    method: str = "iid",
    strata: Any = None,
    block: int | None = None,
) -> np.ndarray:
    """(resamples, n) counts: row ``b`` says how often each of the ``n`` rows is in resample ``b``.

    ``method``: "iid" (n draws with replacement), "stratified" (within each value of ``strata``, as
    many draws as the stratum has rows) or "block" (moving blocks of ``block`` consecutive rows, starts
    drawn uniformly, concatenated and cut to ``n``: rows must be in time order).
    """
    if n == 0:
        return np.zeros((resamples, 0))
    if method == "stratified" and strata is not None:
        s = np.asarray(strata).reshape(-1)
        w = np.zeros((resamples, n))
        for v in np.unique(s):
            rows = np.flatnonzero(s == v)
            draw = rng.integers(0, len(rows), size=(resamples, len(rows)))
            w[:, rows] = _counts(draw, len(rows))
        return w
    if method == "block":
        size = block_length(n) if block is None else int(max(1, min(block, n)))
        k = -(-n // size)
        starts = rng.integers(0, n - size + 1, size=(resamples, k))
        idx = (starts[:, :, None] + np.arange(size)).reshape(resamples, -1)[:, :n]
        return _counts(idx, n)
    return _counts(rng.integers(0, n, size=(resamples, n)), n)


# --------------------------------------------------------------------------- weighted metrics


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _confusion(w: np.ndarray, y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(B, k, k) weighted confusion matrices, rows = true class."""
    onehot = np.zeros((len(y), k * k))
    onehot[np.arange(len(y)), y * k + pred] = 1.0
    return (w @ onehot).reshape(-1, k, k)


def _from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, macro P/R/F1 and MCC of (B, k, k) confusion matrices, as
    scikit-learn computes them (macro over classes seen in y_true or in the predictions)."""
    total = cm.sum(axis=(1, 2))
    tp = np.diagonal(cm, axis1=1, axis2=2)
    t_sum = cm.sum(axis=2)  # true counts per class
    p_sum = cm.sum(axis=1)  # predicted counts per class
    seen = (t_sum > 0) | (p_sum > 0)
    prec = np.where(p_sum > 0, tp / np.where(p_sum > 0, p_sum, 1), 0.0)
    rec = np.where(t_sum > 0, tp / np.where(t_sum > 0, t_sum, 1), 0.0)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.where(prec + rec > 0, prec + rec, 1), 0.0)
    n_seen = np.maximum(seen.sum(axis=1), 1)
    n_true = np.maximum((t_sum > 0).sum(axis=1), 1)
    c = tp.sum(axis=1)
    cov_ytyp = c * total - (t_sum * p_sum).sum(axis=1)
    cov_ypyp = total**2 - (p_sum**2).sum(axis=1)
    cov_ytyt = total**2 - (t_sum**2).sum(axis=1)
    den = np.sqrt(cov_ytyt * cov_ypyp)
    return {
        "accuracy": _safe_div(c, total),
        "balanced_accuracy": (rec * (t_sum > 0)).sum(axis=1) / n_true,
        "macro_precision": (prec * seen).sum(axis=1) / n_seen,
        "macro_recall": (rec * seen).sum(axis=1) / n_seen,
        "macro_f1": (f1 * seen).sum(axis=1) / n_seen,
        "mcc": np.where(den > 0, cov_ytyp / np.where(den > 0, den, 1), 0.0),
    }


def _score_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order of ``score`` (ascending) and the start of each run of tied scores in that order."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts


def weighted_auc(w: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC-AUC per resample (B,): P(score of a positive > score of a negative) + half the ties, with
    each row counted ``w`` times (exactly ``roc_auc_score`` on the resampled rows)."""
    order, starts = _score_groups(score)
    pos = positive[order].astype(bool)
    at_pos, at_neg = np.flatnonzero(pos), np.flatnonzero(~pos)  # sorted positions of each class
    # cumulative weight of the negatives in score order, with a leading 0: cum[:, k] = first k negatives
    cum = np.zeros((w.shape[0], at_neg.size + 1))
    np.cumsum(w[:, order[at_neg]], axis=1, out=cum[:, 1:])
    # for each positive, its tie group [start, end): negatives strictly below it, and tied with it
    group = np.searchsorted(starts, at_pos, side="right") - 1
    ends = np.r_[starts[1:], pos.size]
    below = cum[:, np.searchsorted(at_neg, starts[group])]
    upto = cum[:, np.searchsorted(at_neg, ends[group])]
    wp = w[:, order[at_pos]]
    num = (wp * (below + 0.5 * (upto - below))).sum(axis=1)
    return _safe_div(num, wp.sum(axis=1) * cum[:, -1])


def weighted_average_precision(w: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Average precision per resample (B,), as ``average_precision_score``: sum over score thresholds
    (descending) of the recall gained times the precision there."""
    order, starts = _score_groups(-score)  # descending scores
    pos = positive[order].astype(bool)
    ws = w[:, order]
    wp = np.add.reduceat(ws * pos, starts, axis=1)
    wn = np.add.reduceat(ws * ~pos, starts, axis=1)
    tp = np.cumsum(wp, axis=1)
    fp = np.cumsum(wn, axis=1)
    precision = _safe_div(tp, tp + fp)
    total_pos = tp[:, -1:]
    return _safe_div((wp * np.nan_to_num(precision)).sum(axis=1), total_pos[:, 0])


def classification_stats(w: np.ndarray, y: np.ndarray, proba: np.ndarray, k: int,
                         threshold: float | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Every metric of :func:`tfdl.evaluation.metrics.classification_metrics`, per resample."""
    y = np.asarray(y).reshape(-1).astype(int)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    pos_score = p if p.ndim == 1 else (p[:, 1] if k == 2 else None)
    pred = class_ids(p, threshold)
    out = _from_confusion(_confusion(w, y, pred, k))
    if pos_score is not None:
        out["roc_auc"] = weighted_auc(w, y == 1, pos_score)
        out["pr_auc"] = weighted_average_precision(w, y == 1, pos_score)
    else:
        per = [weighted_auc(w, y == c, p[:, c]) for c in np.unique(y)]
        out["roc_auc"] = np.mean(per, axis=0) if len(per) > 1 else np.full(len(w), np.nan)
    return out


def regression_stats(w: np.ndarray, y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, MSE, RMSE, R² per resample (values flattened row by row: an (n, m) target counts m values
    per row, each with the row's weight)."""
    yy = np.asarray(y, dtype=np.float64).reshape(w.shape[1], -1)
    pp = np.asarray(pred, dtype=np.float64).reshape(yy.shape)
    m = yy.shape[1]
    tot = w.sum(axis=1) * m
    e = yy - pp
    sse = w @ (e**2).sum(axis=1)
    mse = _safe_div(sse, tot)
    sy, syy = w @ yy.sum(axis=1), w @ (yy**2).sum(axis=1)
    sst = syy - _safe_div(sy**2, tot)
    return {
        "mae": _safe_div(w @ np.abs(e).sum(axis=1), tot),
        "mse": mse,
        "rmse": np.sqrt(mse),
        "r2": np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.nan),
    }


def forecast_stats(w: np.ndarray, y: np.ndarray, pred: np.ndarray, scale: float | None) -> dict:
    """MAE, RMSE, sMAPE, MASE per resample, from the per-window errors (a window is one row)."""
    yy = np.asarray(y, dtype=np.float64)
    yy = yy.reshape(len(yy), -1)
    pp = np.asarray(pred, dtype=np.float64).reshape(yy.shape)
    e = yy - pp
    h = yy.shape[1]
    tot = w.sum(axis=1) * h
    mae = _safe_div(w @ np.abs(e).sum(axis=1), tot)
    den = (np.abs(yy) + np.abs(pp)) / 2.0
    keep = den > 0
    term = np.where(keep, np.abs(e) / np.where(keep, den, 1.0), 0.0)
    ok = scale is not None and math.isfinite(scale) and scale > 0
    return {
        "mae": mae,
        "rmse": np.sqrt(_safe_div(w @ (e**2).sum(axis=1), tot)),
        "smape": 100.0 * _safe_div(w @ term.sum(axis=1), w @ keep.sum(axis=1).astype(np.float64)),
        "mase": mae / scale if ok else np.full(len(w), np.nan),
    }


def anomaly_stats(w: np.ndarray, y: np.ndarray, score: np.ndarray, threshold: float) -> dict:
    """ROC-AUC, PR-AUC and precision / recall / F1 of ``score >= threshold`` per resample."""
    yy = np.asarray(y).reshape(-1).astype(int)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    flag = s >= threshold
    tp = w @ ((yy == 1) & flag)
    fp = w @ ((yy == 0) & flag)
    fn = w @ ((yy == 1) & ~flag)
    prec = np.nan_to_num(_safe_div(tp, tp + fp))
    rec = np.nan_to_num(_safe_div(tp, tp + fn))
    return {
        "roc_auc": weighted_auc(w, yy == 1, s),
        "pr_auc": weighted_average_precision(w, yy == 1, s),
        "precision": prec,
        "recall": rec,
        "f1": np.nan_to_num(_safe_div(2 * prec * rec, prec + rec)),
    }


def task_stats(task: str, w: np.ndarray, y: Any, pred: Any, kw: dict) -> dict[str, np.ndarray]:
    """The weighted metrics of ``task`` for resample weights ``w`` (B, n); ``kw`` as the task's
    evaluation keywords (labels, scale, threshold)."""
    if task == "classification":
        labels = kw.get("labels") or []
        p = np.asarray(pred)
        k = len(labels) or (2 if p.ndim == 1 or p.shape[1] == 1 else p.shape[1])
        return classification_stats(w, y, pred, k, kw.get("decision_threshold"))
    if task == "forecast":
        return forecast_stats(w, y, pred, kw.get("scale"))
    if task == "anomaly":
        return anomaly_stats(w, y, pred, float(kw["threshold"]))
    if task == "regression":
        return regression_stats(w, y, pred)
    raise ValueError(f"no bootstrap statistics for task {task!r}")


# --------------------------------------------------------------------------- intervals


def _pct(values: np.ndarray, level: float) -> list[float | None] | None:
    v = values[np.isfinite(values)]
    if len(v) < 0.5 * len(values) or len(v) < 10:
        return None  # the metric is undefined on too many resamples
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    return [round(float(lo), 4), round(float(hi), 4)]


def bootstrap(
    task: str,
    y_true: Any,
    preds: dict[str, Any],
    kws: dict[str, dict] | None = None,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
    method: str | None = None,
    block: int | None = None,
    pairs_with: str = "model",
) -> dict:
    """Intervals for every metric of every predictor in ``preds`` ({name: predictions}; ``pairs_with``
    is the model), and for the paired difference ``model - baseline`` of every baseline.

    ``kws``: {name: evaluation keywords} (labels, scale, threshold). Returns the metrics.json
    ``intervals`` entry: ``{level, resamples, method, block, model: {metric: [lo, hi]},
    baselines: {name: {metric: [lo, hi]}}, difference: {name: {metric: [lo, hi]}}}``.
    """
    y = np.asarray(y_true)
    n = len(y)
    method = method or method_for(task)
    if method == "block" and block is None:
        block = block_length(n, int(np.asarray(y).reshape(n, -1).shape[1]))
    rng = np.random.default_rng(seed)
    strata = y.reshape(-1).astype(int) if method == "stratified" else None
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(n, 1)))
    stats: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in preds}
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        w = resample_weights(n, b, rng, method=method, strata=strata, block=block)
        for name, p in preds.items():
            for k, v in task_stats(task, w, y, p, (kws or {}).get(name, {})).items():
                stats[name].setdefault(k, []).append(v)
        done += b
    arrays = {name: {k: np.concatenate(v) for k, v in s.items()} for name, s in stats.items()}
    out: dict[str, Any] = {
        "level": level, "resamples": resamples,
        "method": {"stratified": "stratified by class", "block": f"moving blocks of {block} windows",
                   "iid": "rows with replacement"}.get(method, method),
        "model": {}, "baselines": {}, "difference": {},
    }  # fmt: skip
    model = arrays.get(pairs_with, {})
    for name, s in arrays.items():
        ci = {k: _pct(v, level) for k, v in s.items()}
        if name == pairs_with:
            out["model"] = ci
            continue
        out["baselines"][name] = ci
        out["difference"][name] = {k: _pct(model[k] - v, level) for k, v in s.items() if k in model}
    return out


def verdict(low: float | None, high: float | None, higher: bool) -> str:
    """ "wins" / "loses" / "within noise" from the interval of model - baseline (95 % by default)."""
    if low is None or high is None:
        return "within noise"
    if higher:
        return "wins" if low > 0 else "loses" if high < 0 else "within noise"
    return "wins" if high < 0 else "loses" if low > 0 else "within noise"


def difference_interval(intervals: dict, baseline: str, metric: str) -> dict | None:
    """The comparison's ``difference_interval`` entry for ``baseline`` on ``metric`` (None if missing)."""
    ci = ((intervals or {}).get("difference") or {}).get(baseline, {}).get(metric)
    if not ci:
        return None
    return {"baseline": baseline, "metric": metric, "low": ci[0], "high": ci[1],
            "level": intervals.get("level", LEVEL), "resamples": intervals.get("resamples"),
            "method": intervals.get("method"),
            "better_side": "above 0" if higher_is_better(metric) else "below 0"}  # fmt: skip
