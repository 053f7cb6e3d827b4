"""`tfdl evaluate APP --model saved_models/NAME/V --data NEW`: score an exported version on new labelled data.

The new file or folder is read by the app's own loader with the version's recorded configuration (so the
same target column, text column, image size...), every row of it is scored by the SavedModel itself (the
thing a server runs), and the metrics are set beside those in the model card. "Dropped beyond noise" means
the headline metric fell by more than two standard errors of the difference; the standard error is a
bootstrap of the new data's metric combined with the same for the card's test set (assumed as noisy per
row as the new data, scaled by the two sizes).

Classification labels are matched by name: classes of the new data that the model does not know are a
one-line error; classes the new data lacks are fine (their recall is undefined).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError
from tfdl.tasks import get_task

SUPPORTED = ("classification", "regression")
BOOTSTRAP = 200


def _concat(parts: list):
    parts = [p for p in parts if p is not None]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
    return np.concatenate([np.asarray(p) for p in parts])


def _config_for(app, card: dict, data: str, sets: list[str]):
    from tfdl import config as cfgmod

    raw = json.loads(json.dumps(card.get("config") or {}))
    raw.setdefault("data", {})
    raw["data"].update({"path": str(data), "folds": 0, "fold": 0, "limit": None})
    # images: read the new folder at the size and channels the version's signature takes
    shape = ((card.get("signature") or {}).get("inputs") or {}).get("shape")
    fields = app.config_class.model_fields["data"].annotation.model_fields
    if shape and len(shape) == 4 and "image_size" in fields:
        raw["data"]["image_size"], raw["data"]["channels"] = shape[1], shape[3]
    return cfgmod.build_config(app.config_class, raw, sets)


def _predict(loaded, x, batch: int = 512) -> np.ndarray:
    from tfdl.data.splits import n_rows, take

    n = n_rows(x)
    return np.concatenate(
        [np.asarray(loaded.predict(take(x, np.arange(i, min(n, i + batch))))) for i in range(0, n, batch)]
    )


def _remap(y: np.ndarray, new_labels: list[str], model_labels: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(model_labels)}
    unknown = sorted({new_labels[int(k)] for k in np.unique(y)} - set(index))
    if unknown:
        raise TfdlError(
            f"the new data has classes the model does not know: {', '.join(unknown[:5])}; the model's "
            f"classes are {', '.join(model_labels[:10])} (rename the folders/values, or train a new model)"
        )
    return np.array([index[new_labels[int(k)]] for k in y], dtype=np.int64)


def _bootstrap_se(task: str, y: np.ndarray, pred: np.ndarray, metric: str, labels, seed: int = 0) -> float:
    from tfdl.evaluation.metrics import evaluate

    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, len(y), len(y))
        v = evaluate(task, y[idx], pred[idx], None, labels=labels).get(metric)
        if v is not None:
            vals.append(v)
    return float(np.std(vals, ddof=1)) if len(vals) > 2 else float("nan")


def evaluate_new_data(app, version_dir: Path, data: str, sets: list[str] | None = None, log=print) -> dict:
    """Metrics of an exported version on new labelled data, beside its model card's; writes
    ``runs/<app>/evaluate-<time>/evaluation.json`` (the version folder is never touched) and returns the
    record with its ``path``."""
    from tfdl.evaluation.metrics import evaluate, headline
    from tfdl.export.load import load_version

    loaded = load_version(version_dir)
    card = loaded.meta
    task = card.get("task") or app.task
    if card.get("app") not in (None, app.name):
        raise TfdlError(f"{version_dir} is a '{card.get('app')}' model; run tfdl evaluate {card.get('app')}")
    if task not in SUPPORTED:
        raise TfdlError(
            f"new-data evaluation supports {' and '.join(SUPPORTED)} models; this is a {task} model "
            f"(train on the new data instead: tfdl train {app.name} --data {data})"
        )
    cfg = _config_for(app, card, data, sets or [])
    log(f"reading {data} with the {app.name} loader and the version's configuration ...")
    splits = app.load_data(cfg)
    x = _concat([splits.x_train, splits.x_val, splits.x_test])
    y = _concat([splits.y_train, splits.y_val, splits.y_test])
    labels = list(card.get("labels") or [])
    if get_task(task).classifier:
        y = _remap(y, list(splits.info.labels), labels)
    log(f"scoring {len(y)} rows with {version_dir} ...")
    pred = _predict(loaded, x)
    new = evaluate(task, y, pred, None, labels=labels)
    metric, higher = headline(task)
    old = (card.get("test_metrics") or {}).get(metric)
    value = new.get(metric)
    n_old = sum((card.get("dataset") or {}).get(k, 0) for k in ("n_test",)) or len(y)
    se_new = _bootstrap_se(task, y, pred, metric, labels)
    se = se_new * math.sqrt(1 + len(y) / max(n_old, 1))  # the card's value is as noisy per row
    verdict = "no reference metric in the model card"
    dropped = None
    if old is not None and value is not None and math.isfinite(se):
        change = (value - old) if higher else (old - value)  # > 0 = better on the new data
        dropped = bool(change < -2 * se)
        if dropped:
            verdict = (
                f"performance DROPPED beyond noise: {metric} {value:.4g} on the new data vs {old:.4g} at "
                f"export (change {value - old:+.4g}, more than 2 standard errors = {2 * se:.3g})"
            )
        else:
            verdict = (
                f"no drop beyond noise: {metric} {value:.4g} on the new data vs {old:.4g} at export "
                f"(change {value - old:+.4g}, within 2 standard errors = {2 * se:.3g})"
            )
    record = {
        "version_dir": str(version_dir), "app": app.name, "task": task, "data": str(data),
        "n_rows": int(len(y)), "notes": list(splits.info.notes), "metrics": new,
        "model_card_metrics": card.get("test_metrics") or {}, "headline": metric,
        "standard_error": None if not math.isfinite(se) else round(se, 5), "dropped": dropped,
        "verdict": verdict, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    out_dir = Path(cfg.runs_dir) / app.name / f"evaluate-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "evaluation.json"
    tmp = out.with_name(".evaluation.json.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    tmp.replace(out)
    record["path"] = str(out)
    return record
