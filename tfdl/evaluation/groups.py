"""Metrics by group: does the model work as well for every population in the test set?

``eval.groups=COLUMN[,COLUMN]`` names columns of the test data (tabular columns, or any app whose test
inputs are a dict holding that column). A categorical column groups by its values (missing values are
the group "missing"); a numeric column with more than ``MAX_LEVELS`` distinct values is cut into four
groups at the quartiles of the TRAINING values. For each column the report has one row per group (size
and every test metric), the largest gap on the headline metric between two groups of at least
``MIN_GROUP`` rows, and the 95 % bootstrap interval of that gap (resamples stratified by group and class,
the same resamples for both groups). The gap's pair is chosen on the point estimates, so its interval is
for that pair: a gap whose interval holds 0 is not shown to be real on this test set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfdl.evaluation.bootstrap import LEVEL, _pct, resample_weights, task_stats

MIN_GROUP = 20
MAX_LEVELS = 12


def group_labels(values: Any, train_values: Any = None) -> np.ndarray:
    """Group names (object array) for one column's test values; numbers with many levels -> quartiles."""
    v = np.asarray(values)
    if v.dtype.kind in "fiu":
        vf = v.astype(np.float64)
        finite = vf[np.isfinite(vf)]
        if len(np.unique(finite)) > MAX_LEVELS:
            ref = np.asarray(train_values if train_values is not None else vf, dtype=np.float64)
            ref = ref[np.isfinite(ref)]
            edges = np.unique(np.quantile(ref, [0.25, 0.5, 0.75]))
            which = np.searchsorted(edges, vf, side="right")
            bounds = [-np.inf, *edges, np.inf]
            names = np.array([f"{_edge(bounds[i])}..{_edge(bounds[i + 1])}" for i in range(len(bounds) - 1)],
                             dtype=object)  # fmt: skip
            out = names[which]
            out[~np.isfinite(vf)] = "missing"
            return out
        out = np.array([f"{x:g}" for x in vf], dtype=object)
        out[~np.isfinite(vf)] = "missing"
        return out
    out = np.array(["missing" if (x is None or str(x) in ("", "nan", "None")) else str(x) for x in v],
                   dtype=object)  # fmt: skip
    return out


def _edge(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.4g}"


def group_report(
    task: str,
    y_true: Any,
    pred: Any,
    kw: dict,
    labels_by_column: dict[str, np.ndarray],
    metric: str,
    higher: bool,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """``{column: {metric, groups: [{group, n, <metrics>, interval}], gap: {...} | None}}``."""
    from tfdl.tasks import get_task

    t = get_task(task)
    y = np.asarray(y_true)
    p = np.asarray(pred)
    out = {}
    for col, g in labels_by_column.items():
        names, counts = np.unique(g, return_counts=True)
        strata = None
        if task in ("classification", "anomaly"):
            strata = np.array([f"{a}|{b}" for a, b in zip(g, y.reshape(len(y), -1)[:, 0], strict=False)])
        else:
            strata = g
        rng = np.random.default_rng(seed)
        w = (
            resample_weights(len(y), resamples, rng, method="stratified", strata=strata)
            if resamples
            else None
        )
        rows, stats = [], {}
        for name, n in zip(names, counts, strict=False):
            m = g == name
            row: dict[str, Any] = {"group": str(name), "n": int(n)}
            try:
                row.update({k: v for k, v in t.evaluate(y[m], p[m], None, **kw).items()
                            if not isinstance(v, (dict, list))})  # fmt: skip
            except ValueError:
                pass  # a metric undefined on this group (e.g. one class only): its cells stay empty
            if n >= MIN_GROUP and w is not None:
                s = task_stats(task, w[:, m], y[m], p[m], kw).get(metric)
                if s is not None:
                    stats[str(name)] = s
                    row["interval"] = _pct(s, LEVEL)
            rows.append(row)
        scored = {
            r["group"]: r.get(metric) for r in rows if r["n"] >= MIN_GROUP and r.get(metric) is not None
        }
        gap = None
        if len(scored) >= 2:
            best = (max if higher else min)(scored, key=scored.get)
            worst = (min if higher else max)(scored, key=scored.get)
            gap = {"metric": metric, "best": best, "worst": worst,
                   "gap": round(abs(scored[best] - scored[worst]), 4), "interval": None}  # fmt: skip
            if best in stats and worst in stats:
                d = stats[best] - stats[worst]
                ci = _pct(d if higher else -d, LEVEL)
                gap["interval"] = ci
                gap["real"] = bool(ci is not None and ci[0] > 0)
        out[col] = {"metric": metric, "groups": rows, "gap": gap, "min_group": MIN_GROUP}
    return out


def group_section(report: dict, plots: dict[str, str]) -> str:
    """Markdown: per column a table, the gap sentence and the plot link."""
    parts = []
    for col, r in report.items():
        metric = r["metric"]
        names = [k for k in ("accuracy", "roc_auc", "macro_f1", "mae", "rmse", "r2", "f1", "mase")
                 if any(k in g for g in r["groups"]) and k != metric]  # fmt: skip
        header = ["group", "n", metric, "95% interval", *names[:3]]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        for g in r["groups"]:
            ci = g.get("interval")
            span = f"{ci[0]:.4f} .. {ci[1]:.4f}" if ci else "—"
            cells = [g["group"], f"{g['n']:,}", _c(g.get(metric)), span,
                     *[_c(g.get(k)) for k in names[:3]]]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        gap = r.get("gap")
        if gap is None:
            sentence = f"Fewer than two groups have {r['min_group']} or more test rows: no gap is measured."
        else:
            ci = gap.get("interval")
            where = f"95% bootstrap interval {ci[0]:.4f} .. {ci[1]:.4f}" if ci else "no interval"
            verdict = (
                "the interval excludes 0: the gap is real on this test set"
                if gap.get("real") else "the interval holds 0: this test set cannot show the gap is real"
            )  # fmt: skip
            sentence = (f"Largest gap in {metric}: {gap['gap']:.4f} between '{gap['best']}' (best) and "
                        f"'{gap['worst']}' (worst) ({where}; {verdict}).")  # fmt: skip
        parts += [f"### By {col}", "", *lines, "", sentence, ""]
        if col in plots:
            parts += [f"![groups_{col}]({plots[col]})", ""]
    return "\n".join(parts)


def _c(v: Any) -> str:
    return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def group_plot(col: str, r: dict, out_path: Path) -> Path:
    """Headline metric per group with its bootstrap interval (groups of at least MIN_GROUP rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = r["metric"]
    rows = [g for g in r["groups"] if g.get(metric) is not None]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(rows) + 2), 3.2))
    xs = np.arange(len(rows))
    vals = [g[metric] for g in rows]
    lo = [g[metric] - g["interval"][0] if g.get("interval") else 0 for g in rows]
    hi = [g["interval"][1] - g[metric] if g.get("interval") else 0 for g in rows]
    # Groups under MIN_GROUP rows have no interval: drawn pale, so they do not read as firm numbers.
    colors = [(0.12, 0.47, 0.71, 0.75 if g.get("interval") else 0.25) for g in rows]
    ax.bar(xs, vals, color=colors)
    ax.errorbar(xs, vals, yerr=[lo, hi], fmt="none", ecolor="k", capsize=3, lw=1)
    ax.set_xticks(xs, [f"{g['group']}\n(n={g['n']})" for g in rows], fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {col} (test, 95% bootstrap intervals; pale: < {MIN_GROUP} rows)", fontsize=9)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return out_path
