"""``report.md``: one readable page per run — data, settings, model vs every baseline, plots.

The input is the run's ``metrics.json`` dict (keys in ARCHITECTURE.md). The comparison sentence
comes from :func:`tfdl.evaluation.metrics.compare`, so the report says plainly when a baseline wins.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfdl.evaluation.metrics import compare, headline

MAX_HORIZON_ROWS = 48


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e5 else f"{v:,.1f}"
    return str(v).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _baselines(metrics: dict) -> dict[str, dict]:
    """Every baseline's test metrics: ``metrics["baselines"]`` plus the headline ``metrics["baseline"]``."""
    out: dict[str, dict] = {}
    head = metrics.get("baseline") or {}
    if head.get("name"):
        out[head["name"]] = head.get("test") or {}
    for name, m in (metrics.get("baselines") or {}).items():
        out.setdefault(name, (m.get("test") if isinstance(m.get("test"), dict) else m) or {})
    return out


def _metrics_section(metrics: dict, baselines: dict[str, dict]) -> list[str]:
    task = metrics.get("task", "")
    test = metrics.get("test") or {}
    model = metrics.get("model", "model")
    names: list[str] = []
    for m in [test, *baselines.values()]:
        names += [k for k, v in m.items() if k not in names and not isinstance(v, (dict, list))]
    header = ["metric", f"{model} (model)", *[f"{b} (baseline)" for b in baselines]]
    iv = metrics.get("intervals") or {}
    model_ci = iv.get("model") or {}
    base_ci = iv.get("baselines") or {}
    rows = [
        [k, _with_ci(test.get(k), model_ci.get(k)),
         *[_with_ci(b.get(k), (base_ci.get(name) or {}).get(k)) for name, b in baselines.items()]]
        for k in names
    ]  # fmt: skip
    parts = ["## Test metrics", ""]
    from tfdl.tasks import TASKS

    if task in TASKS:
        metric, higher = headline(task, metrics)
        why = (metrics.get("headline") or {}).get("reason")
        parts += [
            f"Headline metric: **{metric}** ({'higher' if higher else 'lower'} is better"
            + (f"; {why}" if why else "")
            + ").",
            "",
        ]
        n_test = (metrics.get("dataset") or {}).get("n_test")
        verdict = compare(
            task, test, baselines, model_name=model, n_test=n_test, metric=metric, higher_is_better=higher,
            intervals=iv or None,
        )  # fmt: skip
        parts += [_table(header, rows), ""]
        if iv:
            parts += [
                f"Brackets: {iv.get('level', 0.95):.0%} bootstrap interval over {iv.get('resamples')} "
                f"resamples of the test set ({iv.get('method')}). The verdict reads the paired interval of "
                "the difference model - baseline (same resamples for both), not the overlap of the brackets.",
                "",
            ]
        parts += [f"**{verdict['sentence']}**", ""]
        parts += _difference_table(iv, metric, higher)
    else:
        parts += [_table(header, rows), ""]
    parts += _horizon_section(test, model, baselines)
    return parts


def _with_ci(v: Any, ci: list | None) -> Any:
    if v is None or not ci or isinstance(v, (dict, list, bool)):
        return v
    return f"{_cell(v)} [{_cell(ci[0])}, {_cell(ci[1])}]"


def _difference_table(iv: dict, metric: str, higher: bool) -> list[str]:
    """Model - each baseline on the headline metric with its paired interval and verdict."""
    from tfdl.evaluation.bootstrap import verdict

    diffs = iv.get("difference") or {}
    rows = []
    for name, d in diffs.items():
        ci = d.get(metric)
        if ci:
            rows.append([name, f"[{_cell(ci[0])}, {_cell(ci[1])}]", verdict(ci[0], ci[1], higher)])
    if not rows:
        return []
    return [
        f"Model - baseline on {metric}, paired {iv.get('level', 0.95):.0%} interval:",
        "",
        _table(["baseline", "difference interval", "model"], rows),
        "",
    ]


def _horizon_section(test: dict, model: str, baselines: dict[str, dict]) -> list[str]:
    ph = test.get("per_horizon")
    if not isinstance(ph, dict) or not ph.get("mae"):
        return []
    cols = {f"{model} MAE": ph["mae"]}
    for name, b in baselines.items():
        if isinstance(b.get("per_horizon"), dict) and b["per_horizon"].get("mae"):
            cols[f"{name} MAE"] = b["per_horizon"]["mae"]
    h = len(ph["mae"])
    steps = range(h) if h <= MAX_HORIZON_ROWS else sorted({0, h // 4, h // 2, 3 * h // 4, h - 1})
    rows = [[j + 1, *[(c[j] if j < len(c) else None) for c in cols.values()]] for j in steps]
    note = "" if h <= MAX_HORIZON_ROWS else f" (a sample of the {h} steps)"
    return [f"### Error by horizon{note}", "", _table(["step", *cols], rows), ""]


def write_report(
    run_dir: Path,
    metrics: dict,
    plots: Sequence[Path],
    sections: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``run_dir/report.md`` and return its path.

    ``metrics``: the metrics.json dict (app, model, task, dataset, precision_policy, epochs_run,
    train_seconds, samples_per_second, test, baseline, optional baselines / per_class / run_id).
    ``plots``: PNG paths, linked relative to ``run_dir`` so the folder can move.
    ``sections``: extra ``(title, markdown)`` sections appended at the end (explanations, notes).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    app = metrics.get("app", "?")
    model = metrics.get("model", "?")
    run_id = metrics.get("run_id") or run_dir.name
    ds = metrics.get("dataset") or {}
    parts = [f"# {app}: {model} (run {run_id})", ""]
    if metrics.get("task"):
        parts += [f"Task: {metrics['task']}.", ""]

    parts += ["## Data set", ""]
    parts += [
        _table(
            ["name", "source", "fingerprint", "train", "val", "test"],
            [
                [ds.get("name"), ds.get("source"), ds.get("fingerprint")]
                + [ds.get(k) for k in ("n_train", "n_val", "n_test")]
            ],
        ),
        "",
    ]
    for note in ds.get("notes") or []:
        parts.append(f"- Note: {note}")
    if ds.get("notes"):
        parts.append("")

    parts += ["## Settings", ""]
    secs, sps = metrics.get("train_seconds"), metrics.get("samples_per_second")
    settings = [
        ["precision policy", metrics.get("precision_policy")],
        ["why this precision", metrics.get("precision_reason")],
        ["epochs run", metrics.get("epochs_run")],
        ["parameters", None if metrics.get("parameters") is None else f"{metrics['parameters']:,}"],
        ["train seconds", None if secs is None else f"{secs:,.1f}"],
        ["samples per second", None if sps is None else f"{sps:,.0f}"],
    ]
    parts += [_table(["setting", "value"], settings), ""]

    parts += _metrics_section(metrics, _baselines(metrics))

    if metrics.get("per_class"):
        parts += ["## Per class (test)", ""]
        rows = [
            [r.get("label"), r.get("precision"), r.get("recall"), r.get("f1"), r.get("support")]
            for r in metrics["per_class"]
        ]
        parts += [_table(["label", "precision", "recall", "f1", "support"], rows), ""]

    if plots:
        parts += ["## Plots", ""]
        for p in plots:
            rel = Path(os.path.relpath(Path(p).resolve(), run_dir.resolve())).as_posix()
            parts += [f"![{Path(p).stem}]({rel})", ""]

    for title, body in sections:
        parts += [f"## {title}", "", body.rstrip(), ""]

    out = run_dir / "report.md"
    out.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
    return out
