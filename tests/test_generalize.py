"""`tfdl bench generalize`: the suite's data sets are written as the user path expects, the runner turns a
`tfdl cv` into a table row with a verdict, and bad options are one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import generalize as R  # noqa: E402
import generalize_data as G  # noqa: E402

PREPARE = """
import json, sys
sys.path.insert(0, "benchmarks")
import generalize_data as G
from pathlib import Path
metas = [G.prepare(d, Path(sys.argv[1]), quick=True) for d in G.DATASETS]
print(json.dumps({"metas": metas, "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, dict]:
    """Every data set's quick slice, written by a fresh process (which must not import TensorFlow)."""
    cache = tmp_path_factory.mktemp("generalize")
    out = subprocess.run(
        [sys.executable, "-c", PREPARE, str(cache)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tensorflow"] is False
    return {m["name"]: m for m in result["metas"]}


def _sets(ds: G.Dataset) -> dict[str, str]:
    return dict(s.split("=", 1) for s in ds.sets)


def test_every_app_has_at_least_four_data_sets_and_none_is_a_default():
    for app in G.APPS:
        assert len([d for d in G.DATASETS if d.app == app]) >= 4, app
    names = " ".join(d.source.lower() for d in G.DATASETS)
    for default in ("fashion", "rotten", "credit_data", "diamonds", "elecdemand", "shuttle"):
        assert default not in names


@pytest.mark.parametrize("ds", [d for d in G.DATASETS if d.app == "vision"], ids=lambda d: d.name)
def test_vision_sets_are_folders_of_class_subfolders_of_png(prepared, ds):
    meta = prepared[ds.name]
    folder = Path(meta["path"])
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    counts = [len(list(c.glob("*.png"))) for c in classes]
    assert len(classes) >= 2 and sum(counts) == meta["rows"] and min(counts) >= 2
    sizes = {Image.open(p).size for p in folder.glob("*/*.png")}
    modes = {Image.open(p).mode for p in folder.glob("*/*.png")}
    assert len(sizes) == 1 and len(modes) == 1  # every image of a set has the same shape
    expected = {"digits-8x8": ((8, 8), "L"), "photo-patches-32-rgb": ((32, 32), "RGB")}
    assert (sizes.pop(), modes.pop()) == expected.get(ds.name, ((28, 28), "L"))
    if "imbalanced" in ds.name:
        assert max(counts) >= 5 * min(counts)


@pytest.mark.parametrize("ds", [d for d in G.DATASETS if d.app == "text"], ids=lambda d: d.name)
def test_text_sets_are_csv_with_text_and_label_columns(prepared, ds):
    df = pd.read_csv(prepared[ds.name]["path"])
    assert list(df.columns) == [_sets(ds)["data.text_column"], _sets(ds)["data.label_column"]]
    assert len(df) == prepared[ds.name]["rows"] >= 150
    assert df.label.nunique() >= 2 and df.text.str.strip().str.len().min() > 0


@pytest.mark.parametrize("ds", [d for d in G.DATASETS if d.app == "tabular"], ids=lambda d: d.name)
def test_tabular_sets_are_csv_with_the_named_target(prepared, ds):
    df = pd.read_csv(prepared[ds.name]["path"])
    target = _sets(ds)["data.target"]
    assert target in df.columns and df.shape[1] >= 4 and len(df) == prepared[ds.name]["rows"]
    assert "rownames" not in df.columns and df[target].notna().all()
    if ds.metric == "r2":
        assert pd.api.types.is_numeric_dtype(df[target]) and df[target].nunique() > 20
    else:
        assert 2 <= df[target].nunique() <= 10


@pytest.mark.parametrize("ds", [d for d in G.DATASETS if d.app == "timeseries"], ids=lambda d: d.name)
def test_timeseries_sets_have_a_regular_time_column(prepared, ds):
    s = _sets(ds)
    df = pd.read_csv(prepared[ds.name]["path"])
    covariates = s.get("data.covariates", "[]").strip("[]").split(",")
    assert {s["data.time_column"], s["data.target"], *filter(None, covariates)} == set(df.columns)
    t = pd.to_datetime(df[s["data.time_column"]])
    assert t.is_monotonic_increasing and t.is_unique
    steps = t.diff().dropna()
    # monthly data steps by 28..31 days; the others by a multiple of one step (a user's gaps are kept)
    base = steps.min()
    assert steps.dt.days.between(28, 31).all() or ((steps % base) == pd.Timedelta(0)).all()
    assert df[s["data.target"]].notna().all() and ds.folds  # tfdl cv: rolling forecast origins
    # the last 15% (data.test_fraction) must hold folds x horizon forecast origins (each test block at least
    # one horizon), and the first fold's training part one whole window
    n, horizon, lookback = len(df), int(s.get("data.horizon", 48)), int(s.get("data.lookback", 48))
    origins = n - horizon + 1 - round(n * 0.85)
    assert origins >= R.QUICK_FOLDS * horizon
    assert round(n * 0.85) - round(n * 0.15) >= lookback + horizon


@pytest.mark.parametrize("ds", [d for d in G.DATASETS if d.app == "anomaly"], ids=lambda d: d.name)
def test_anomaly_sets_are_numeric_rows_with_a_rare_label(prepared, ds):
    df = pd.read_csv(prepared[ds.name]["path"])
    label = _sets(ds)["data.label_column"]
    assert set(df[label].unique()) == {0, 1} and df[label].mean() < 0.4
    features = df.drop(columns=[label])
    assert all(pd.api.types.is_numeric_dtype(features[c]) for c in features) and features.notna().all().all()


def test_prepared_path_follows_the_cache_folder_it_is_read_from(workdir, monkeypatch):
    wine = G.select(names=["wine"])[0]
    first = G.prepare(wine, Path("cache"), quick=True)  # written with a cache relative to this folder
    assert Path(first["path"]).is_file() and first["rows"] == 150
    monkeypatch.chdir(workdir.parent)
    again = G.prepare(wine, workdir / "cache", quick=True)  # read back from elsewhere: not rewritten
    assert Path(again["path"]) == workdir / "cache/wine-quick/data.csv" and Path(again["path"]).is_file()


def test_hamlet_speeches_groups_lines_by_speaker():
    play = (
        "ACT I\nSCENE I. Elsinore.\nHAMLET\nTo be, or not to be:\nthat is the question.\nHORATIO\nMy lord.\n"
    )
    df = G.hamlet_speeches(play)
    assert df.values.tolist() == [
        ["HAMLET", "To be, or not to be: that is the question."],
        ["HORATIO", "My lord."],
    ]


def test_unknown_app_or_set_is_a_one_line_error_exit_2():
    for args in (["--only", "audio"], ["--sets", "nope"]):
        out = subprocess.run(
            [sys.executable, "benchmarks/generalize.py", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")
    assert "choose from" in out.stderr


def test_table_row_from_a_cv_summary():
    per_fold = [
        {"fold": k, "run_dir": "x", "model": 0.9 + 0.01 * k, "baselines": {"linear": 0.8}} for k in range(5)
    ]
    cv = {"app": "tabular", "model": "mlp", "metric": "accuracy", "higher_is_better": True, "folds": 5,
          "per_fold": per_fold}  # fmt: skip
    v = R._verdict_cv(cv)
    assert v["verdict"] == "wins" and v["best_baseline"] == "linear" and v["paired"]["model_wins"] == 5
    entry = {"app": "tabular", "rows": 1234, "model": "mlp", "metric": "accuracy", "folds": 5,
             "value": {"mean": 0.92, "sd": 0.016}, "baselines": {"linear": {"mean": 0.8, "sd": 0.0}},
             "train_seconds": 12.0, **v}  # fmt: skip
    row = R.table({"sets": {"toy": entry}})[2]
    assert row.startswith("| toy | 1,234 | tabular | mlp | accuracy | 0.920 +/- 0.016 | linear 0.800 |")
    assert "**wins** vs linear (+0.120 +/- 0.007, 5/5 folds)" in row


def test_resume_picks_the_unfinished_suite_of_the_same_mode(workdir):
    old = Path("runs/generalize-20260101-000000")
    old.mkdir(parents=True)
    (old / "results.json").write_text(json.dumps({"quick": False, "finished": False, "sets": {}}))
    assert R.results_dir(quick=False, fresh=False) == old
    assert R.results_dir(quick=True, fresh=False) != old and R.results_dir(False, fresh=True) != old
    (old / "results.json").write_text(json.dumps({"quick": False, "finished": True, "sets": {}}))
    assert R.results_dir(quick=False, fresh=False) != old


@pytest.mark.slow
def test_quick_end_to_end_on_a_tiny_set_gives_a_row_with_a_verdict(workdir):
    """The user's `tfdl cv` in a subprocess on the anomaly rows of wine-odds (100 rows, 2 folds, 2 epochs;
    the cheapest app per fold: half the time of a tabular set)."""
    path, results = R.run(
        names=["wine-odds"], quick=True, cache=workdir / "cache", record=False, log=lambda *a, **k: None
    )
    r = results["sets"]["wine-odds"]
    assert "error" not in r, r.get("error")
    assert r["command"][1:5] == [
        "cv",
        "anomaly",
        "--data",
        str((workdir / "cache/wine-odds-quick/data.csv").resolve()),
    ]
    assert r["folds"] == 2 and r["verdict"] in ("wins", "loses", "within noise")
    assert set(r["baselines"]) >= {"isolation_forest"} and 0 < r["value"]["mean"] <= 1
    assert np.isfinite(r["paired"]["se"]) and r["train_seconds"] > 0
    row = next(
        line
        for line in (path.parent / "results.md").read_text().splitlines()
        if line.startswith("| wine-odds")
    )
    assert r["verdict"] in row and "isolation_forest" in row
    assert json.loads(path.read_text())["finished"] is True
    assert not Path("BENCHMARKS.md").exists()  # quick runs are never recorded
