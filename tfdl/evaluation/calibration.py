"""Are the probabilities honest? Expected calibration error, reliability diagram, temperature scaling.

A classifier is calibrated when, among the examples it gives 80 % confidence, about 80 % are right. The
expected calibration error (ECE) measures the gap: the examples are binned by their top-class confidence
(15 equal-width bins), and ECE is the average |accuracy - confidence| of the bins, weighted by their size.

Temperature scaling (Guo et al., 2017) divides the logits by one number T > 0 fitted on the VALIDATION
split to minimise the negative log-likelihood; T > 1 softens an over-confident model. It never changes
the predicted class (argmax), and for a binary model it keeps the ranking (ROC-AUC) too. The logits are
recovered from the probabilities the model outputs (``log p`` for softmax; ``log p / (1 - p)`` for a
sigmoid), so it works on any classifier here. The exported model divides by the same T (the task's
serving transform), so the served probabilities are the calibrated ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BINS = 15
_EPS = 1e-7


def as_two_columns(proba: Any) -> np.ndarray:
    """(n,) or (n, 1) sigmoid probabilities -> (n, 2); (n, k) unchanged (float64)."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        q = p.reshape(-1, 1)
        return np.concatenate([1.0 - q, q], axis=1)
    return p


def logits_of(proba: Any) -> np.ndarray:
    """Logits (up to a per-row constant, which softmax ignores) of (n, k) or sigmoid probabilities."""
    return np.log(np.clip(as_two_columns(proba), _EPS, 1.0))


def apply_temperature(proba: Any, temperature: float | None) -> np.ndarray:
    """``softmax(log p / T)`` in the input's shape ((n,), (n, 1) sigmoid or (n, k)); T None or 1 = as is."""
    p = np.asarray(proba, dtype=np.float64)
    if temperature is None or temperature == 1.0:
        return p
    z = logits_of(p) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out = e / e.sum(axis=1, keepdims=True)
    if p.ndim == 1:
        return out[:, 1]
    if p.shape[1] == 1:
        return out[:, 1:]
    return out


def nll(y: Any, proba: Any) -> float:
    """Mean negative log-likelihood of the true class."""
    p = as_two_columns(proba)
    yy = np.asarray(y).reshape(-1).astype(int)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(yy)), yy], _EPS, 1.0))))


def fit_temperature(y_val: Any, proba_val: Any, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The T in ``bounds`` minimising the validation NLL of ``softmax(logits / T)`` (scipy, bounded)."""
    from scipy.optimize import minimize_scalar

    z = logits_of(proba_val)
    yy = np.asarray(y_val).reshape(-1).astype(int)
    if len(yy) == 0:
        raise ValueError("temperature scaling needs validation examples; the validation split is empty")
    rows = np.arange(len(yy))

    def loss(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[rows, yy]))

    res = minimize_scalar(loss, bounds=tuple(np.log(bounds)), method="bounded", options={"xatol": 1e-4})
    t = float(np.exp(res.x))
    return t if loss(np.log(t)) <= loss(0.0) else 1.0


def reliability(y: Any, proba: Any, bins: int = BINS) -> dict:
    """Top-class confidence vs accuracy in ``bins`` equal-width bins, and the ECE.

    Returns ``{ece, bins: [{low, high, count, confidence, accuracy}]}`` (empty bins left out)."""
    p = as_two_columns(proba)
    yy = np.asarray(y).reshape(-1).astype(int)
    conf = p.max(axis=1)
    right = (p.argmax(axis=1) == yy).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        c, a = float(conf[m].mean()), float(right[m].mean())
        ece += m.mean() * abs(a - c)
        rows.append({"low": round(float(edges[b]), 4), "high": round(float(edges[b + 1]), 4),
                     "count": int(m.sum()), "confidence": round(c, 4), "accuracy": round(a, 4)})  # fmt: skip
    return {"ece": round(float(ece), 4) if len(yy) else None, "bins": rows}


def expected_calibration_error(y: Any, proba: Any, bins: int = BINS) -> float:
    """ECE (0 = calibrated; the share of confidence not backed by accuracy)."""
    return reliability(y, proba, bins)["ece"]


def reliability_diagram(y: Any, curves: dict[str, Any], out_path: Path, bins: int = BINS) -> Path:
    """Accuracy vs confidence per bin for each ``{name: probabilities}`` (e.g. before / after), with the
    diagonal of perfect calibration; the legend carries each curve's ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfect calibration")
    for name, proba in curves.items():
        r = reliability(y, proba, bins)
        xs = [b["confidence"] for b in r["bins"]]
        ys = [b["accuracy"] for b in r["bins"]]
        ax.plot(xs, ys, marker="o", ms=4, lw=1.2, label=f"{name} (ECE {r['ece']:.3f})")
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Reliability diagram (test)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return out_path


def temperature_layer_output(output: Any, temperature: float) -> Any:
    """Keras: the model's probability output -> ``softmax(log p / T)`` (or the sigmoid equivalent), the
    served transform: one ``TemperatureScale`` layer (plain TensorFlow ops when exported). As loose
    ``keras.ops`` its nodes took Keras' automatic names (``true_divide``...), which clashed with the same
    names in a model loaded from ``model.keras`` by a fresh process (``tfdl export`` of a finished run)."""
    from tfdl.models.layers import TemperatureScale

    return TemperatureScale(temperature, _EPS, name="calibration_temperature")(output)
