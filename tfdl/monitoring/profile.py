"""The reference profile: what the model's inputs and answers looked like on held-out training data.

Export and the request log summarise inputs with the same ``Summarizer``, so a logged request and the
reference are described by the same per-row features:

- a numeric column (tables): its value;
- a matrix input (N, F): one feature per column (the first 64);
- a window input (N, T, F) (time series): per feature, the window's mean and standard deviation;
- an image (N, H, W, C): mean and standard deviation of the pixels, the means of a 4x4 grid of cells (a
  coarse 16-dimensional embedding: where the light is) and a 16-bin pixel histogram;
- a string column with few distinct values (tables): its category;
- free text: its length in words and its out-of-vocabulary rate against the training split's words;
- the prediction: the predicted class (classification) or the first output value.

The profile keeps a sample of up to ``N_SAMPLE`` values per numeric feature (a two-sample test needs
values, not moments), category counts, and the mean pixel histogram. It is written as
``reference_profile.json`` in the version folder."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_FILE = "reference_profile.json"
FORMAT = 1
N_SAMPLE = 1000  # reference rows profiled
N_FIT = 5000  # training rows the summarizer's vocabulary / pixel range is fitted on
HIST_BINS = 16
GRID = 4
MAX_CATEGORIES = 50
MAX_COLUMNS = 64
VOCAB_SIZE = 20000
_WORD = re.compile(r"\w+", re.UNICODE)

Columns = dict[str, np.ndarray]  # feature name -> (n,) float64 or object (categories)


def _as_dict(x: Any, names: list[str] | None = None) -> dict[str, np.ndarray]:
    if isinstance(x, dict):
        return {k: np.asarray(v) for k, v in x.items()}
    return {(names[0] if names else "input"): np.asarray(x)}


def _strings(a: np.ndarray) -> np.ndarray:
    flat = a.reshape(len(a), -1)[:, 0] if a.ndim > 1 else a
    return np.array(
        [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat], dtype=object
    )


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _kind(a: np.ndarray) -> str:
    if a.dtype.kind in "OUS":
        return "string"
    if a.ndim <= 1 or (a.ndim == 2 and a.shape[1] == 1):
        return "numeric"
    return {2: "columns", 3: "windows", 4: "image"}.get(a.ndim, "tensor")


class Summarizer:
    """Input tensors -> per-row features. ``fit`` on training inputs; ``to_json``/``from_json`` travel in
    the profile so the server summarises requests exactly as export summarised the reference."""

    def __init__(self, inputs: dict[str, dict[str, Any]]):
        self.inputs = inputs  # input name -> {"kind": ..., parameters}
        self._vocab = {n: set(p["vocab"]) for n, p in inputs.items() if p["kind"] == "text"}

    @classmethod
    def fit(cls, x: Any, names: list[str] | None = None) -> Summarizer:
        spec = {}
        for name, a in _as_dict(x, names).items():
            kind = _kind(a)
            if kind == "string":
                s = _strings(a)
                counts = Counter(s.tolist())
                mean_words = float(np.mean([len(_words(t)) for t in s])) if len(s) else 0.0
                if len(counts) <= MAX_CATEGORIES and mean_words <= 3:
                    spec[name] = {"kind": "category"}
                else:
                    words = Counter(w for t in s for w in _words(t))
                    vocab = [w for w, c in words.most_common(VOCAB_SIZE) if c >= 2]
                    spec[name] = {"kind": "text", "vocab": sorted(vocab)}
            elif kind == "image":
                lo, hi = (0.0, 255.0) if a.dtype == np.uint8 else (float(np.min(a)), float(np.max(a)))
                spec[name] = {"kind": "image", "range": [lo, hi if hi > lo else lo + 1.0]}
            elif kind == "columns":
                spec[name] = {"kind": kind, "width": min(int(a.shape[1]), MAX_COLUMNS)}
            elif kind == "windows":
                spec[name] = {"kind": kind, "width": min(int(a.shape[2]), MAX_COLUMNS // 2)}
            else:
                spec[name] = {"kind": kind}
        return cls(spec)

    def to_json(self) -> dict[str, Any]:
        return self.inputs

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Summarizer:
        return cls(spec)

    def _match(self, x: Any) -> dict[str, np.ndarray]:
        """Pair the given inputs with the fitted ones; a single input is matched whatever its name (the
        signature may name it differently from the Keras input)."""
        d = _as_dict(x, list(self.inputs))
        if len(self.inputs) == 1 and len(d) == 1:
            return {next(iter(self.inputs)): next(iter(d.values()))}
        return {n: d[n] for n in self.inputs if n in d}

    def rows(self, x: Any) -> tuple[Columns, dict[str, np.ndarray]]:
        """Features of every row: ({feature: (n,) values}, {image input: (n, HIST_BINS) histograms})."""
        feats: Columns = {}
        hists: dict[str, np.ndarray] = {}
        for name, a in self._match(x).items():
            p = self.inputs[name]
            kind = p["kind"]
            if kind == "category":
                feats[name] = np.array([s[:64] for s in _strings(a)], dtype=object)
            elif kind == "text":
                vocab = self._vocab[name]
                words = [_words(t) for t in _strings(a)]
                feats[f"{name}.n_words"] = np.array([len(w) for w in words], dtype=np.float64)
                feats[f"{name}.oov_rate"] = np.array(
                    [sum(t not in vocab for t in w) / len(w) if w else 0.0 for w in words], dtype=np.float64
                )
            elif kind == "numeric":
                feats[name] = a.reshape(len(a), -1)[:, 0].astype(np.float64)
            elif kind == "columns":
                v = a.reshape(len(a), -1).astype(np.float64)
                for i in range(min(p["width"], v.shape[1])):
                    feats[f"{name}[{i}]"] = v[:, i]
            elif kind == "windows":
                v = a.astype(np.float64)
                for i in range(min(p["width"], v.shape[2])):
                    feats[f"{name}[{i}].mean"] = v[:, :, i].mean(axis=1)
                    feats[f"{name}[{i}].std"] = v[:, :, i].std(axis=1)
            elif kind == "image":
                lo, hi = p["range"]
                v = (a.astype(np.float32) - lo) / (hi - lo)  # [0, 1] on the training range
                feats[f"{name}.mean"] = v.mean(axis=(1, 2, 3)).astype(np.float64)
                feats[f"{name}.std"] = v.std(axis=(1, 2, 3)).astype(np.float64)
                gray = v.mean(axis=3)
                rows_ = np.array_split(np.arange(gray.shape[1]), GRID)
                cols_ = np.array_split(np.arange(gray.shape[2]), GRID)
                for i, r in enumerate(rows_):
                    for j, c in enumerate(cols_):
                        if len(r) and len(c):
                            cell = gray[:, r[0] : r[-1] + 1, c[0] : c[-1] + 1]
                            feats[f"{name}.cell{i}{j}"] = cell.mean(axis=(1, 2)).astype(np.float64)
                idx = np.clip((gray.reshape(len(a), -1) * HIST_BINS).astype(np.int64), 0, HIST_BINS - 1)
                h = np.zeros((len(a), HIST_BINS))
                np.add.at(h, (np.repeat(np.arange(len(a)), idx.shape[1]), idx.reshape(-1)), 1.0)
                hists[name] = h / max(idx.shape[1], 1)
            else:  # any other rank: the row's mean and spread
                v = a.reshape(len(a), -1).astype(np.float64)
                feats[f"{name}.mean"], feats[f"{name}.std"] = v.mean(axis=1), v.std(axis=1)
        return feats, hists


def predictions(out: np.ndarray, task: str | None, labels: list[str]) -> np.ndarray:
    """The first output (n, ...) -> the predicted class (classification, as a label) or the first value."""
    p = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
    if task == "classification":
        k = (p[:, 0] > 0.5).astype(int) if p.shape[1] == 1 else p.argmax(axis=1)
        names = labels if len(labels) >= max(2, p.shape[1]) else [str(i) for i in range(max(2, p.shape[1]))]
        return np.array([names[i] for i in k], dtype=object)
    return p[:, 0]


def describe(values: np.ndarray) -> dict[str, Any]:
    """A feature's reference record: a sample + moments for numbers, counts for categories."""
    if values.dtype == object:
        counts = Counter(values.tolist())
        top = dict(counts.most_common(MAX_CATEGORIES))
        other = sum(counts.values()) - sum(top.values())
        return {"kind": "category", "counts": {**top, **({"(other)": other} if other else {})}}
    v = values[np.isfinite(values)]
    return {
        "kind": "numeric",
        "n_missing": int(len(values) - len(v)),
        "mean": float(v.mean()) if len(v) else None,
        "std": float(v.std()) if len(v) else None,
        "sample": [float(f"{x:.6g}") for x in v],
    }


def build_profile(
    predict: Callable[[Any], Any],
    x_fit: Any,
    x_ref: Any,
    task: str | None,
    labels: list[str],
    names: list[str] | None = None,
    source: str = "validation split",
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the summarizer on ``x_fit`` (training rows), profile up to ``N_SAMPLE`` rows of ``x_ref``
    (held out from the fit, so text's out-of-vocabulary rate is what new text shows) and the model's
    answers on them (``predict(x) -> first output``)."""
    from tfdl.data.splits import n_rows, take

    rng = np.random.default_rng(seed)
    nf, nr = n_rows(x_fit), n_rows(x_ref)
    fit = take(x_fit, np.sort(rng.choice(nf, min(nf, N_FIT), replace=False)))
    ref = take(x_ref, np.sort(rng.choice(nr, min(nr, N_SAMPLE), replace=False)))
    summ = Summarizer.fit(fit, names)
    feats, hists = summ.rows(ref)
    preds = predictions(np.asarray(predict(ref)), task, labels)
    return {
        "format": FORMAT,
        "source": source,
        "n_rows": int(n_rows(ref)),
        "task": task,
        "summarizer": summ.to_json(),
        "features": {k: describe(v) for k, v in feats.items()},
        "histograms": {k: [round(float(x), 6) for x in h.mean(axis=0)] for k, h in hists.items()},
        "prediction": describe(preds),
    }


def reference_inputs(splits) -> tuple[Any, str]:
    """The rows to profile: the validation split when it has at least 200 rows, else the training split."""
    from tfdl.data.splits import n_rows

    if splits.x_val is not None and n_rows(splits.x_val) >= 200:
        return splits.x_val, "validation split"
    return splits.x_train, "training split"


def write_reference(version_dir: Path, model, splits, task: str | None) -> Path:
    """Profile ``splits`` through ``model`` (a Keras model taking raw inputs) into the version folder."""
    x_ref, source = reference_inputs(splits)
    names = [t.name for t in model.inputs] if len(model.inputs) == 1 else None
    profile = build_profile(
        lambda x: _first(model.predict(x, verbose=0, batch_size=256)),
        splits.x_train, x_ref, task, list(splits.info.labels), names, source,
    )  # fmt: skip
    path = Path(version_dir) / PROFILE_FILE
    path.write_text(json.dumps(profile), encoding="utf-8")
    return path


def _first(out: Any) -> np.ndarray:
    if isinstance(out, dict):
        return np.asarray(next(iter(out.values())))
    if isinstance(out, list | tuple):
        return np.asarray(out[0])
    return np.asarray(out)


def load_profile(version_dir: Path) -> dict[str, Any] | None:
    path = Path(version_dir) / PROFILE_FILE
    if not path.is_file():
        return None
    profile = json.loads(path.read_text(encoding="utf-8"))
    return profile if profile.get("format") == FORMAT else None
