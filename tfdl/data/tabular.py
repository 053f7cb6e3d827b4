"""Tabular data: read a CSV, infer column types and the task, apply a schema YAML, turn frames into columns.

A column is one of five kinds:

- ``numeric``: float32 input, NaN = missing (the model adds a missing indicator and imputes).
- ``boolean``: float32 input 0/1, NaN = missing (true/false, yes/no, 0/1 columns).
- ``categorical``: string input (``""`` = missing), or int64 input when the schema says so
  for an integer column (``INT_MISSING`` = missing); unseen values go to an OOV bucket.
- ``text``: free text, ignored with a warning (the text app handles text).
- ``id``: an identifier (unique per row), dropped with a warning: it would only let a model memorise.

The model's inputs are a dict ``{input_name: (batch,) array}``; ``input_name`` is the column name made
safe for a SavedModel signature (:func:`safe_name`). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tfdl.errors import TfdlError

KINDS = ("numeric", "boolean", "categorical", "text", "id", "ignore")
INT_MISSING = -(2**31)  # the int64 categorical "missing" value: outside any realistic code range
_TRUE = {"true", "yes", "y", "t", "1"}
_FALSE = {"false", "no", "n", "f", "0"}
_ID_NAMES = {"id", "rownames", "index", "row", "row_id", "rowid"}


@dataclass
class Column:
    """One input column as the model sees it."""

    name: str  # the CSV header
    input_name: str  # the model input / signature key
    kind: str  # see KINDS
    dtype: str = "float32"  # float32 | string | int64
    vocabulary: list | None = None  # categorical values seen in training (most frequent first)
    mean: float | None = None  # numeric: training mean (imputation + normalisation)
    variance: float | None = None
    missing: bool = False  # the training split has missing values (the model adds an indicator)
    log: bool = False  # numeric, non-negative and heavy-tailed in training: the model takes log1p first


def safe_name(name: str, taken: set[str] | None = None) -> str:
    """A SavedModel-safe input name: letters, digits and ``_``, no leading digit, unique in ``taken``."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", str(name).strip()) or "col"
    if s[0].isdigit():
        s = "c_" + s
    base, i = s, 2
    while taken is not None and s in taken:
        s, i = f"{base}_{i}", i + 1
    if taken is not None:
        taken.add(s)
    return s


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV strictly (:func:`tfdl.data.csvfile.read_csv`): a missing or empty file and a ragged row
    are one-line errors naming the fix; spaces after a comma are dropped."""
    from tfdl.data.csvfile import read_csv as read

    return read(path, "--data expects a .csv file", skipinitialspace=True)


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read a schema YAML: ``{target: col, task: ..., columns: {col: kind}}`` (every key optional)."""
    p = Path(path)
    if not p.is_file():
        raise TfdlError(f"data.schema expects a YAML file; '{p}' does not exist")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise TfdlError(f"schema '{p}' is not valid YAML; fix the syntax") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("columns", {}), dict):
        raise TfdlError(f"schema '{p}' must be a mapping like {{target: y, columns: {{age: numeric}}}}")
    for col, kind in raw.get("columns", {}).items():
        if kind not in KINDS:
            raise TfdlError(f"schema '{p}': column '{col}' has kind '{kind}'; allowed: {', '.join(KINDS)}")
    return raw


def _as_bool(s: pd.Series) -> pd.Series | None:
    """0/1 floats (NaN kept) if every present value reads as a boolean, else None."""
    present = s.dropna()
    if present.empty:
        return None
    if present.dtype == bool:
        return s.map(lambda v: np.nan if pd.isna(v) else float(bool(v)))
    if pd.api.types.is_numeric_dtype(present):
        return s.astype(float) if set(present.unique()) <= {0, 1} else None
    text = present.astype(str).str.strip().str.lower()
    if not text.isin(_TRUE | _FALSE).all() or text.nunique() > 2:
        return None
    return s.map(lambda v: np.nan if pd.isna(v) else float(str(v).strip().lower() in _TRUE))


def _all_int(present: pd.Series) -> bool:
    return bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0))


def infer_kind(name: str, s: pd.Series) -> tuple[str, str | None]:
    """(kind, note) for one column; note is a warning for the report, or None."""
    present = s.dropna()
    n, n_unique = len(present), present.nunique()
    if str(name).strip().lower() in _ID_NAMES or str(name).lower().endswith("_id"):
        return "id", f"column '{name}' looks like an identifier (by its name): dropped"
    if _as_bool(s) is not None:
        return "boolean", None
    if pd.api.types.is_numeric_dtype(present):
        is_int = _all_int(present)
        if (
            is_int
            and n_unique == n
            and n > 20
            and (present.is_monotonic_increasing or present.is_monotonic_decreasing)
        ):
            return "id", f"column '{name}' looks like a row number (unique, sorted integers): dropped"
        return "numeric", None
    text = present.astype(str)
    words = text.str.split().str.len().mean()
    if words > 3 or text.str.len().mean() > 40:
        return "text", f"column '{name}' looks like free text (~{words:.0f} words per value): ignored"
    if n > 20 and n_unique == n:
        return "id", f"column '{name}' looks like an identifier (a different value on every row): dropped"
    return "categorical", None


def infer_task(y: pd.Series) -> str:
    """classification for strings/booleans or integers with few distinct values, else regression."""
    present = y.dropna()
    if not pd.api.types.is_numeric_dtype(present) or present.dtype == bool:
        return "classification"
    is_int = _all_int(present)
    return (
        "classification"
        if is_int and present.nunique() <= min(20, max(2, len(present) // 20))
        else "regression"
    )


def columns_from_frame(
    df: pd.DataFrame, target: str, kinds: dict[str, str] | None = None
) -> tuple[list[Column], list[str]]:
    """Infer (or take from ``kinds``) every feature column's kind. Returns (columns kept, notes)."""
    kinds = kinds or {}
    unknown = sorted(set(kinds) - set(df.columns))
    if unknown:
        raise TfdlError(
            f"schema names columns not in the data: {', '.join(unknown)}; columns: {', '.join(df.columns)}"
        )
    out, notes, taken = [], [], set()
    for name in df.columns:
        if name == target:
            continue
        s = df[name]
        kind, note = (
            (kinds[name], f"column '{name}': kind '{kinds[name]}' from the schema")
            if name in kinds
            else infer_kind(name, s)
        )
        if kind in ("id", "text", "ignore"):
            notes.append(note or f"column '{name}' ({kind}): not used")
            continue
        if s.isna().all():
            raise TfdlError(
                f"column '{name}' has no values (all missing); remove it or mark it `ignore` in a schema "
                "YAML "
                "(--set data.schema=FILE)"
            )
        if kind == "numeric" and not pd.api.types.is_numeric_dtype(s.dropna()):
            bad = s.dropna()[pd.to_numeric(s.dropna(), errors="coerce").isna()]
            raise TfdlError(
                f"column '{name}' is declared numeric but holds text such as {bad.iloc[0]!r}; "
                "fix the data or the schema"
            )
        dtype = {"numeric": "float32", "boolean": "float32"}.get(kind, "string")
        present = s.dropna()
        if kind == "categorical" and pd.api.types.is_numeric_dtype(present) and _all_int(present):
            dtype = "int64"  # integer codes: IntegerLookup, and a JSON request may send numbers
        if note and name not in kinds:
            notes.append(note)
        out.append(Column(name, safe_name(name, taken), kind, dtype))
    if not out:
        raise TfdlError(
            f"no usable feature columns besides the target '{target}'; columns: {', '.join(df.columns)}"
        )
    return out, notes


def encode(df: pd.DataFrame, columns: list[Column], *, strict: bool = True) -> dict[str, np.ndarray]:
    """Frame -> ``{input_name: (n,) array}`` in each column's dtype. Absent columns become all-missing;
    text in a numeric column is an error naming the column and the first bad value."""
    out: dict[str, np.ndarray] = {}
    for col in columns:
        s = df[col.name] if col.name in df.columns else pd.Series([np.nan] * len(df), index=df.index)
        if col.kind == "boolean":
            b = _as_bool(s)
            if b is None and s.notna().any():
                raise TfdlError(
                    f"column '{col.name}' is boolean in training but got {s.dropna().iloc[0]!r}; "
                    "send true/false/1/0"
                )
            out[col.input_name] = (b if b is not None else s.astype(float)).to_numpy(dtype=np.float32)
        elif col.dtype == "float32":
            num = pd.to_numeric(s, errors="coerce")
            bad = s.notna() & num.isna() & (s.astype(str).str.strip() != "")
            if strict and bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise TfdlError(
                    f"column '{col.name}' is numeric in training but row {i + 1} holds text {s.iloc[i]!r}; "
                    "send a number or leave it empty (missing)"
                )
            out[col.input_name] = num.to_numpy(dtype=np.float32)
        elif col.dtype == "int64":
            num = pd.to_numeric(s, errors="coerce")
            out[col.input_name] = num.fillna(INT_MISSING).to_numpy().astype(np.int64)
        else:
            vals = s.map(lambda v: "" if pd.isna(v) else _category_text(v))
            out[col.input_name] = vals.to_numpy(dtype=object)
    return out


def _category_text(v: Any) -> str:
    # 3.0 read from one file and 3 from another are the same category.
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def fit_stats(columns: list[Column], x_train: dict[str, np.ndarray], max_vocabulary: int = 1000) -> None:
    """Learn each column's preprocessing statistics from the TRAINING split only (in place)."""
    for col in columns:
        v = x_train[col.input_name]
        if col.dtype == "float32":
            col.missing = bool(np.isnan(v).any())
            present = v[~np.isnan(v)].astype(np.float64)
            # Incomes, assets, debts: a few huge values squash everyone else after standardisation.
            col.log = bool(
                col.kind == "numeric"
                and present.size > 2
                and present.min() >= 0
                and pd.Series(present).skew() > 2
            )
            present = np.log1p(present) if col.log else present
            col.mean = float(present.mean()) if present.size else 0.0
            col.variance = float(present.var()) if present.size > 1 else 1.0
        else:
            values, counts = np.unique(v.astype(str) if col.dtype == "string" else v, return_counts=True)
            order = np.argsort(-counts, kind="stable")[:max_vocabulary]
            vocab = [values[i] for i in order]
            col.missing = bool(np.any(v == ("" if col.dtype == "string" else INT_MISSING)))
            col.vocabulary = [str(x) for x in vocab] if col.dtype == "string" else [int(x) for x in vocab]


def schema_yaml(columns: list[Column], target: str, task: str, target_transform: str | None = None) -> str:
    """The schema as YAML (an asset of the export; also a starting point for ``data.schema``)."""
    return yaml.safe_dump(
        {
            "target": target,
            "task": task,
            "target_transform": target_transform,
            "columns": {c.name: c.kind for c in columns},
            "inputs": [{k: v for k, v in asdict(c).items() if k != "vocabulary"} for c in columns],
        },
        sort_keys=False,
    )
