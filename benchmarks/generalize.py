"""`tfdl bench generalize`: do the defaults hold on real data sets nobody tuned them on?

For every app, the data sets of :mod:`generalize_data` are written as a user brings them (a CSV, a
folder of class sub-folders of PNG files) and the ordinary command line runs on each, in a subprocess,
with nothing but ``--data`` and the columns a user must name:

- ``tfdl cv APP --data PATH --folds 5 --metric M --set ...``: the model and every baseline on the same
  5 folds, and the paired verdict of ``tfdl cv`` (the model against the best baseline: wins / loses /
  within two standard errors). Time series are folded by rolling forecast origin (5 test blocks at the
  end of the series, each fold trained on everything before its validation block);
- ``tfdl train APP --data PATH --no-export --set ...`` for a set marked ``folds=False`` (none now): one
  split, no standard error.

One table (data set, rows, app, model, metric, the model's value, every baseline, verdict, train seconds)
goes to BENCHMARKS.md; ``runs/generalize-<time>/results.json`` keeps every number, and each data set's
runs and log are in ``runs/generalize-<time>/<name>/``. An interrupted suite resumes when run again: the
data sets already in the newest unfinished results file are skipped.

    python benchmarks/generalize.py [--only APP] [--sets a,b] [--quick] [--no-record]

``--quick`` (development, tests): 2 folds, small slices, 2 epochs; never written to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generalize_data as G  # noqa: E402

from tfdl.errors import TfdlError  # noqa: E402
from tfdl.runs import DEFAULT_RUNS_DIR  # noqa: E402

FOLDS, QUICK_FOLDS, QUICK_EPOCHS = 5, 2, 2
BUDGET_SECONDS = 30 * 60


def tfdl_command() -> list[str]:
    """The user's ``tfdl`` executable (the one installed beside this Python), else ``python -c``."""
    exe = Path(sys.executable).with_name("tfdl")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("tfdl")
    return [found] if found else [sys.executable, "-c", "from tfdl.cli import main; main()"]


def command(ds: G.Dataset, data_path: str, runs_dir: Path, quick: bool) -> list[str]:
    """The command line a user would type for ``ds`` (plus where the runs go, and quick's epochs)."""
    sets = [*ds.sets, f"runs_dir={runs_dir}"]
    if quick:
        sets.append(f"train.epochs={QUICK_EPOCHS}")
    if ds.folds:
        head = ["cv", ds.app, "--data", data_path, "--folds", str(QUICK_FOLDS if quick else FOLDS)]
        head += ["--metric", ds.metric]
    else:
        head = ["train", ds.app, "--data", data_path, "--no-export"]
    return [*tfdl_command(), *head, *(x for s in sets for x in ("--set", s))]


def _newest(pattern: str, root: Path) -> Path | None:
    found = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _verdict_cv(cv: dict) -> dict:
    """The ``tfdl cv`` verdict of cv.json in words: wins / loses / within noise, against the best baseline."""
    from tfdl.cv import CvResult

    r = CvResult(cv["app"], cv["model"], cv["metric"], cv["higher_is_better"], cv["folds"], cv["per_fold"])
    if not r.baseline_names:
        return {"verdict": "no baseline", "sentence": r.verdict()}
    pick = max if r.higher_is_better else min
    best = pick(r.baseline_names, key=lambda b: r.stats(b)["mean"])
    p = r.paired(best)
    within = p["se"] == p["se"] and abs(p["mean"]) <= 2 * p["se"]
    better = p["mean"] > 0 if r.higher_is_better else p["mean"] < 0
    word = "within noise" if within else ("wins" if better else "loses")
    return {"verdict": word, "best_baseline": best, "paired": p, "sentence": r.verdict()}


def read_cv(folder: Path) -> dict:
    """Numbers of a finished ``tfdl cv`` under ``folder``: model mean/sd, baselines, verdict, seconds."""
    path = _newest("*/cv-*/cv.json", folder)
    if path is None:
        raise RuntimeError(f"no cv.json under {folder}")
    cv = json.loads(path.read_text())
    seconds = [json.loads((Path(f["run_dir"]) / "metrics.json").read_text()) for f in cv["per_fold"]]
    return {
        "model": cv["model"],
        "metric": cv["metric"],
        "higher_is_better": cv["higher_is_better"],
        "folds": cv["folds"],
        "value": cv["model_stats"],
        "baselines": {b: {"mean": v["mean"], "sd": v["sd"]} for b, v in cv["baselines"].items()},
        "train_seconds": round(sum(m["train_seconds"] for m in seconds), 1),
        "summary": str(path),
        **_verdict_cv(cv),
    }


def read_train(folder: Path, metric: str) -> dict:
    """Numbers of one finished ``tfdl train`` (a chronological split): the model against its baselines."""
    from tfdl.evaluation.metrics import higher_is_better

    path = _newest("*/*/metrics.json", folder)
    if path is None:
        raise RuntimeError(f"no metrics.json under {folder}")
    m = json.loads(path.read_text())
    if m["test"].get(metric) is None:
        raise RuntimeError(f"metric {metric} missing from {path}")
    value = m["test"][metric]
    base = {b: {"mean": v[metric], "sd": 0.0} for b, v in m["baselines"].items() if v.get(metric) is not None}
    higher = higher_is_better(metric)
    out = {
        "model": m["model"],
        "metric": metric,
        "higher_is_better": higher,
        "folds": 1,
        "value": {"mean": value, "sd": 0.0},
        "baselines": base,
        "train_seconds": m["train_seconds"],
        "summary": str(path),
        "verdict": "no baseline",
    }
    if base:
        pick = max if higher else min
        best = pick(base, key=lambda b: base[b]["mean"])
        better = value > base[best]["mean"] if higher else value < base[best]["mean"]
        diff = value - base[best]["mean"]
        out.update(
            best_baseline=best,
            verdict=("better" if better else "worse") + " (1 split)",
            sentence=f"one chronological test split: {m['model']} {metric} {value:.4f} vs {best} "
            f"{base[best]['mean']:.4f} ({diff:+.4f}); no standard error without folds",
        )
    return out


# ------------------------------------------------------------------------------------------ results


def results_dir(quick: bool, fresh: bool) -> Path:
    """The newest unfinished suite of the same mode (resume), or a new ``runs/generalize-<time>``."""
    suffix = "-quick" if quick else ""
    if not fresh:
        for d in sorted(Path(DEFAULT_RUNS_DIR).glob("generalize-*"), reverse=True):
            f = d / "results.json"
            if (
                d.name.endswith("-quick") == quick
                and f.is_file()
                and not json.loads(f.read_text())["finished"]
            ):
                return d
    return Path(DEFAULT_RUNS_DIR) / f"generalize-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}{suffix}"


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def table(results: dict) -> list[str]:
    lines = [
        "| data set | rows | app | model | metric | model value | baselines | verdict | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["sets"].items():
        if "error" in r:
            lines.append(
                f"| {name} | {r.get('rows', '')} | {r['app']} | | | | | **failed**: {r['error']} | |"
            )
            continue
        folds = r["folds"]
        sd = f" +/- {r['value']['sd']:.3f}" if folds > 1 else ""
        base = ", ".join(f"{b} {_fmt(v['mean'])}" for b, v in r["baselines"].items())
        v = r["verdict"]
        if "paired" in r:
            p = r["paired"]
            v = (
                f"{'**' + v + '**' if v != 'within noise' else v} vs {r['best_baseline']} "
                f"({p['mean']:+.3f} +/- {p['se']:.3f}, {p['model_wins']}/{p['folds']} folds)"
            )
        elif "best_baseline" in r:
            v = f"{v} vs {r['best_baseline']}"
        lines.append(
            f"| {name} | {r['rows']:,} | {r['app']} | {r['model']} | {r['metric']} | "
            f"{_fmt(r['value']['mean'])}{sd} | {base} | {v} | {r['train_seconds']:.0f} |"
        )
    return lines


def summary_line(results: dict) -> str:
    words = [r.get("verdict", "failed") if "error" not in r else "failed" for r in results["sets"].values()]
    counts = {w: words.count(w) for w in dict.fromkeys(words)}
    wall = sum(r.get("wall_seconds", 0) for r in results["sets"].values())
    return (
        f"{len(words)} data sets: "
        + ", ".join(f"{n} {w}" for w, n in counts.items())
        + f". Suite wall time {wall / 60:.1f} min (budget {BUDGET_SECONDS // 60} min on 2 cores)."
    )


def run_one(ds: G.Dataset, meta: dict, out: Path, quick: bool, log=print) -> dict:
    """Run the user's command on one prepared data set; its numbers, or the error's last line."""
    folder = (out / ds.name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    cmd = command(ds, str(Path(meta["path"]).resolve()), folder, quick)
    entry = {"app": ds.app, "rows": meta["rows"], "task": ds.task, "source": ds.source, "command": cmd}
    t0 = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    with (folder / "log.txt").open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, text=True)
    entry["wall_seconds"] = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0:
        lines = [x for x in (folder / "log.txt").read_text().splitlines() if x.strip()]
        entry["error"] = (lines or ["no output"])[-1][:200]
        return entry
    entry.update(read_cv(folder) if ds.folds else read_train(folder, ds.metric))
    return entry


def run(
    only: str | None = None,
    names: list[str] | None = None,
    quick: bool = False,
    cache: Path = Path(".cache/generalize"),
    record: bool = True,
    fresh: bool = False,
    log=print,
) -> tuple[Path, dict]:
    """Prepare and run the selected data sets; returns (results.json path, results)."""
    chosen = G.select(only, names)
    out = results_dir(quick, fresh)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = (
        json.loads(path.read_text()) if path.is_file() else {"quick": quick, "finished": False, "sets": {}}
    )
    results.setdefault("started", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    for i, ds in enumerate(chosen, 1):
        done = results["sets"].get(ds.name)
        if done is not None and "error" not in done:
            log(f"[{i}/{len(chosen)}] {ds.name}: done before ({done['verdict']})")
            continue
        meta = G.prepare(ds, cache, quick)
        log(f"[{i}/{len(chosen)}] {ds.name} ({ds.app}, {meta['rows']:,} rows) ...", end=" ", flush=True)
        entry = run_one(ds, meta, out, quick)
        results["sets"][ds.name] = entry
        path.write_text(json.dumps(results, indent=2))
        outcome = entry.get("error") or f"{entry['metric']} {entry['value']['mean']:.3f}, {entry['verdict']}"
        log(f"{outcome} ({entry['wall_seconds']:.0f} s)")
    results["finished"] = True
    path.write_text(json.dumps(results, indent=2))
    lines = table(results)
    (out / "results.md").write_text("\n".join([*lines, "", summary_line(results)]) + "\n")
    if record and not quick:
        from tfdl.bench import record as record_section

        selection = f" --only {only}" if only else ""
        selection += f" --sets {','.join(names)}" if names else ""
        notes = [
            "",
            summary_line(results),
            "",
            f"Each row is the user's command on a data set no default was tuned on (sources and licences: "
            f"README, Generalization suite): `tfdl cv APP --data PATH --folds {FOLDS} --metric M` with the "
            "columns named by `--set` (time series: rolling forecast origins, expanding window). "
            "Verdict: the model against the best baseline by mean, paired "
            "difference +/- its standard error over the folds; within two standard errors = within noise. "
            f"train s = the model's training seconds summed over the folds. Every number: `{path}`.",
        ]
        record_section("Generalization suite", f"tfdl bench generalize{selection}", [*lines, *notes])
    return path, results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help=f"one app: {', '.join(G.APPS)}")
    ap.add_argument("--sets", help="comma-separated data set names")
    ap.add_argument("--quick", action="store_true", help="2 folds, small slices, 2 epochs (development)")
    ap.add_argument("--cache", default=".cache/generalize", help="where the prepared data sets are written")
    ap.add_argument("--no-record", action="store_true", help="do not append the table to BENCHMARKS.md")
    ap.add_argument("--fresh", action="store_true", help="start a new suite instead of resuming")
    args = ap.parse_args(argv)
    try:
        names = [n.strip() for n in args.sets.split(",") if n.strip()] if args.sets else None
        t0 = time.perf_counter()
        path, results = run(args.only, names, args.quick, Path(args.cache), not args.no_record, args.fresh)
    except TfdlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(table(results)))
    print(summary_line(results))
    print(f"this invocation: {(time.perf_counter() - t0) / 60:.1f} min")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
