"""What a careful reviewer asks after "which one wins": intervals, calibration, threshold, groups, forecast
intervals. The pipeline calls :func:`fit_on_validation` after training (validation data only: the
calibration temperature, the decision threshold, the conformal half-widths, stored in the data info and
so in the export) and :func:`review` after the test metrics (bootstrap intervals, before/after
calibration, per-group metrics, interval coverage), which returns metrics.json entries and report
sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfdl.data.splits import n_rows
from tfdl.errors import TfdlError

BOOTSTRAP_TASKS = ("classification", "regression", "forecast", "anomaly")


def _eval(cfg: Any):
    return getattr(cfg, "eval", None)


def check_eval(cfg: Any, splits: Any) -> None:
    """Data-dependent checks of the eval keys, before any training: one-line errors naming the fix."""
    ev = _eval(cfg)
    if ev is None:
        return
    if ev.threshold and not (cfg.task == "classification" and splits.info.num_classes == 2):
        raise TfdlError(
            f"eval.threshold={ev.threshold} applies to binary classification; this run is "
            f"{cfg.task} with {splits.info.num_classes or 'no'} classes (remove eval.threshold)"
        )
    cols = ev.group_columns()
    if cols:
        if not isinstance(splits.x_test, dict):
            raise TfdlError(
                f"eval.groups={ev.groups}: this app's test data has no named columns (tabular data has); "
                "remove eval.groups"
            )
        missing = [c for c in cols if _column(splits.x_test, c, splits.info) is None]
        if missing:
            have = ", ".join(getattr(c, "name", str(c)) for c in splits.info.columns) or ", ".join(
                splits.x_test
            )
            raise TfdlError(f"eval.groups: no column {', '.join(missing)} in the data; columns: {have}")


def _column(x: dict, name: str, info: Any) -> str | None:
    """The key of column ``name`` in the test dict (tabular input names may be sanitised)."""
    if name in x:
        return name
    for c in getattr(info, "columns", None) or []:
        if getattr(c, "name", None) == name and getattr(c, "input_name", None) in x:
            return c.input_name
    return None


def fit_on_validation(app: Any, cfg: Any, model: Any, splits: Any, log=print) -> dict:
    """Validation-only fits after training -> DataInfo fields (temperature, decision_threshold,
    prediction_intervals). Nothing for tasks they do not apply to."""
    from tfdl.pipeline import predict

    ev = _eval(cfg)
    if ev is None or splits.y_val is None or n_rows(splits.x_val) == 0:
        return {}
    if cfg.task == "classification":
        from tfdl.evaluation.calibration import apply_temperature, as_two_columns, fit_temperature
        from tfdl.evaluation.metrics import choose_threshold

        p = predict(app, model, splits.x_val, cfg=cfg)
        out: dict[str, Any] = {}
        t = None
        if ev.calibration == "temperature":
            t = round(fit_temperature(splits.y_val, p), 4)
            out["temperature"] = t
            log(f"calibration: temperature {t:.3f} fitted on validation (served probabilities use it)")
        if ev.threshold and splits.info.num_classes == 2:
            pos = as_two_columns(apply_temperature(p, t))[:, 1]
            try:
                thr = choose_threshold(splits.y_val, pos, ev.threshold)
            except ValueError as e:
                raise TfdlError(f"eval.threshold={ev.threshold}: {e}") from None
            out["decision_threshold"] = round(float(thr), 6)
            log(f"decision threshold {thr:.4f} for {ev.threshold} on validation")
        return out
    if cfg.task == "forecast":
        from tfdl.evaluation.conformal import conformal_radii

        p = predict(app, model, splits.x_val, cfg=cfg)
        return {"prediction_intervals": conformal_radii(splits.y_val, p, list(ev.interval_levels))}
    return {}


def review(app: Any, cfg: Any, splits: Any, preds: dict, kws: dict, raw_model: Any, chosen: dict,
           run_dir: Path, log=print) -> dict:  # fmt: skip
    """metrics.json entries (``intervals``, ``calibration``, ``threshold``, ``groups``,
    ``forecast_intervals``); report sections are added to ``splits.info.report_sections``."""
    ev = _eval(cfg)
    out: dict[str, Any] = {}
    sections: list[tuple[str, str]] = []
    plots_dir = Path(run_dir) / "plots"
    task = cfg.task
    y = splits.y_test
    if ev is None or y is None:
        return out
    if ev.resamples and task in BOOTSTRAP_TASKS and len(y) >= 10:
        from tfdl.evaluation.bootstrap import bootstrap

        log(f"bootstrap: {ev.resamples} resamples of the test split for every metric")
        out["intervals"] = bootstrap(task, y, preds, kws, resamples=ev.resamples, seed=cfg.data.seed)
    info = splits.info
    if task == "classification":
        sec = _calibration(y, raw_model, preds["model"], info, plots_dir, out)
        if sec:
            sections.append(sec)
        if info.decision_threshold is not None:
            out["threshold"] = {"rule": ev.threshold, "value": info.decision_threshold,
                                "chosen_on": "validation (calibrated probabilities)"}  # fmt: skip
            sections.append(
                (
                    "Decision threshold",
                    (
                        f"Rule `eval.threshold={ev.threshold}`, chosen on the validation split: the "
                        f"positive class '{info.labels[1]}' is predicted when its (calibrated) probability "
                        f"is >= {info.decision_threshold:.4f}. The model's test metrics use it, the model "
                        "card stores it and the server's `:classify` answers `decisions` with it; the "
                        "baselines are scored at 0.5."
                    ),
                )
            )
    cols = ev.group_columns()
    if cols and isinstance(splits.x_test, dict):
        sections.append(_groups(task, y, preds["model"], kws["model"], splits, cols, chosen, ev,
                                cfg.data.seed, plots_dir, out))  # fmt: skip
    if task == "forecast" and info.prediction_intervals:
        from tfdl.evaluation.conformal import band_plot, coverage

        cov = coverage(y, preds["model"], info.prediction_intervals)
        out["forecast_intervals"] = {"method": "split conformal on validation residuals, per horizon step",
                                     "coverage": cov}  # fmt: skip
        band_plot(None, y, preds["model"], info.prediction_intervals, plots_dir / "forecast_band.png")
        rows = [f"| {float(lv):.0%} | {c['coverage']:.3f} | {min(c['per_horizon']):.3f} .. "
                f"{max(c['per_horizon']):.3f} | {c['mean_width']:.4g} |"
                for lv, c in cov.items()]  # fmt: skip
        short = [lv for lv, c in cov.items() if c["coverage"] < float(lv) - 0.03]
        warn = (
            f" The {', '.join(f'{float(lv):.0%}' for lv in short)} interval(s) cover more than 3 points less "
            "than nominal on test: the test errors are larger than the validation errors (the series has "
            "drifted since validation), so the served bounds are too narrow for this period."
            if short else ""
        )  # fmt: skip
        sections.append(("Forecast intervals", "\n".join([
            "Split-conformal intervals: the half-width at each horizon step is a quantile of the model's "
            "absolute errors on the validation windows at that step. Coverage is measured on the test "
            "windows (nominal vs empirical); the served answer has `lower_*` / `upper_*` beside each value."
            + warn,
            "", "| nominal | test coverage | per step (min .. max) | mean width |", "|---|---|---|---|",
            *rows, "", "![forecast_band](plots/forecast_band.png)"])))  # fmt: skip
    if sections:
        info.update({"report_sections": sections})
    return out


def _calibration(y, raw, cal, info, plots_dir: Path, out: dict) -> tuple[str, str] | None:
    from tfdl.evaluation.calibration import nll, reliability, reliability_diagram

    before, after = reliability(y, raw), reliability(y, cal)
    t = info.temperature
    out["calibration"] = {
        "method": "temperature scaling fitted on validation" if t is not None else "none",
        "temperature": t,
        "ece_before": before["ece"], "ece_after": after["ece"],
        "nll_before": round(nll(y, raw), 4), "nll_after": round(nll(y, cal), 4),
        "bins": after["bins"],
    }  # fmt: skip
    curves = {"model": raw} if t is None else {"before (raw)": raw, f"after (T={t:.2f})": cal}
    reliability_diagram(y, curves, plots_dir / "reliability.png")
    c = out["calibration"]
    text = (
        f"Expected calibration error (15 bins, test): {c['ece_before']:.4f}"
        + (f" before, {c['ece_after']:.4f} after temperature scaling (T = {t:.3f}, fitted on validation; "
           f"T > 1 softens an over-confident model). Test NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}. "
           "The exported model divides by T, so the served probabilities are the calibrated ones; the test "
           "metrics above are computed on them (the predicted class is unchanged)."
           if t is not None else ". No calibration (eval.calibration=none).")
        + "\n\n![reliability](plots/reliability.png)"
    )  # fmt: skip
    return ("Calibration", text)


def _groups(task, y, pred, kw, splits, cols, chosen, ev, seed, plots_dir: Path, out: dict):
    from tfdl.evaluation.groups import group_labels, group_plot, group_report, group_section

    labels = {}
    for c in cols:
        key = _column(splits.x_test, c, splits.info)
        train = splits.x_train.get(key) if isinstance(splits.x_train, dict) else None
        labels[c] = group_labels(splits.x_test[key], train)
    rep = group_report(task, y, pred, kw, labels, chosen["metric"], chosen["higher_is_better"],
                       resamples=ev.resamples or 1000, seed=seed)  # fmt: skip
    out["groups"] = rep
    plots = {}
    for c, r in rep.items():
        safe = "".join(ch if ch.isalnum() else "_" for ch in c)
        group_plot(c, r, plots_dir / f"groups_{safe}.png")
        plots[c] = f"plots/groups_{safe}.png"
    return ("Metrics by group", group_section(rep, plots))
