"""`tfdl evaluate APP --model V --data NEW`: an exported version scored on new labelled data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfdl.cli import main


def _csv(path: Path, n: int, seed: int, flip: bool = False, extra_class: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    y = ((x1 + (colour == "red") - 0.5 * x2) > 0.3).astype(int)
    if flip:  # the world changed: the same inputs now mean the opposite
        y = 1 - y
    labels = np.where(y == 1, "yes", "no").astype(object)
    if extra_class:
        labels[:5] = "maybe"
    rows = [f"{a:.4f},{b:.4f},{c},{t}" for a, b, c, t in zip(x1, x2, colour, labels)]
    path.write_text("\n".join(["x1,x2,colour,label", *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    root = tmp_path_factory.mktemp("newdata")
    csv = _csv(root / "train.csv", 600, 0)
    sets = ["data.target=label", f"runs_dir={root / 'runs'}", f"export.model_root={root / 'saved_models'}"]
    args = ["train", "tabular", "--data", str(csv), "--epochs", "8"] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0
    return root, root / "saved_models" / "tabular" / "1"


def test_same_distribution_reports_no_drop(version, capsys):
    root, v = version
    new = _csv(root / "new.csv", 400, 1)
    assert main(["evaluate", "tabular", "--model", str(v), "--data", str(new),
                 "--set", f"runs_dir={root / 'runs'}"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "no drop beyond noise" in out
    path = Path([ln.strip() for ln in out.splitlines() if ln.strip().endswith("evaluation.json")][-1])
    rec = json.loads(path.read_text())
    assert rec["n_rows"] == 400 and rec["dropped"] is False
    assert rec["metrics"]["accuracy"] > 0.8
    assert abs(rec["metrics"]["accuracy"] - rec["model_card_metrics"]["accuracy"]) < 0.1


def test_a_changed_world_is_called_a_drop(version, capsys):
    root, v = version
    new = _csv(root / "flipped.csv", 400, 2, flip=True)
    assert main(["evaluate", "tabular", "--model", str(v), "--data", str(new)]) == 0
    out = capsys.readouterr().out
    assert "DROPPED beyond noise" in out


def test_unknown_class_and_missing_options_are_one_line_errors(version, capsys):
    root, v = version
    new = _csv(root / "extra.csv", 200, 3, extra_class=True)
    assert main(["evaluate", "tabular", "--model", str(v), "--data", str(new)]) == 2
    err = capsys.readouterr().err.strip()
    assert "classes the model does not know: maybe" in err and "\n" not in err
    assert main(["evaluate", "tabular", "--data", str(new)]) == 2
    assert "needs both --model" in capsys.readouterr().err
