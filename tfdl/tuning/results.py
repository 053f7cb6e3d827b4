"""What a search leaves beside the tuner's own state: trials.csv, best.yaml, the objective plot.

Per-trial facts Keras Tuner does not keep (seconds, epochs reached, RSS, which tuner ran it) are written
by the tuner process that ran the trial to ``<tune dir>/tfdl_trials/<trial>.<tuner>.<pid>.json`` (one file
per attempt, so workers sharing a directory never write the same file; a ``.start`` file marks that an
attempt began, so a test can count how often each trial ran).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

TRIALS_DIR = "tfdl_trials"


def rss_mb() -> float:
    """Resident set size of this process now (MB), from /proc (0.0 where it is not available)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def attempt_path(tune_dir: Path, trial_id: str, tuner_id: str, suffix: str) -> Path:
    d = Path(tune_dir) / TRIALS_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{trial_id}.{tuner_id}.{os.getpid()}.{suffix}"


def write_attempt(tune_dir: Path, trial_id: str, tuner_id: str, record: dict) -> None:
    path = attempt_path(tune_dir, trial_id, tuner_id, "json")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, default=str))
    tmp.replace(path)


def read_attempts(tune_dir: Path) -> dict[str, list[dict]]:
    """{trial_id: [attempt records, oldest first]}."""
    out: dict[str, list[dict]] = {}
    d = Path(tune_dir) / TRIALS_DIR
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        out.setdefault(str(rec["trial_id"]), []).append(rec)
    return out


def count_starts(tune_dir: Path) -> dict[str, int]:
    """How many times each trial began (across processes)."""
    out: dict[str, int] = {}
    d = Path(tune_dir) / TRIALS_DIR
    for p in d.glob("*.start") if d.is_dir() else []:
        tid = p.name.split(".", 1)[0]
        out[tid] = out.get(tid, 0) + 1
    return out


def error_line(message: str | None) -> str:
    """The last meaningful line of a Keras Tuner traceback message: ``Type: what went wrong``."""
    lines = [ln.strip() for ln in (message or "").strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""


def trial_rows(oracle, tune_dir: Path) -> list[dict[str, Any]]:
    """One row per trial, in trial-id order: id, status, objective, epochs, seconds, rss, error, every hp."""
    attempts = read_attempts(tune_dir)
    name = oracle.objective.name
    rows = []
    for tid in sorted(oracle.trials):
        t = oracle.trials[tid]
        last = (attempts.get(tid) or [{}])[-1]
        score = t.score if t.status == "COMPLETED" else None
        row: dict[str, Any] = {
            "trial_id": tid,
            "status": t.status,
            "metric": name,
            "objective": score,
            "best_epoch": (int(t.best_step) + 1)
            if t.status == "COMPLETED" and t.best_step is not None
            else None,
            "epochs": last.get("epochs"),
            "seconds": last.get("seconds"),
            "rss_mb": last.get("rss_mb"),
            "tuner_id": last.get("tuner_id"),
            "attempts": len(attempts.get(tid, [])),
            "error": error_line(t.message) or last.get("error", "") if t.status != "COMPLETED" else "",
        }
        row.update({f"hp.{k}": v for k, v in t.hyperparameters.values.items()})
        rows.append(row)
    return rows


def write_trials_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols or ["trial_id"])
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return path


def plot_objective(rows: list[dict[str, Any]], path: Path, direction: str) -> Path:
    """Objective of every completed trial (dots) and the best so far (step line), failures as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdl.figures import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    xs = [i for i, r in enumerate(rows) if r["objective"] is not None]
    ys = [rows[i]["objective"] for i in xs]
    ax.plot(xs, ys, "o", label="trial")
    best, bests = None, []
    for y in ys:
        best = y if best is None else (max(best, y) if direction == "max" else min(best, y))
        bests.append(best)
    if xs:
        ax.step(xs, bests, where="post", label="best so far")
    failed = [i for i, r in enumerate(rows) if r["status"] not in ("COMPLETED", "RUNNING")]
    if failed and ys:
        ax.plot(failed, [min(ys) if direction == "max" else max(ys)] * len(failed), "x", color="red",
                label="failed")  # fmt: skip
    name = rows[0]["metric"] if rows else "objective"
    ax.set(xlabel="trial (in start order)", ylabel=name, title=f"{name} per trial ({direction})")
    ax.legend(loc="best")
    return save_figure(fig, path)
