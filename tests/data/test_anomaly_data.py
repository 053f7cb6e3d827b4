"""Anomaly data sources: CSV reading errors, normal-only training rows, scaling statistics, Shuttle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfdl.data import anomaly as A
from tfdl.data.splits import DataInfo, Splits
from tfdl.errors import TfdlError


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_rows_numeric_with_label(tmp_path):
    p = _csv(tmp_path / "r.csv", "a,b,label\n1,2.5,0\n3,4,1\n5,6,0\n")
    x, y, cols = A.read_rows(p, "label")
    assert x.dtype == np.float32 and x.shape == (3, 2)
    assert cols == ["a", "b"] and y.tolist() == [0, 1, 0]


def test_read_rows_non_numeric_value_names_column_and_row(tmp_path):
    p = _csv(tmp_path / "r.csv", "a,b\n1,2\n3,oops\n")
    with pytest.raises(TfdlError, match=r"column 'b' must be numeric; row 3 holds 'oops'"):
        A.read_rows(p)


def test_read_rows_ragged_rows_and_wrong_columns(tmp_path):
    with pytest.raises(TfdlError, match="same number of columns"):
        A.read_rows(_csv(tmp_path / "ragged.csv", "a,b\n1,2\n3,4,5\n"))
    with pytest.raises(TfdlError, match="expected 3 columns"):
        A.read_rows(_csv(tmp_path / "two.csv", "a,b\n1,2\n"), columns=["a", "b", "c"])


def test_read_rows_bad_label_and_missing_values(tmp_path):
    with pytest.raises(TfdlError, match="must hold 0 .normal. or 1"):
        A.read_rows(_csv(tmp_path / "l.csv", "a,label\n1,0\n2,7\n"), "label")
    with pytest.raises(TfdlError, match="not a column"):
        A.read_rows(_csv(tmp_path / "m.csv", "a,b\n1,0\n"), "label")
    with pytest.raises(TfdlError, match="missing values"):
        A.read_rows(_csv(tmp_path / "n.csv", "a,b\n1,\n2,3\n"))
    with pytest.raises(TfdlError, match=".csv file"):
        A.read_rows(tmp_path / "absent.csv")


def test_training_split_keeps_normals_only_val_test_complete():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    s = Splits(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:], DataInfo("t", "t"))
    out = A.keep_normal_training_rows(s)
    assert (out.y_train == 0).all() and len(out.x_train) == (y[:200] == 0).sum()
    assert len(out.y_val) == 50 and out.y_val.sum() == y[200:250].sum()  # anomalies stay in val
    assert len(out.y_test) == 50 and out.y_test.sum() == y[250:].sum()
    assert "left out" in out.info.notes[0]


def test_csv_splits_unlabelled_and_feature_stats(tmp_path):
    rng = np.random.default_rng(1)
    rows = "\n".join(f"{a:.3f},{b:.3f},5" for a, b in rng.normal(size=(60, 2)))
    s = A.csv_splits(_csv(tmp_path / "u.csv", "a,b,c\n" + rows + "\n"), None, 0.2, 0.2, 0)
    assert s.info.extra["labelled"] is False and (s.y_test == 0).all()
    assert sum(s.sizes().values()) == 60
    mean, var = A.feature_stats(s.x_train)
    assert var[2] == 1.0  # constant column: centred, not divided by ~0
    np.testing.assert_allclose(mean[:2], s.x_train[:, :2].mean(axis=0), rtol=1e-5)


def test_csv_splits_folds_test_every_row_once_and_keep_anomalies_out_of_training(tmp_path):
    rng = np.random.default_rng(2)
    rows = "\n".join(f"{i},{a:.3f},{int(i % 10 == 0)}" for i, a in enumerate(rng.normal(size=100)))
    path = _csv(tmp_path / "l.csv", "i,a,label\n" + rows + "\n")
    tested = []
    for k in range(4):
        s = A.csv_splits(path, "label", 0.15, 0.15, 0, folds=4, fold=k)
        assert s.info.cv == {"folds": 4, "fold": k}
        assert (s.y_train == 0).all() and s.y_test.sum() in (2, 3)  # stratified: 10 anomalies in 4 folds
        tested += s.x_test[:, 0].astype(int).tolist()
    assert sorted(tested) == list(range(100))


def test_shuttle_is_the_documented_data_set():
    x, y, cols = A.load_shuttle()
    assert x.shape == (49_097, 9) and len(cols) == 9
    assert 0.07 < y.mean() < 0.073
