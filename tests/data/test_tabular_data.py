"""Tabular data: CSV errors, column-type and task inference, schema YAML, encoding, train-only stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfdl.data import tabular as T
from tfdl.errors import TfdlError


def mixed_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in rng.permutation(n)],
            "age": rng.integers(18, 80, n).astype(float),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.choice(["yes", "no"], n),
            "comment": [
                " ".join(rng.choice(["good", "service", "slow", "very", "nice", "staff"], 8))
                for _ in range(n)
            ],
            "rownames": np.arange(1, n + 1),
            "y": rng.choice(["a", "b"], n),
        }
    )


def test_column_kinds_are_inferred_with_notes():
    cols, notes = T.columns_from_frame(mixed_frame(), "y")
    kinds = {c.name: (c.kind, c.dtype) for c in cols}
    assert kinds == {
        "age": ("numeric", "float32"),
        "city": ("categorical", "string"),
        "member": ("boolean", "float32"),
    }
    text = " ".join(notes)
    assert "customer_id" in text and "identifier" in text
    assert "comment" in text and "free text" in text
    assert "rownames" in text


def test_sorted_unique_integers_are_a_row_number_but_random_integers_are_numeric():
    n = 50
    assert T.infer_kind("n", pd.Series(np.arange(n)))[0] == "id"
    assert T.infer_kind("n", pd.Series(np.random.default_rng(0).integers(0, 10, n)))[0] == "numeric"
    assert T.infer_kind("flag", pd.Series([0, 1, 1, np.nan, 0]))[0] == "boolean"


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["good", "bad", "good"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1, 0] * 20, "classification"),
        (list(np.linspace(0, 1, 100)), "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_task_inference(values, task):
    assert T.infer_task(pd.Series(values)) == task


def test_schema_overrides_inference_and_rejects_unknown_kinds(tmp_path: Path):
    df = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3] * 5, "x": np.arange(30) % 7 * 1.5, "y": [0, 1] * 15})
    good = tmp_path / "schema.yaml"
    good.write_text("target: y\ncolumns:\n  code: categorical\n  x: ignore\n")
    schema = T.load_schema(good)
    cols, notes = T.columns_from_frame(df, schema["target"], schema["columns"])
    assert [(c.name, c.kind, c.dtype) for c in cols] == [("code", "categorical", "int64")]
    assert any("'x'" in n for n in notes)
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  code: category\n")
    with pytest.raises(TfdlError, match="allowed: numeric"):
        T.load_schema(bad)
    with pytest.raises(TfdlError, match="not in the data"):
        T.columns_from_frame(df, "y", {"nope": "numeric"})


def test_read_csv_errors(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TfdlError, match="empty"):
        T.read_csv(empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b\n")
    with pytest.raises(TfdlError, match="no data rows"):
        T.read_csv(header)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4\n5,6,7\n")
    with pytest.raises(TfdlError, match="line 4 has 3 fields"):
        T.read_csv(ragged)
    with pytest.raises(TfdlError, match="does not exist"):
        T.read_csv(tmp_path / "missing.csv")


def test_all_missing_column_is_an_error():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "empty": [np.nan] * 3, "y": [0, 1, 0]})
    with pytest.raises(TfdlError, match="'empty' has no values"):
        T.columns_from_frame(df, "y", {"empty": "numeric"})


def test_encode_handles_missing_unseen_and_rejects_text_in_numeric():
    cols, _ = T.columns_from_frame(mixed_frame(), "y")
    req = pd.DataFrame({"age": [30, None], "city": ["tokyo", None], "member": ["no", None]})
    x = T.encode(req, cols)
    assert x["age"].dtype == np.float32 and np.isnan(x["age"][1])
    assert list(x["city"]) == ["tokyo", ""]
    assert x["member"][0] == 0.0 and np.isnan(x["member"][1])
    # A column absent from the request is all-missing, not an error.
    assert np.isnan(T.encode(req.drop(columns=["age"]), cols)["age"]).all()
    with pytest.raises(TfdlError, match="'age' is numeric in training but row 2 holds text 'old'"):
        T.encode(pd.DataFrame({"age": ["31", "old"]}), cols)


def test_fit_stats_uses_the_given_split_only():
    cols, _ = T.columns_from_frame(mixed_frame(), "y")
    train = {
        "age": np.array([10.0, np.nan, 30.0], np.float32),
        "city": np.array(["paris", "", "paris"], object),
        "member": np.array([1.0, 0.0, 1.0], np.float32),
    }
    T.fit_stats(cols, train)
    by = {c.name: c for c in cols}
    assert by["age"].mean == pytest.approx(20.0) and by["age"].variance == pytest.approx(100.0)
    assert by["age"].missing and not by["member"].missing
    assert by["city"].vocabulary == ["paris", ""] and by["city"].missing


def test_safe_names_are_unique_identifiers():
    taken: set[str] = set()
    assert [T.safe_name(n, taken) for n in ["price ($)", "price___", "1st", "price ($)"]] == [
        "price____",
        "price___",
        "c_1st",
        "price_____2",
    ]
