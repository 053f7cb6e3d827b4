"""Apps are entry points of the ``tfdl.apps`` group: a package outside this repository adds one, and
``tfdl`` lists and trains it; the built-in apps are declared in setup.cfg and still found from ``apps/``
when the installed metadata is stale."""

from __future__ import annotations

import configparser
import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from tfdl.app import app_registry, available_apps, get_app
from tfdl.cli import main
from tfdl.errors import TfdlError

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = {"vision", "text", "tabular", "timeseries", "anomaly"}

TINY_APP = '''
"""A two-class app on generated rows, shipped by a package that is not tfdl."""

import numpy as np

from tfdl.app import App
from tfdl.data.splits import DataInfo, fingerprint, split_arrays


def load_data(cfg):
    rng = np.random.default_rng(cfg.data.seed)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    info = DataInfo("two_rules", "generated", fingerprint(x, y), ["no", "yes"], (4,))
    return split_arrays(x, y, info, **cfg.data.split_args())


def build_linear(splits, cfg, *, units=8):
    import keras

    inputs = keras.Input(splits.info.input_shape, name="x")
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden), name="tiny_linear")


def majority(splits):
    p = np.bincount(splits.y_train, minlength=2) / len(splits.y_train)
    return np.tile(p, (len(splits.y_test), 1))


APP = App(
    name="tiny", task="classification", summary="a tiny app from another package", default_data="generated",
    load_data=load_data, models={"linear": build_linear}, default_model="linear",
    baselines={"majority": majority},
)
'''


def _install(site: Path, dist: str, entry_points: str, modules: dict[str, str]) -> None:
    """What ``pip install`` leaves: the modules and a dist-info folder whose entry_points.txt names them."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for rel, text in modules.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m.startswith("tiny_tfdl_app")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_setup_cfg_declares_every_builtin_app():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    declared = dict(
        line.split("=", 1) for line in cfg["options.entry_points"]["tfdl.apps"].strip().splitlines()
    )
    declared = {k.strip(): v.strip() for k, v in declared.items()}
    assert set(declared) == BUILTIN
    for name, target in declared.items():
        assert target == f"apps.{name}:APP"
        assert get_app(name).name == name


def test_builtin_apps_are_found_without_package_metadata(monkeypatch):
    import tfdl.app as A

    monkeypatch.setattr(
        A, "_entry_point_apps", lambda: {}
    )  # metadata installed before apps were entry points
    assert BUILTIN <= set(available_apps())
    assert get_app("tabular").name == "tabular"


def test_a_package_adds_an_app_that_tfdl_lists_and_trains(site: Path, workdir: Path, capsys):
    _install(
        site,
        "tiny_tfdl_app",
        """
        [tfdl.apps]
        tiny = tiny_tfdl_app.app:APP
        """,
        {"tiny_tfdl_app/__init__.py": "", "tiny_tfdl_app/app.py": TINY_APP},
    )
    # Stale metadata of an uninstalled package: its entry point is skipped, nothing fails.
    _install(site, "gone_app", "[tfdl.apps]\ngone = gone_app_module:APP\n", {})
    importlib.invalidate_caches()
    assert app_registry()["tiny"] == "tiny_tfdl_app.app:APP" and "gone" not in available_apps()
    assert BUILTIN <= set(available_apps())

    assert main(["apps"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "a tiny app from another package" in out and "linear*" in out

    args = ["train", "tiny", "--runs-dir", "elsewhere", "--epochs", "10", "--no-export",
            "--set", "train.learning_rate=0.03", "--set", "train.batch_size=32"]  # fmt: skip
    assert main(args) == 0
    (run,) = (workdir / "elsewhere" / "tiny").iterdir()  # --runs-dir: the one place run folders go
    assert not (workdir / "runs").exists()
    m = json.loads((run / "metrics.json").read_text())
    assert m["app"] == "tiny" and m["model"] == "linear" and set(m["baselines"]) == {"majority"}
    # x0 + x1 > 0 is one line: the model finds it, the majority baseline cannot.
    assert m["test"]["accuracy"] >= 0.8 > m["baselines"]["majority"]["accuracy"]


def test_an_entry_point_that_is_not_an_app_is_a_one_line_error(site: Path, capsys):
    _install(site, "tiny_tfdl_app", "[tfdl.apps]\nbroken = tiny_tfdl_app.other:THING\n",
             {"tiny_tfdl_app/__init__.py": "", "tiny_tfdl_app/other.py": "THING = 3\n"})  # fmt: skip
    importlib.invalidate_caches()
    with pytest.raises(TfdlError, match="not a tfdl App"):
        get_app("broken")
    assert main(["train", "broken"]) == 2
    assert "entry point" in capsys.readouterr().err
    assert main(["train", "nonexistent"]) == 2
    assert "unknown app 'nonexistent'" in capsys.readouterr().err
