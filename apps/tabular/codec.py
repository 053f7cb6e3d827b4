"""Tabular explainers (permutation importance, SHAP) and the codec: CSV / JSON rows in, an answer out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from apps.tabular.data import load_data
from tfdl.app import describe_class_scores


def explainer(method: str):
    def run(model, cfg, run_dir, input_path=None, target=None):
        from tfdl.explain import tabular as E

        return E.explain(
            method, model, load_data(cfg), cfg.task, Path(run_dir), input_path=input_path, target=target
        )

    run.__name__ = f"explain_{method}"
    return run


def read(path: Path, meta: dict) -> tuple[dict, dict]:
    from tfdl.explain.tabular import read_rows

    return read_rows(path, meta["preprocessing"]["columns"]), {}


def describe(row: np.ndarray, meta: dict, context: dict | None = None) -> dict:
    row = np.asarray(row, dtype=float).reshape(-1)
    prep = meta.get("preprocessing", {})
    if meta.get("task", prep.get("task")) == "regression":
        out = {"value": float(row[0]), "target": prep.get("target")}
        if prep.get("target_transform") == "log":
            out["exp_value"] = float(np.exp(row[0]))  # back to the original units (price in USD)
        return out
    return describe_class_scores(row, meta)
