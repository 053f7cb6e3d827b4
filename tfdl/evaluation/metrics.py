"""Test-set metrics for every task, computed with scikit-learn, plus the model-vs-baseline verdict.

Every function returns plain JSON-able dicts: floats rounded to 4 decimals, ``None`` where a metric
is undefined (a single class in ``y_true``, a zero MASE scale, ...), so ``metrics.json`` never holds
NaN. The keys are the ``metrics.json`` contract in ARCHITECTURE.md.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn import metrics as skm

# Metrics where lower is better (every other metric: higher is better). The one definition of metric
# direction: task headlines, the verdict, `tfdl cv`, early stopping and the tuner objective all read it.
LOWER_IS_BETTER = {"loss", "mae", "mse", "rmse", "log_loss", "smape", "mase", "brier", "mape", "ece",
                   "hamming_loss"}  # fmt: skip


def higher_is_better(metric: str) -> bool:
    """Direction of a test metric or of a Keras history key (``val_loss``, ``val_accuracy``)."""
    name = metric[4:] if metric.startswith("val_") else metric
    return name not in LOWER_IS_BETTER


def _num(x: Any) -> float | None:
    """A rounded float, or None for NaN / inf / missing (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return round(x, 4) if math.isfinite(x) else None


def _quiet(fn, *args, **kwargs):
    # sklearn warns on classes absent from y_true / y_pred; the output already encodes that (0 or None).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- classification


def class_ids(proba: Any, threshold: float | None = None) -> np.ndarray:
    """The decided class id per row of class probabilities, the one rule everywhere (metrics, bootstrap,
    plots, the served ``decisions``): a sigmoid column ``(n,)`` or ``(n, 1)`` is class 1 when it reaches
    ``threshold`` (0.5 unset); two columns give class 1 when ``p[:, 1]`` reaches ``threshold`` if one is
    set (``eval.threshold``, chosen on validation), else the argmax; more columns the argmax."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim == 1:
        return (p >= (0.5 if threshold is None else threshold)).astype(int)
    if p.shape[1] == 2 and threshold is not None:
        return (p[:, 1] >= threshold).astype(int)
    return p.argmax(axis=1)


def _class_inputs(
    y_true: Any, proba: Any, labels: list[str], threshold: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """-> (y_true (n,), predicted ids (n,), positive-class score (n,) if binary else None).
    ``threshold`` (binary only): predict the positive class when its probability is >= it (else 0.5 /
    argmax)."""
    y = np.asarray(y_true).reshape(-1).astype(int)
    p = np.asarray(proba, dtype=np.float64)
    k = len(labels)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if len(p) != len(y):
        raise ValueError(
            f"y_true has {len(y)} rows but proba has {len(p)}; pass predictions for the same rows"
        )
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"y_true must hold class ids in [0, {k}); received values {y.min()}..{y.max()}")
    if p.ndim == 1:
        if k != 2:
            raise ValueError(f"a 1-D (sigmoid) proba needs exactly 2 labels; received {k} labels")
        return y, class_ids(p, threshold), p
    if p.ndim != 2 or p.shape[1] != k:
        raise ValueError(f"proba must be (n, {k}) for {k} labels; received shape {p.shape}")
    return y, class_ids(p, threshold), (p[:, 1] if k == 2 else None)


def _ovr_macro_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """One-vs-rest macro ROC-AUC over the classes present in ``y`` (absent ones are undefined)."""
    present = np.unique(y)
    if len(present) < 2:
        return None
    return float(np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in present]))


def classification_metrics(
    y_true: Any, proba: Any, labels: list[str], threshold: float | None = None
) -> dict:
    """Accuracy, balanced accuracy, macro P/R/F1, MCC and ROC-AUC (+ PR-AUC when binary).

    ``y_true``: (n,) class ids in ``[0, len(labels))``. ``proba``: (n, k) class probabilities, or
    (n,) / (n, 1) positive-class probability of a sigmoid model (then ``len(labels) == 2``).
    Binary tasks (2 labels) score ROC-AUC and PR-AUC (average precision) on the positive class
    (label index 1); multi-class ROC-AUC is the one-vs-rest macro over classes present in ``y_true``.
    Macro precision / recall / F1 average over the classes seen in ``y_true`` or the predictions.
    ``threshold`` (binary): the decision threshold on the positive class (``eval.threshold``).
    """
    y, pred, pos = _class_inputs(y_true, proba, labels, threshold)
    prec, rec, f1, _ = _quiet(skm.precision_recall_fscore_support, y, pred, average="macro", zero_division=0)
    out = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": _quiet(skm.balanced_accuracy_score, y, pred),
        "macro_precision": prec,
        "macro_recall": rec,
        "macro_f1": f1,
        "mcc": _quiet(skm.matthews_corrcoef, y, pred),
    }
    both = len(np.unique(y)) == 2
    if pos is not None:
        out["roc_auc"] = skm.roc_auc_score(y, pos) if both else None
        out["pr_auc"] = skm.average_precision_score(y, pos) if both else None
    else:
        out["roc_auc"] = _ovr_macro_auc(y, np.asarray(proba, dtype=np.float64))
    return {k: _num(v) for k, v in out.items()}


def per_class_table(y_true: Any, proba: Any, labels: list[str], threshold: float | None = None) -> list[dict]:
    """One row per label: ``{label, precision, recall, f1, support}`` (support = count in ``y_true``)."""
    y, pred, _ = _class_inputs(y_true, proba, labels, threshold)
    prec, rec, f1, sup = _quiet(
        skm.precision_recall_fscore_support, y, pred, labels=list(range(len(labels))), zero_division=0
    )
    return [
        {"label": str(name), "precision": _num(p), "recall": _num(r), "f1": _num(f), "support": int(s)}
        for name, p, r, f, s in zip(labels, prec, rec, f1, sup, strict=True)
    ]


# --------------------------------------------------------------------------- regression / forecast


def regression_metrics(y_true: Any, pred: Any) -> dict:
    """MAE, MSE, RMSE, R² over all values (both arrays flattened: (n,), (n, 1) or (n, m))."""
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(
            f"y_true has {y.size} values but pred has {p.size}; pass predictions for the same rows"
        )
    r2 = _quiet(skm.r2_score, y, p) if len(y) > 1 else None
    return {
        "mae": _num(skm.mean_absolute_error(y, p)),
        "mse": _num(skm.mean_squared_error(y, p)),
        "rmse": _num(skm.root_mean_squared_error(y, p)),
        "r2": _num(r2),
    }


def seasonal_naive_scale(train_series: Any, season: int = 1) -> float:
    """In-sample MAE of the seasonal-naive forecast ``y[t] = y[t - season]``: the MASE denominator.

    ``train_series``: (T,) training values (only the training part: the scale must not see the test).
    """
    s = np.asarray(train_series, dtype=np.float64).reshape(-1)
    if season < 1 or len(s) <= season:
        raise ValueError(
            f"seasonal_naive_scale needs season >= 1 and more than {season} points; got {len(s)}"
        )
    return float(skm.mean_absolute_error(s[season:], s[:-season]))


def _smape(y: np.ndarray, p: np.ndarray) -> float | None:
    """Symmetric MAPE in percent (0..200), denominator (|y|+|p|)/2; 0/0 points are skipped.

    scikit-learn has MAPE but no sMAPE, hence this one hand-written metric.
    """
    den = (np.abs(y) + np.abs(p)) / 2.0
    keep = den > 0
    if not keep.any():
        return None
    return float(100.0 * np.mean(np.abs(y - p)[keep] / den[keep]))


def forecast_metrics(y_true: Any, pred: Any, scale: float | None) -> dict:
    """MAE, RMSE, sMAPE (%), MASE overall and per horizon step.

    ``y_true``, ``pred``: (n, h) — n forecast windows, h steps ahead ((n,) counts as h = 1).
    ``scale``: the seasonal-naive in-sample MAE (:func:`seasonal_naive_scale`); MASE = MAE / scale,
    ``None`` when the scale is missing or zero.
    Returns ``{mae, rmse, smape, mase, per_horizon: {mae: [h], rmse: [h], smape: [h], mase: [h]}}``.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    y = y.reshape(len(y), -1)
    p = p.reshape(len(p), -1)
    if y.shape != p.shape:
        raise ValueError(f"y_true is {y.shape} but pred is {p.shape}; both must be (n, horizon)")
    ok_scale = scale is not None and math.isfinite(scale) and scale > 0
    mae_h = skm.mean_absolute_error(y, p, multioutput="raw_values")
    rmse_h = skm.root_mean_squared_error(y, p, multioutput="raw_values")
    mae = skm.mean_absolute_error(y.reshape(-1), p.reshape(-1))
    return {
        "mae": _num(mae),
        "rmse": _num(skm.root_mean_squared_error(y.reshape(-1), p.reshape(-1))),
        "smape": _num(_smape(y, p)),
        "mase": _num(mae / scale) if ok_scale else None,
        "per_horizon": {
            "mae": [_num(v) for v in mae_h],
            "rmse": [_num(v) for v in rmse_h],
            "smape": [_num(_smape(y[:, j], p[:, j])) for j in range(y.shape[1])],
            "mase": [(_num(v / scale) if ok_scale else None) for v in mae_h],
        },
    }


# --------------------------------------------------------------------------- anomaly


def anomaly_metrics(y_true: Any, score: Any, threshold: float) -> dict:
    """ROC-AUC and PR-AUC (average precision) of the score; precision / recall / F1 of ``score >= threshold``.

    ``y_true``: (n,) 1 = anomaly, 0 = normal. ``score``: (n,) higher = more anomalous.
    """
    y = np.asarray(y_true).reshape(-1).astype(int)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but score has {s.size}; pass scores for the same rows")
    flagged = (s >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    prec, rec, f1, _ = _quiet(
        skm.precision_recall_fscore_support, y, flagged, average="binary", pos_label=1, zero_division=0
    )
    return {
        "roc_auc": _num(skm.roc_auc_score(y, s)) if both else None,
        "pr_auc": _num(skm.average_precision_score(y, s)) if both else None,
        "precision": _num(prec),
        "recall": _num(rec),
        "f1": _num(f1),
        # Not rounded: reconstruction-error thresholds can be ~1e-5 and the value is reused to flag rows.
        "threshold": float(threshold),
    }


def _fpr_threshold(normal_scores: np.ndarray, fpr_budget: float) -> float:
    """Smallest threshold t with mean(normal >= t) <= fpr_budget (the empirical upper quantile)."""
    s = np.sort(normal_scores)
    allowed = math.floor(fpr_budget * len(s) + 1e-9)
    uniq = np.unique(s)
    flagged = len(s) - np.searchsorted(s, uniq, side="left")  # how many normals score >= each value
    ok = uniq[flagged <= allowed]
    # No observed value keeps within budget (tiny set, ties at the top): flag nothing seen so far.
    return float(ok.min()) if len(ok) else float(np.nextafter(s[-1], np.inf))


def choose_threshold(y_val: Any | None, score_val: Any, rule: str = "f1", fpr_budget: float = 0.01) -> float:
    """Pick the anomaly threshold on VALIDATION data only (flag ``score >= threshold``).

    ``rule="f1"``: the validation score that maximises F1 (needs both classes in ``y_val``).
    ``rule="fpr"``: the lowest threshold flagging at most ``fpr_budget`` of the validation normals
    (``y_val == 0``); with ``y_val=None`` every validation row is treated as normal.
    For binary classifiers (``score`` = positive-class probability; ``eval.threshold``) also:
    ``"youden"`` (max TPR - FPR), ``"precision@P"`` (the lowest threshold with precision >= P, i.e. the
    most recall at that precision; the most precise one if none reaches P), ``"recall@R"`` (the highest
    threshold with recall >= R) and ``"fixed:T"`` (T itself).
    """
    s = np.asarray(score_val, dtype=np.float64).reshape(-1)
    if len(s) == 0:
        raise ValueError("choose_threshold needs at least one validation score; received none")
    y = None if y_val is None else np.asarray(y_val).reshape(-1).astype(int)
    if y is not None and y.shape != s.shape:
        raise ValueError(f"y_val has {y.size} values but score_val has {s.size}")
    if rule == "f1":
        if y is None or len(np.unique(y)) < 2:
            raise ValueError(
                "rule='f1' needs validation labels with both normals (0) and anomalies (1); "
                "use rule='fpr' for unlabelled validation data"
            )
        prec, rec, thr = skm.precision_recall_curve(y, s)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)[:-1]
        return float(thr[int(np.argmax(f1))])
    if rule == "fpr":
        if not 0.0 <= fpr_budget < 1.0:
            raise ValueError(f"fpr_budget must be in [0, 1); received {fpr_budget}")
        normals = s if y is None else s[y == 0]
        if len(normals) == 0:
            raise ValueError("rule='fpr' needs validation normals (y_val == 0); received none")
        return _fpr_threshold(normals, fpr_budget)
    if rule == "youden":
        _need_both(y, rule)
        fpr, tpr, thr = skm.roc_curve(y, s)
        keep = np.isfinite(thr)
        return float(thr[keep][int(np.argmax((tpr - fpr)[keep]))])
    kind, target = parse_threshold_rule(rule)
    if kind == "fixed":
        return target
    if kind in ("precision", "recall"):
        _need_both(y, rule)
        prec, rec, thr = skm.precision_recall_curve(y, s)
        prec, rec = prec[:-1], rec[:-1]  # the last point has no threshold
        if kind == "precision":
            # the lowest threshold (most recall) whose precision reaches the target; else the most precise
            ok = np.flatnonzero(prec >= target)
            return float(thr[ok[0]] if len(ok) else thr[int(np.argmax(prec))])
        ok = np.flatnonzero(rec >= target)  # the highest threshold (most precision) keeping the recall
        return float(thr[ok[-1]] if len(ok) else thr[0])
    raise ValueError(f"rule must be one of {THRESHOLD_RULES}; received {rule!r}")


THRESHOLD_RULES = "f1, fpr, youden, precision@P, recall@R, fixed:T"


def parse_threshold_rule(rule: str) -> tuple[str, float | None]:
    """``"f1" | "youden" | "precision@0.9" | "recall@0.9" | "fixed:0.5"`` -> (kind, number or None).
    A bad rule raises ValueError naming the allowed forms."""
    text = str(rule).strip()
    if text in ("f1", "fpr", "youden"):
        return text, None
    for kind, sep in (("precision", "@"), ("recall", "@"), ("fixed", ":")):
        if text.startswith(kind + sep):
            try:
                v = float(text[len(kind) + 1 :])
            except ValueError:
                break
            inside = 0.0 <= v <= 1.0 if kind == "fixed" else 0.0 < v < 1.0
            if not inside:
                break
            return kind, v
    raise ValueError(
        f"threshold rule {text!r} is not one of f1, youden, precision@P, recall@R (0 < P, R < 1) or "
        "fixed:T (0 <= T <= 1)"
    )


def _need_both(y: np.ndarray | None, rule: str) -> None:
    if y is None or len(np.unique(y)) < 2:
        raise ValueError(f"rule={rule!r} needs validation labels with both classes (0 and 1)")


# --------------------------------------------------------------------------- dispatch and verdict


def _task(task: str):
    from tfdl.tasks import TASKS, get_task

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; received {task!r}")
    return get_task(task)


def evaluate(task: str, y_true: Any, pred: Any, info: Any = None, **kw: Any) -> dict:
    """Metrics for ``task`` (a registered :class:`tfdl.tasks.Task` name: classification | regression |
    forecast | anomaly | ...), computed by the task.

    ``pred``: probabilities (classification), values (regression, forecast (n, h)), scores (anomaly).
    Keywords: ``labels`` (classification; default ``info.labels``), ``scale`` (forecast MASE; default
    ``info.mase_scale``), ``threshold`` (anomaly; default ``info.threshold``).
    """
    return _task(task).evaluate(y_true, pred, info, **kw)


def headline(task: str, metrics: dict | None = None) -> tuple[str, bool]:
    """The metric that decides model vs baseline for ``task``, and whether higher is better. With a
    metrics.json dict that recorded its own choice (``metrics["headline"]``), that choice."""
    chosen = (metrics or {}).get("headline") if isinstance(metrics, dict) else None
    if isinstance(chosen, dict) and chosen.get("metric"):
        return chosen["metric"], bool(chosen.get("higher_is_better", True))
    t = _task(task)
    return t.headline, higher_is_better(t.headline)


def check_headline(name: str | None) -> None:
    """``eval.headline`` must be a metric some task reports: a one-line error before any training (the
    task itself may only be known once the data is read, e.g. tabular; evaluation checks it again)."""
    from tfdl.errors import TfdlError
    from tfdl.tasks import TASKS

    known = sorted({m for t in TASKS.values() for m in t.metrics})
    if name and name not in known:
        raise TfdlError(
            f"eval.headline '{name}' is not a metric tfdl reports; use one of: {', '.join(known)}"
        )


def choose_headline(
    task: str, y: Any = None, labels: list[str] | None = None, override: str | None = None
) -> dict:
    """The headline metric for this task AND this data, with the reason, for metrics.json and the report.

    The task decides from the training labels ``y`` (:meth:`tfdl.tasks.Task.choose_headline`: binary
    classification with a minority class under 35 % is judged on ROC-AUC). ``override``
    (``eval.headline``) wins, with its direction looked up.
    """
    if override:
        return {
            "metric": override, "higher_is_better": higher_is_better(override),
            "reason": "set by eval.headline",
        }  # fmt: skip
    return _task(task).choose_headline(y, labels)


def _test_of(m: dict) -> dict:
    """Accept either a bare metrics dict or one wrapping it under ``test`` (metrics.json shape)."""
    return m["test"] if isinstance(m, dict) and isinstance(m.get("test"), dict) else (m or {})


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"


def compare(
    task: str,
    model_metrics: dict,
    baselines: dict[str, dict],
    *,
    model_name: str | None = None,
    n_test: int | None = None,
    metric: str | None = None,
    higher_is_better: bool | None = None,
    intervals: dict | None = None,
) -> dict:
    """Model vs the best baseline on the headline metric, with a plain-English verdict.

    ``model_metrics``: the model's test metrics (or a metrics.json-shaped dict with ``test`` and
    ``model``). ``baselines``: ``{name: test metrics}`` (values may also wrap them under ``test``).
    A baseline that ties the model wins: a deep model must beat the classical one to be preferred.
    Returns ``{metric, model, best_baseline, baseline, winner, sentence}``; ``winner`` is ``"model"``
    or the baseline's name (``None`` when nothing can be compared). With ``n_test`` an accuracy margin
    smaller than two binomial standard errors is called out as noise (``within_noise``), pointing at
    ``tfdl cv``. ``metric`` / ``higher_is_better``: the run's own headline (:func:`choose_headline`)
    instead of the task default. ``intervals``: the run's bootstrap intervals
    (:func:`tfdl.evaluation.bootstrap.bootstrap`): the paired 95 % interval of model - best baseline
    then decides ``verdict`` ("wins" / "loses" / "within noise") and is kept as ``difference_interval``.
    """
    if metric is None:
        metric, higher = headline(task)
    else:
        higher = _higher(metric) if higher_is_better is None else higher_is_better
    name = model_name or (model_metrics.get("model") if isinstance(model_metrics.get("test"), dict) else None)
    who = f"the {name} model" if name else "the model"
    mv = _test_of(model_metrics).get(metric)
    scored = {b: _test_of(m).get(metric) for b, m in (baselines or {}).items()}
    scored = {b: v for b, v in scored.items() if v is not None}
    out = {"metric": metric, "model": mv, "best_baseline": None, "baseline": None, "winner": None}
    if not scored:
        out["sentence"] = f"No baseline reports {metric}, so {who} is not compared."
        return out
    best = (max if higher else min)(scored, key=scored.get)
    bv = scored[best]
    out.update(best_baseline=best, baseline=bv)
    if mv is None:
        out.update(
            winner=best, sentence=f"{who.capitalize()} has no {metric}; the baseline {best} has {_fmt(bv)}."
        )
        return out
    better = mv > bv if higher else mv < bv
    direction = "higher" if higher else "lower"
    gap = _fmt(abs(mv - bv))
    if better:
        out["winner"] = "model"
        out["sentence"] = (
            f"{who.capitalize()} wins: {metric} {_fmt(mv)} vs {_fmt(bv)} for the baseline {best} "
            f"({direction} is better; margin {gap})."
        )
    elif mv == bv:
        out["winner"] = best
        out["sentence"] = (
            f"{who.capitalize()} only ties the baseline {best}: {metric} {_fmt(mv)} for both, "
            f"so the simpler baseline is preferred."
        )
    else:
        out["winner"] = best
        out["sentence"] = (
            f"The baseline {best} wins: {metric} {_fmt(bv)} vs {_fmt(mv)} for {who} "
            f"({direction} is better; margin {gap})."
        )
    diff = _difference(intervals, best, metric, higher)
    if diff is not None:
        out["difference_interval"] = diff
        out["verdict"] = diff["verdict"]
        d = mv - bv
        ci = f"{_fmt(diff['low'])} to {_fmt(diff['high'])}"
        level = f"{diff['level']:.0%}"
        if diff["verdict"] == "wins":
            out["sentence"] = (
                f"{who.capitalize()} wins against the baseline {best}: {metric} {_fmt(mv)} vs {_fmt(bv)}; "
                f"the paired difference model - baseline is {_fmt(d)} ({level} bootstrap interval {ci}, "
                f"entirely on the better side of 0)."
            )
        elif diff["verdict"] == "loses":
            out["sentence"] = (
                f"{who.capitalize()} loses to the baseline {best}: {metric} {_fmt(mv)} vs {_fmt(bv)}; "
                f"the paired difference model - baseline is {_fmt(d)} ({level} bootstrap interval {ci}, "
                f"entirely on the worse side of 0)."
            )
        else:
            out["sentence"] = (
                f"{who.capitalize()} and the baseline {best} are within noise: {metric} {_fmt(mv)} vs "
                f"{_fmt(bv)}; the paired difference model - baseline is {_fmt(d)} and its {level} "
                f"bootstrap interval ({ci}) holds 0, so this test split cannot tell them apart "
                "(`tfdl cv` compares them over folds)."
            )
        return out
    if metric == "accuracy" and n_test and 0 < bv < 1:
        se = math.sqrt(bv * (1 - bv) / n_test)
        out["within_noise"] = abs(mv - bv) < 2 * se
        if out["within_noise"]:
            out["sentence"] += (
                f" The margin is within two standard errors of accuracy on {n_test:,} test examples "
                f"(+/-{_fmt(se)} each), so this split cannot tell them apart: `tfdl cv` compares them "
                "over folds."
            )
    return out


def _difference(intervals: dict | None, baseline: str, metric: str, higher: bool) -> dict | None:
    """The paired interval of model - ``baseline`` on ``metric`` with its verdict, or None."""
    if not intervals:
        return None
    from tfdl.evaluation.bootstrap import difference_interval, verdict

    diff = difference_interval(intervals, baseline, metric)
    if diff is None:
        return None
    diff["verdict"] = verdict(diff["low"], diff["high"], higher)
    return diff


_higher = higher_is_better  # compare() has an argument of that name
