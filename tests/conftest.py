"""Shared fixtures: quiet TensorFlow, small generated data, isolated run/model folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest-xdist workers on two cores: one TensorFlow thread pool per worker instead of
    # two pools each sized for the whole machine (which doubles context switches). Subprocesses (tfdl CLI,
    # servers) inherit the limit through these variables.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


from tests.module_times import OUT as MODULE_SECONDS  # noqa: E402  (the file module_times.py writes)


def pytest_collection_modifyitems(config, items):
    """Longest test modules first. `make test` hands whole modules to two pytest-xdist workers
    (``--dist loadscope --no-loadscope-reorder``) in collection order; a long module collected last runs
    alone at the end while the other worker idles (xdist's own reorder, by number of tests, put the few
    long multi-process tests last). Measured seconds per module come from tests/module_seconds.json
    (``make test-times``); a module not in it counts 1.5 s per test. A module's tests keep their order."""
    import json

    seconds = json.loads(MODULE_SECONDS.read_text()) if MODULE_SECONDS.exists() else {}
    modules: dict[str, list] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    cost = {m: seconds.get(m, 1.5 * len(tests)) for m, tests in modules.items()}
    items[:] = [item for m in sorted(modules, key=lambda m: -cost[m]) for item in modules[m]]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder of 3 class sub-folders with 40 small PNGs each: classes differ in brightness and stripes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for ci, name in enumerate(["dark", "mid", "bright"]):
        (root / name).mkdir(parents=True)
        for i in range(40):
            arr = rng.integers(0, 60, size=(20, 20), dtype=np.uint8) + ci * 90
            arr[:, ci * 5 : ci * 5 + 4] = 255 - ci * 40
            Image.fromarray(arr.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """Run inside a temporary folder so runs/ and saved_models/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def _float32_policy_after_each_test():
    """`tfdl train` in-process sets a global mixed-precision policy; the next test must not inherit it."""
    yield
    import sys

    if "keras" in sys.modules:
        sys.modules["keras"].mixed_precision.set_global_policy("float32")
