"""One CSV reader: the tabular, anomaly and time-series readers fail on the same bad file with the same
one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfdl.data import anomaly, tabular, timeseries
from tfdl.data.csvfile import read_csv
from tfdl.errors import TfdlError

READERS = {
    "tabular": tabular.read_csv,
    "anomaly": lambda p: anomaly.read_rows(p),
    "timeseries": timeseries.read_csv,
}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty; expected a CSV with a header row and data rows"),
        (b"a,b\n", "has a header but no data rows"),
        (b"a,b\n1,2\n3,4,5\n", "line 3 has 3 fields, the header has 2; every row needs the same number"),
        ("a,b\n1,caf\xe9\n".encode("latin-1"), "is not UTF-8 text; save it as a UTF-8 CSV"),
    ],
)
def test_every_reader_gives_the_same_one_line_error(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    for name, reader in READERS.items():
        with pytest.raises(TfdlError) as err:
            reader(path)
        assert message in str(err.value) and "\n" not in str(err.value), name


def test_missing_file_and_suffix_name_what_the_reader_expects(tmp_path: Path):
    with pytest.raises(TfdlError, match=r"--data expects a \.csv file; '.*nope\.csv' does not exist"):
        read_csv(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("a\n1\n")
    with pytest.raises(TfdlError, match=r"timeseries expects a \.csv file.*got 'x\.xlsx'"):
        timeseries.read_csv(tmp_path / "x.xlsx")
    ok = tmp_path / "ok.csv"
    ok.write_text("a, b\n1, x\n")
    assert list(tabular.read_csv(ok).columns) == ["a", "b"]  # tabular drops spaces after commas
