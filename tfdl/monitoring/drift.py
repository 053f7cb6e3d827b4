"""Logged requests against the reference profile: one test per feature, and the alarm.

Numbers: scipy's two-sample Kolmogorov-Smirnov test against the reference sample, and the population
stability index (PSI) over the reference's deciles. Categories and predicted classes: scipy's chi-square
goodness-of-fit test against the reference mix (add-one smoothed) and PSI over the categories. Pixel
histograms: PSI between the mean histograms (pixels are not independent, so no p-value).

A feature drifts when the test rejects at ``alpha`` after a Bonferroni correction over the features tested
AND its PSI is at least ``psi_min`` (0.1, the usual "moderate shift" line): the p-value alone flags tiny
shifts once samples are large, PSI alone flags noise when they are small. A model's alarm is raised when
any feature or the prediction mix drifts; nothing is judged below ``min_rows`` requests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ALPHA = 0.01
PSI_MIN = 0.1
PSI_HIST = 0.1
MIN_ROWS = 30
_EPS = 1e-4


@dataclass
class FeatureDrift:
    feature: str
    kind: str  # numeric | category | histogram
    test: str  # ks | chi2 | psi
    n_ref: int
    n_cur: int
    statistic: float
    p_value: float | None
    psi: float
    drifted: bool
    ref_center: Any = None  # mean (numbers) or most frequent category
    cur_center: Any = None


@dataclass
class DriftResult:
    model: str
    version: int
    n_rows: int
    judged: bool
    features: list[FeatureDrift] = field(default_factory=list)
    prediction: FeatureDrift | None = None
    note: str = ""

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    @property
    def alarm(self) -> bool:
        return self.judged and (bool(self.drifted) or bool(self.prediction and self.prediction.drifted))

    @property
    def share(self) -> float:
        """Fraction of the tests (features + prediction) that drifted: the server's gauge."""
        tests = self.features + ([self.prediction] if self.prediction else [])
        return sum(t.drifted for t in tests) / len(tests) if tests and self.judged else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(alarm=self.alarm, share=self.share)
        return d


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """Population stability index between two distributions given as bin proportions."""
    p = np.clip(np.asarray(ref, np.float64), _EPS, None)
    q = np.clip(np.asarray(cur, np.float64), _EPS, None)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def _numeric(name: str, ref: dict, cur: np.ndarray, alpha: float, psi_min: float) -> FeatureDrift:
    from scipy import stats

    r = np.asarray(ref["sample"], np.float64)
    c = cur[np.isfinite(cur)]
    if len(r) < 2 or len(c) < 2:
        return FeatureDrift(name, "numeric", "ks", len(r), len(c), 0.0, None, 0.0, False)
    ks = stats.ks_2samp(r, c)
    # Deciles as upper bin edges (v <= edge): a reference with ties (counts, a constant 0) keeps its mass
    # in one bin and new values fall outside it.
    edges = np.unique(np.quantile(r, np.linspace(0, 1, 11)[1:-1]))
    p_ref = np.bincount(np.searchsorted(edges, r, side="left"), minlength=len(edges) + 1) / len(r)
    p_cur = np.bincount(np.searchsorted(edges, c, side="left"), minlength=len(edges) + 1) / len(c)
    value = psi(p_ref, p_cur)
    p = float(ks.pvalue)
    return FeatureDrift(
        name, "numeric", "ks", len(r), len(c), float(ks.statistic), p, value,
        p < alpha and value >= psi_min, round(float(r.mean()), 6), round(float(c.mean()), 6),
    )  # fmt: skip


def _category(name: str, ref: dict, cur: np.ndarray, alpha: float, psi_min: float) -> FeatureDrift:
    from scipy import stats

    counts = ref["counts"]
    cats = [k for k in counts if k != "(other)"]
    ref_n = np.array([counts[k] for k in cats] + [counts.get("(other)", 0)], np.float64)
    known = set(cats)
    cur_list = [str(v) for v in cur.tolist()]
    cur_n = np.array([cur_list.count(k) for k in cats] + [sum(v not in known for v in cur_list)], np.float64)
    expected = (ref_n + 1.0) / (ref_n + 1.0).sum() * cur_n.sum()
    chi = stats.chisquare(cur_n, expected)
    value = psi(ref_n / max(ref_n.sum(), 1), cur_n / max(cur_n.sum(), 1))
    p = float(chi.pvalue)
    top_cur = max(set(cur_list), key=cur_list.count) if cur_list else None
    return FeatureDrift(
        name, "category", "chi2", int(ref_n.sum()), len(cur_list), float(chi.statistic), p, value,
        p < alpha and value >= psi_min, max(counts, key=counts.get) if counts else None, top_cur,
    )  # fmt: skip


def compare_feature(name: str, ref: dict, cur: np.ndarray, alpha: float, psi_min: float) -> FeatureDrift:
    if ref["kind"] == "category":
        return _category(name, ref, np.asarray(cur, dtype=object), alpha, psi_min)
    return _numeric(name, ref, np.asarray(cur, dtype=np.float64), alpha, psi_min)


def compare(
    profile: dict[str, Any],
    features: dict[str, np.ndarray],
    hists: dict[str, np.ndarray],
    preds: np.ndarray,
    model: str = "",
    version: int = 0,
    alpha: float = ALPHA,
    psi_min: float = PSI_MIN,
    min_rows: int = MIN_ROWS,
) -> DriftResult:
    """Test every profiled feature present in ``features`` ({name: (n,) values}), each image input's pixel
    histogram (``hists``: {input: (n, bins)}) and the prediction mix (``preds``: (n,))."""
    n = len(preds)
    if n < min_rows:
        return DriftResult(model, version, n, False, note=f"too few requests to judge ({n} < {min_rows})")
    names = [k for k in profile["features"] if k in features]
    m = len(names) + 1  # Bonferroni over the features and the prediction
    out = DriftResult(model, version, n, True)
    for k in names:
        out.features.append(compare_feature(k, profile["features"][k], features[k], alpha / m, psi_min))
    for k, ref_h in profile.get("histograms", {}).items():
        if k in hists and len(hists[k]):
            value = psi(np.asarray(ref_h), np.asarray(hists[k]).mean(axis=0))
            out.features.append(
                FeatureDrift(f"{k}.pixel_histogram", "histogram", "psi", profile["n_rows"], len(hists[k]),
                             value, None, value, value >= PSI_HIST)
            )  # fmt: skip
    out.prediction = compare_feature("prediction", profile["prediction"], preds, alpha / m, psi_min)
    missing = [k for k in profile["features"] if k not in features]
    if missing:
        out.note = f"not in the requests: {', '.join(missing[:5])}"
    return out
