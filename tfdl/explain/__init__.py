"""Explanations: Grad-CAM family for images (``vision``), attention/occlusion for text, SHAP and permutation
importance for tables. Shared helpers only live here; each domain has its own module.
"""

from __future__ import annotations

import json
from pathlib import Path

from tfdl.errors import TfdlError


def explain_dir(run_dir: str | Path, method: str) -> Path:
    """``run_dir/explain/<method>/`` (created): where an explainer writes its files."""
    out = Path(run_dir) / "explain" / method
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_labels(run_dir: str | Path, num_classes: int) -> list[str]:
    """Class names of a finished run (from its metrics.json per-class table); ``"0".."k-1"`` if absent."""
    try:
        per_class = json.loads((Path(run_dir) / "metrics.json").read_text())["per_class"]
        labels = [str(r["label"]) for r in per_class]
        if len(labels) == num_classes:
            return labels
    except (OSError, KeyError, TypeError, ValueError):
        pass
    return [str(i) for i in range(num_classes)]


def target_index(target: str | int | None, labels: list[str]) -> int | None:
    """``--class`` as a class index: a class name, or an integer index; None stays None (= predicted)."""
    if target is None:
        return None
    if str(target) in labels:
        return labels.index(str(target))
    try:
        k = int(target)
    except (TypeError, ValueError):
        k = -1
    if 0 <= k < len(labels):
        return k
    raise TfdlError(
        f"--class expects a class name or index of this model; got {target!r}; choose one of: "
        f"{', '.join(labels)}"
    )
