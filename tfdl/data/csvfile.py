"""The one CSV reader behind every user CSV (tabular, anomaly, time series, and new data through them).

A missing file, a wrong suffix, an empty file, a ragged row, non-UTF-8 text and a header without rows are
each one :class:`TfdlError` line naming the fix, worded the same whichever app reads the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from tfdl.errors import TfdlError

_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_csv(
    path: str | Path,
    expects: str = "--data expects a .csv file",
    suffixes: Iterable[str] = (),
    **pandas_kw: Any,
) -> pd.DataFrame:
    """Read ``path`` strictly into a DataFrame with at least one row.

    ``expects`` opens the error for a missing file or a wrong suffix (what the caller wants, e.g.
    ``"--data for timeseries expects a .csv file with a time column"``); ``suffixes`` (lower case, with the
    dot) restrict the file name; ``pandas_kw`` go to :func:`pandas.read_csv`.
    """
    p = Path(path)
    if not p.is_file():
        raise TfdlError(f"{expects}; '{p}' does not exist")
    suffixes = tuple(suffixes)
    if suffixes and p.suffix.lower() not in suffixes:
        raise TfdlError(f"{expects}; got '{p.name}' (a {'/'.join(suffixes)} file is needed)")
    empty = f"'{p}' is empty; expected a CSV with a header row and data rows"
    if p.stat().st_size == 0:
        raise TfdlError(empty)
    try:
        df = pd.read_csv(p, on_bad_lines="error", **pandas_kw)
    except pd.errors.EmptyDataError:
        raise TfdlError(empty) from None
    except pd.errors.ParserError as exc:
        m = _RAGGED.search(str(exc))
        what = (
            f"line {m.group(2)} has {m.group(3)} fields, the header has {m.group(1)}"
            if m
            else str(exc).strip().splitlines()[-1]
        )
        raise TfdlError(
            f"'{p}' is not a rectangular CSV: {what}; every row needs the same number of columns (fix or "
            "remove that row)"
        ) from None
    except UnicodeDecodeError:
        raise TfdlError(f"'{p}' is not UTF-8 text; save it as a UTF-8 CSV") from None
    if df.empty:
        raise TfdlError(f"'{p}' has a header but no data rows; expected at least a few rows")
    return df
