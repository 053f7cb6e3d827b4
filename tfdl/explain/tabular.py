"""Explanations for tabular models that take a dict of raw columns: permutation importance and SHAP.

Both are model-agnostic: they only call ``predict(dict of (n,) columns) -> (n, outputs)``, so they
work with the preprocessing inside the model (lookups, imputation) and with any baseline.

- Permutation importance (Breiman, 2001; Fisher et al., 2019): the drop in a score when one column is
  shuffled, repeated ``n_repeats`` times -> mean and standard deviation per column.
- SHAP (Lundberg & Lee, 2017) with ``shap.PermutationExplainer`` over an independent masker on a small
  background sample. Categorical columns are handed to SHAP as integer codes and decoded before the
  model is called, so SHAP never sees strings.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfdl.errors import TfdlError

Predict = Callable[[dict[str, np.ndarray]], np.ndarray]


def _columns(columns: list) -> list:
    from tfdl.data.tabular import Column

    return [c if isinstance(c, Column) else Column(**c) for c in columns]


def read_rows(path: str | Path, columns: list) -> dict[str, np.ndarray]:
    """Rows of a CSV file, or a JSON object / list of objects / ``{"instances": [...]}`` -> model input dict.

    Columns absent from the file are sent as missing; extra columns are ignored; text in a column that
    was numeric in training is a :class:`TfdlError` naming the column and row."""
    import pandas as pd

    from tfdl.data import tabular as T

    p = Path(path)
    if p.suffix.lower() == ".json":
        if not p.is_file():
            raise TfdlError(f"--input expects a CSV or JSON file of rows; '{p}' does not exist")
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TfdlError(
                f"'{p}' is not valid JSON (line {exc.lineno}); expected {{\"column\": value, ...}}"
            ) from None
        rows = raw.get("instances", raw) if isinstance(raw, dict) else raw
        rows = [rows] if isinstance(rows, dict) else rows
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise TfdlError(f"'{p}' must hold an object of column values or a list of them")
        df = pd.DataFrame(rows)
    else:
        df = T.read_csv(p)
    return T.encode(df, _columns(columns))


def _score_fn(task: str, num_classes: int) -> tuple[str, Callable[[np.ndarray, np.ndarray], float]]:
    from sklearn import metrics as skm

    if task == "regression":
        return "r2", lambda y, p: float(skm.r2_score(y, np.asarray(p).reshape(-1)))
    if num_classes == 2:
        return "roc_auc", lambda y, p: float(skm.roc_auc_score(y, p[:, 1]))
    return "accuracy", lambda y, p: float(np.mean(np.argmax(p, axis=1) == y))


def permutation_importance(
    predict: Predict,
    x: dict[str, np.ndarray],
    y: np.ndarray,
    task: str,
    num_classes: int = 0,
    *,
    n_repeats: int = 5,
    seed: int = 0,
) -> tuple[str, float, dict[str, tuple[float, float]]]:
    """-> (score name, score on intact data, {column: (mean drop, std of drop)}) over ``n_repeats`` shuffles.

    ``x``: {column: (n,)}; ``y``: (n,) class ids or values; ``predict`` returns (n, k) or (n, 1)."""
    name, score = _score_fn(task, num_classes)
    base = score(y, predict(x))
    rng = np.random.default_rng(seed)
    out = {}
    for col in x:
        drops = []
        for _ in range(n_repeats):
            shuffled = dict(x)
            shuffled[col] = x[col][rng.permutation(len(y))]
            drops.append(base - score(y, predict(shuffled)))
        out[col] = (float(np.mean(drops)), float(np.std(drops)))
    return name, base, out


class _Codes:
    """Map a dict of mixed columns to a float matrix (n, F) for SHAP and back."""

    def __init__(self, columns: list, *parts: dict[str, np.ndarray]):
        self.columns = columns
        self.cats = {}
        for c in columns:
            if c.dtype != "float32":
                self.cats[c.input_name] = np.unique(
                    np.concatenate([np.asarray(p[c.input_name]) for p in parts])
                )

    def encode(self, x: dict[str, np.ndarray]) -> np.ndarray:
        cols = []
        for c in self.columns:
            v = np.asarray(x[c.input_name])
            cols.append(
                np.searchsorted(self.cats[c.input_name], v).astype(float)
                if c.input_name in self.cats
                else v.astype(float)
            )
        return np.stack(cols, axis=1)

    def decode(self, m: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for j, c in enumerate(self.columns):
            if c.input_name in self.cats:
                out[c.input_name] = self.cats[c.input_name][m[:, j].round().astype(int)]
            else:
                out[c.input_name] = m[:, j].astype(np.float32)
        return out


def shap_values(
    predict: Predict,
    columns: list,
    x_explain: dict[str, np.ndarray],
    x_background: dict[str, np.ndarray],
    output: int = 0,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SHAP values of output column ``output`` -> (values (n, F), base values (n,), feature matrix (n, F)).

    Permutation explainer with ``max_evals = 2 * (2F + 1)`` (two antithetic permutations per row) over an
    independent masker on ``x_background``: cost ~ n * max_evals * len(background) model rows."""
    import shap

    columns = _columns(columns)
    codes = _Codes(columns, x_explain, x_background)
    f = lambda m: np.asarray(predict(codes.decode(np.asarray(m))))[:, output]  # noqa: E731
    bg = codes.encode(x_background)
    explainer = shap.PermutationExplainer(f, shap.maskers.Independent(bg, max_samples=len(bg)), seed=seed)
    m = codes.encode(x_explain)
    sv = explainer(m, max_evals=2 * (2 * m.shape[1] + 1), silent=True)
    return np.asarray(sv.values), np.asarray(sv.base_values).reshape(-1), m


def _sample(x: dict[str, np.ndarray], n: int, seed: int) -> dict[str, np.ndarray]:
    from tfdl.data.splits import n_rows, take

    rows = n_rows(x)
    idx = np.sort(np.random.default_rng(seed).choice(rows, min(n, rows), replace=False))
    return take(x, idx)


def _direct_predict(model: Any, chunk: int = 8192) -> Predict:
    """Call the model eagerly in chunks: SHAP and permutation make hundreds of small calls, and
    ``model.predict`` builds a tf.data pipeline per call (tens of ms each)."""
    import tensorflow as tf

    def predict(x: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(x.values())))
        outs = [
            np.asarray(model({k: tf.constant(v[i : i + chunk]) for k, v in x.items()}, training=False))
            for i in range(0, n, chunk)
        ]
        return np.concatenate(outs).astype(np.float64)

    return predict


def explain(
    method: str,
    model: Any,
    splits: Any,
    task: str,
    run_dir: Path,
    *,
    input_path: str | None = None,
    target: str | None = None,
    n_repeats: int = 5,
    max_rows: int = 2000,
    n_background: int = 50,
    n_shap: int = 40,
) -> list[Path]:
    """Write ``explain/permutation.{png,json}`` or ``explain/shap_summary.png`` (+ ``shap_row*.png``/``.json``
    for ``input_path`` rows) under ``run_dir``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdl.figures import save_figure

    out_dir = Path(run_dir) / "explain"
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = _columns(splits.info.columns)
    labels = splits.info.labels
    predict = _direct_predict(model)
    if method == "permutation":
        from tfdl.data.splits import take

        # A random sample, not the first rows: a file sorted by the target (diamonds is) would bias the score.
        n = len(splits.y_test)
        idx = np.sort(np.random.default_rng(0).choice(n, min(max_rows, n), replace=False))

        name, base, imp = permutation_importance(
            predict, take(splits.x_test, idx), splits.y_test[idx], task, len(labels), n_repeats=n_repeats
        )
        order = sorted(imp, key=lambda k: imp[k][0])
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.5))
        ax.barh(
            order, [imp[k][0] for k in order], xerr=[imp[k][1] for k in order], color="tab:blue", capsize=3
        )
        ax.set_xlabel(f"drop in test {name} when the column is shuffled (mean ± sd of {n_repeats})")
        ax.set_title(f"Permutation importance ({len(idx)} test rows, {name} = {base:.3f})")
        png = save_figure(fig, out_dir / "permutation.png")
        js = out_dir / "permutation.json"
        js.write_text(
            json.dumps(
                {
                    "score": name,
                    "base": base,
                    "n_repeats": n_repeats,
                    "importance": {k: {"mean": m, "std": s} for k, (m, s) in imp.items()},
                },
                indent=2,
            )
        )
        return [png, js]
    if method != "shap":
        raise TfdlError(f"unknown tabular explainer '{method}'; use permutation or shap")
    output = 0
    if task == "classification":
        if target is not None and target not in labels:
            raise TfdlError(f"--class '{target}' is not a label; labels: {', '.join(labels)}")
        # Binary: explain the second label's probability (e.g. 'good'); multi-class: the requested class.
        output = labels.index(target) if target else (1 if len(labels) == 2 else 0)
    what = f"P({labels[output]})" if task == "classification" else "prediction"
    background = _sample(splits.x_train, n_background, seed=1)
    rows = read_rows(input_path, columns) if input_path else _sample(splits.x_test, n_shap, seed=2)
    values, base, m = shap_values(predict, columns, rows, background, output)
    names = [c.name for c in columns]
    import shap

    files = []
    if not input_path:
        with warnings.catch_warnings():  # shap's plotting warns about its own upcoming API changes
            warnings.simplefilter("ignore")
            shap.summary_plot(
                values, m, feature_names=names, show=False, plot_size=(8, 0.35 * len(names) + 2)
            )
        plt.title(f"SHAP values of {what} ({len(values)} test rows)")
        png = save_figure(plt.gcf(), out_dir / "shap_summary.png", tight=False, bbox_inches="tight")
        plt.close("all")
        np.save(out_dir / "shap_values.npy", values)
        return [png, out_dir / "shap_values.npy"]
    for i in range(len(values)):
        order = np.argsort(np.abs(values[i]))
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.5))
        ax.barh(
            [names[j] for j in order],
            values[i][order],
            color=["tab:red" if values[i][j] > 0 else "tab:blue" for j in order],
        )
        ax.set_xlabel(
            f"contribution to {what} (base {base[i]:.3f}, prediction {base[i] + values[i].sum():.3f})"
        )
        png = save_figure(fig, out_dir / f"shap_row{i + 1}.png")
        js = out_dir / f"shap_row{i + 1}.json"
        js.write_text(
            json.dumps(
                {
                    "output": what,
                    "base_value": float(base[i]),
                    "prediction": float(base[i] + values[i].sum()),
                    "contributions": dict(zip(names, map(float, values[i]), strict=False)),
                },
                indent=2,
            )
        )
        files += [png, js]
    return files
