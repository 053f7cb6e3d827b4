"""`tfdl runs` lists finished runs and `tfdl runs diff` shows what changed; model-card tracking fields."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tfdl.cli import main


def _tiny_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 240
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    y = ((x1 + (colour == "red") - 0.5 * x2) > 0.3).astype(int)
    lines = ["x1,x2,colour,label"] + [f"{a:.4f},{b:.4f},{c},{t}" for a, b, c, t in zip(x1, x2, colour, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def deterministic_run(tmp_path_factory) -> Path:
    """One real tabular run with op determinism on (in a subprocess: determinism is process-wide)."""
    root = tmp_path_factory.mktemp("runs-cmd")
    csv = _tiny_csv(root / "tiny.csv")
    args = ["train", "tabular", "--data", str(csv), "--epochs", "2", "--no-export",
            "--set", "data.target=label", "--set", "train.deterministic=true",
            "--set", f"runs_dir={root / 'runs'}"]  # fmt: skip
    cmd = [sys.executable, "-m", "tfdl.cli", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (run,) = [p for p in (root / "runs" / "tabular").iterdir() if (p / "metrics.json").is_file()]
    return run


def test_deterministic_is_recorded(deterministic_run):
    m = json.loads((deterministic_run / "metrics.json").read_text())
    assert m["deterministic"] is True
    assert yaml.safe_load((deterministic_run / "config.yaml").read_text())["train"]["deterministic"] is True


def test_runs_lists_model_data_metric_and_baseline(deterministic_run, capsys):
    runs_dir = deterministic_run.parent.parent
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    m = json.loads((deterministic_run / "metrics.json").read_text())
    (row,) = [line for line in out if line.startswith(deterministic_run.name)]
    assert "tabular" in row and m["model"] in row
    assert m["dataset"]["fingerprint"].removeprefix("sha256:")[:12] in row
    assert f"{m['test']['accuracy']:.4g}" in row  # the headline metric of a classification run
    assert any(name in row for name in m["baselines"])


def test_runs_diff_shows_config_and_metric_changes(deterministic_run, tmp_path, capsys):
    other = tmp_path / "runs" / "tabular" / "other-run"
    shutil.copytree(deterministic_run, other)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["train"]["learning_rate"] = 0.01
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    m = json.loads((other / "metrics.json").read_text())
    m["test"]["accuracy"] = m["test"]["accuracy"] - 0.05
    (other / "metrics.json").write_text(json.dumps(m))
    assert main(["runs", "diff", str(deterministic_run), str(other)]) == 0
    out = capsys.readouterr().out
    assert "train.learning_rate: 0.001 -> 0.01" in out
    assert "accuracy:" in out and "-0.05" in out
    assert "same fingerprint" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["runs", "diff", "only-one"], "usage: tfdl runs diff"),
        (["runs", "diff", "no-such-a", "no-such-b"], "no finished run 'no-such-a'"),
        (["runs", "visoin"], "unknown app 'visoin'"),
    ],
)
def test_runs_errors_are_one_line(args, needle, capsys, workdir):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


@pytest.mark.parametrize(
    "cmd",
    [["evaluate", "tabular"], ["export", "tabular"], ["explain", "tabular", "--method", "shap"],
     ["predict", "tabular", "--input", "x.csv", "--run", "latest"]],
)  # fmt: skip
def test_every_run_command_reads_the_runs_dir_option(cmd, tmp_path, workdir, capsys):
    """The runs folder is one setting: DEFAULT_RUNS_DIR, the config's runs_dir default, or --runs-dir."""
    from tfdl.config import RunConfig
    from tfdl.runs import DEFAULT_RUNS_DIR

    assert RunConfig().runs_dir == DEFAULT_RUNS_DIR
    assert main(cmd) == 2
    assert f"under {Path(DEFAULT_RUNS_DIR) / 'tabular'}" in capsys.readouterr().err
    elsewhere = tmp_path / "elsewhere"
    assert main([*cmd, "--runs-dir", str(elsewhere)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"no finished run of 'tabular' under {elsewhere / 'tabular'}" in err and "\n" not in err


def test_model_card_has_description_and_dirty_flag(tmp_path):
    from tests.export.helpers import build, tiny_app, tiny_config, tiny_splits
    from tfdl.export.savedmodel import model_card

    splits = tiny_splits(n_train=10, n_test=5)
    cfg = tiny_config(tmp_path)
    cfg.export.description = "stripes detector for the quality line"
    card = model_card(tiny_app(splits), cfg, build(splits, cfg), splits, {"test": {}})
    assert card["description"] == "stripes detector for the quality line"
    assert card["git_dirty"] in (True, False, None)
    repo = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
    if repo.returncode == 0:
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True).stdout.strip() != ""  # fmt: skip
        assert card["git_dirty"] is dirty
