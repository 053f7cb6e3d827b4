"""Missing values over HTTP: a tabular model that imputes them answers rows with null / NaN in a numeric
column (its card says ``allow_nan``, written at export from the data's typed ``DataInfo.allow_nan`` and
checked on the model); a model that does not impute them still answers a clear 400."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serving.helpers import export_tabular, running

pytestmark = pytest.mark.slow  # trains a (one-epoch) tabular model


def _rows(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, n).round(1)
    debt = rng.lognormal(8, 1, n).round(0)
    plan = rng.choice(["basic", "plus", "pro"], n)
    y = np.where(age / 20 + (plan == "basic") + rng.normal(0, 0.5, n) > 2.5, "bad", "good")
    debt[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"age": age, "debt": debt, "plan": plan, "status": y})


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    from tfdl.app import get_app
    from tfdl.pipeline import resolve_config, train

    tmp = tmp_path_factory.mktemp("missing")
    csv = tmp / "credit.csv"
    _rows().to_csv(csv, index=False)
    root = tmp / "saved_models"
    app = get_app("tabular")
    sets = [f"data.path={csv}", "data.target=status", "model.name=mlp", "train.epochs=1",
            f"runs_dir={tmp / 'runs'}", f"export.model_root={root}", "export.name=credit"]  # fmt: skip
    train(app, resolve_config(app, {}, sets), log=lambda *a, **k: None)
    export_tabular(root, "plain", "regression")  # a dict-of-columns model that does not impute
    return root


@pytest.fixture(scope="module")
def url(root):
    from tfdl.serving.server import create_app

    with running(create_app(root, poll_seconds=60)) as base:
        yield base


def test_the_card_says_allow_nan_only_for_the_imputing_model(root):
    card = json.loads((root / "credit" / "1" / "metadata.json").read_text())
    assert card["allow_nan"] is True and card["app"] == "tabular"
    assert not json.loads((root / "plain" / "1" / "metadata.json").read_text()).get("allow_nan", False)


def test_null_and_nan_in_a_numeric_column_are_answered(url):
    rows = [
        {"age": 30.0, "debt": None, "plan": "basic"},  # JSON null
        {"age": None, "debt": 1000.0, "plan": None},  # null number and null category
        {"age": 60.0, "debt": 2000.0, "plan": "pro"},
    ]
    with httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/models/credit:predict", json={"instances": rows})
        assert r.status_code == 200, r.text
        p = np.asarray(r.json()["predictions"])
        assert p.shape == (3, 2) and np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1, atol=1e-4)
        # A NaN token (TensorFlow Serving's JSON) in the columnar format, and the :classify route.
        body = '{"inputs": {"age": [NaN, 40.0], "debt": [5.0, NaN], "plan": ["plus", "basic"]}}'
        r = c.post("/v1/models/credit:predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        assert np.isfinite(np.asarray(r.json()["outputs"])).all()
        example = {"age": 25, "debt": None, "plan": "pro"}
        r = c.post("/v1/models/credit:classify", json={"examples": [example]})
        assert r.status_code == 200, r.text
        assert {label for label, _ in r.json()["results"][0]} == {"bad", "good"}
        # The upload route: a CSV row with an empty cell.
        csv = b"age,debt,plan\n33,,basic\n"
        r = c.post("/v1/models/credit:upload", files={"file": ("rows.csv", csv, "text/csv")})
        assert r.status_code == 200, r.text
        assert r.json()["label"] in ("bad", "good")


def test_a_model_that_does_not_impute_answers_400(url):
    with httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/models/plain:predict", json={"instances": [{"a": [None], "b": [1.0]}]})
        assert r.status_code == 400
        err = r.json()["error"]
        assert "'a'" in err and "does not impute missing values" in err and "\n" not in err
        body = '{"instances": [{"a": [NaN], "b": [1.0]}]}'
        r = c.post("/v1/models/plain:predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "does not impute missing values" in r.json()["error"]
        ok = c.post("/v1/models/plain:predict", json={"instances": [{"a": [1.0], "b": [1.0]}]})
        assert ok.status_code == 200 and ok.json()["predictions"] == [pytest.approx([6.0])]
