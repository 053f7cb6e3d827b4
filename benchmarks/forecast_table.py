"""The time-series table of BENCHMARKS.md from one finished `tfdl train timeseries` run (issue #20).

Every forecaster of the run (the model and every baseline) with its test MAE and MASE and their 95 %
bootstrap intervals (moving blocks of test windows), the paired difference model - baseline on MAE with
its verdict, and the coverage of the model's split-conformal 80 % / 95 % intervals.

    python benchmarks/forecast_table.py runs/timeseries/RUN

Prints Markdown; append it to BENCHMARKS.md with the command, the machine and the load average.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _ci(iv: dict | None, metric: str) -> str:
    c = (iv or {}).get(metric)
    return f"[{c[0]:.4g}, {c[1]:.4g}]" if c else "—"


def table(metrics: dict) -> str:
    iv = metrics.get("intervals") or {}
    rows = [("model: " + metrics["model"], metrics["test"], iv.get("model"), None)]
    for name, m in metrics["baselines"].items():
        rows.append((name, m, (iv.get("baselines") or {}).get(name), (iv.get("difference") or {}).get(name)))
    from tfdl.evaluation.bootstrap import verdict

    out = [
        "| forecaster | MAE | 95% interval | MASE | 95% interval | model - this on MAE | model vs this |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m, ci, diff in sorted(rows, key=lambda r: r[1].get("mae") or 1e30):
        d = (diff or {}).get("mae")
        out.append(
            f"| {name} | {m.get('mae'):.4g} | {_ci(ci, 'mae')} | {m.get('mase') or float('nan'):.4g} | "
            f"{_ci(ci, 'mase')} | {f'[{d[0]:.4g}, {d[1]:.4g}]' if d else '—'} | "
            f"{verdict(d[0], d[1], higher=False) if d else '—'} |"
        )
    cov = (metrics.get("forecast_intervals") or {}).get("coverage") or {}
    if cov:
        out += [
            "",
            "| interval | nominal | test coverage | per step min .. max | mean width |",
            "|---|---|---|---|---|",
        ]
        for lv, c in cov.items():
            out.append(
                f"| split conformal | {float(lv):.0%} | {c['coverage']:.3f} | {min(c['per_horizon']):.3f} .. "
                f"{max(c['per_horizon']):.3f} | {c['mean_width']:.4g} |"
            )
    seasonal = metrics["baselines"].get("seasonal_naive_week", {}).get("mase")
    if seasonal and metrics["test"].get("mase"):
        out += ["", f"Model MASE / weekly seasonal naive MASE: {metrics['test']['mase'] / seasonal:.3f} "
                "(issue #20's goal: <= 0.6)."]  # fmt: skip
    out += ["", f"Verdict: {metrics['comparison'].get('sentence')}"]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    print(table(json.loads((args.run / "metrics.json").read_text())))


if __name__ == "__main__":
    main()
