"""Saving matplotlib figures: the one helper behind every PNG tfdl writes (reports, explanations, tuning,
drift). Headless (Agg backend), parent folders made, the layout tightened, the figure closed (a training run
draws many: open figures leak memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: servers and CI have no display

import matplotlib.pyplot as plt  # noqa: E402

DPI = 110


def save_figure(
    fig: Any,
    path: Path | str,
    *,
    dpi: int = DPI,
    tight: bool = True,
    rect: tuple[float, float, float, float] | None = None,
    **savefig_kw: Any,
) -> Path:
    """Write ``fig`` to ``path`` as a PNG at ``dpi`` and close it; returns the path.

    ``tight`` runs ``fig.tight_layout`` first (within ``rect`` when given, e.g. room for a suptitle);
    ``savefig_kw`` go to ``fig.savefig`` (``bbox_inches="tight"`` for figures drawn by other libraries)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout(**({"rect": rect} if rect is not None else {}))
    fig.savefig(out, dpi=dpi, **savefig_kw)
    plt.close(fig)
    return out
