"""``study.md``: the table of the variants and a reading stated only as far as the numbers go."""

from __future__ import annotations

import math
from pathlib import Path

HEADLINES = ("accuracy", "roc_auc", "rmse", "mae", "f1_macro")


def _metric(rows: list[dict]) -> str | None:
    """The test metric the table leads with: accuracy for classification, else the first known one."""
    for m in HEADLINES:
        if any(m in (r.get("test") or {}) for r in rows):
            return m
    return None


def _higher(metric: str | None) -> bool:
    return metric not in ("rmse", "mae")


def _f(v, nd: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.{nd}f}"


def noise_band(p: float, n: int) -> float:
    """Two binomial standard errors of an accuracy ``p`` measured on ``n`` examples (~95 %)."""
    return 2 * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))


def _last(row: dict, key: str):
    vals = [v for v in row.get("history", {}).get(key, []) if v is not None]
    return vals[-1] if vals else None


def _best_val(row: dict) -> tuple[float | None, int | None]:
    vals = row.get("history", {}).get("val_loss", [])
    fin = [(v, i) for i, v in enumerate(vals) if v is not None and math.isfinite(v)]
    if not fin:
        return None, None
    v, i = min(fin)
    return v, i + 1


def _grad_ratio(row: dict) -> float | None:
    """Mean gradient norm of the first layer over the last hidden layer's (the output layer excluded)."""
    g = row.get("gradient_norms") or {}
    names = [n for n in g if n != "predictions"]
    if len(names) < 2:
        return None
    first, last = g[names[0]]["mean"], g[names[-1]]["mean"]
    if not first or not last:
        return None
    return first / last


def _first_norm(row: dict) -> float | None:
    g = row.get("gradient_norms") or {}
    return next(iter(g.values()))["mean"] if g else None


def reading(study, rows: list[dict], meta: dict, baseline: dict | None, lr: dict | None) -> str:
    """Two to five plain sentences built from the numbers in the table: which variant led on validation,
    the spread of the test metric against the test set's noise, the baseline, and the study's own measure."""
    metric = _metric(rows)
    ok = [r for r in rows if (r.get("test") or {}).get(metric) is not None]
    out = []
    diverged = [r["variant"] for r in rows if r.get("stopped", "").startswith("diverged")]
    best = [(b, i, r["variant"]) for r in rows for b, i in [_best_val(r)] if b is not None]
    if len(best) > 1:
        b = min(best)
        w = max(best)
        out.append(
            f"Lowest validation loss: {b[2]} ({b[0]:.4f}, epoch {b[1]}); "
            f"highest best-epoch loss: {w[2]} ({w[0]:.4f})."
        )
    epochs = sorted({r.get("epochs") for r in rows if r.get("epochs")})
    if len(epochs) > 1:
        why = sorted({r["stopped"].split(" (")[0].split(";")[0] for r in rows} - {"epochs"})
        out.append(
            f"The variants ran {epochs[0]} to {epochs[-1]} epochs (stopped by "
            f"{' or '.join(why) or 'their settings'}), so last-epoch numbers are not at equal training: "
            "the figures compare them epoch by epoch."
        )
    if diverged:
        out.append(f"Diverged (NaN loss, training stopped): {', '.join(diverged)}.")
    broken = [
        f"{r['variant']} ({', '.join(r['nonfinite_weights'][:2])})"
        for r in rows
        if r.get("nonfinite_weights")
    ]
    if broken:
        out.append(f"Non-finite weights after training, whatever the loss says: {'; '.join(broken)}.")
    n_test = (meta.get("data") or {}).get("n_test") or 0
    if len(ok) == 1 and metric:
        r = ok[0]
        band = f" +/- {noise_band(r['test'][metric], n_test):.3f}" if metric == "accuracy" and n_test else ""
        out.append(f"Test {metric}: {r['test'][metric]:.4f}{band} ({n_test:,} test examples, one seed).")
    if len(ok) > 1 and metric:
        hi = _higher(metric)
        vals = sorted(ok, key=lambda r: r["test"][metric], reverse=hi)
        top, bottom = vals[0], vals[-1]
        s = (
            f"Test {metric}: {top['variant']} {top['test'][metric]:.4f} at the top, {bottom['variant']} "
            f"{bottom['test'][metric]:.4f} at the bottom ({n_test:,} test examples)"
        )
        if metric == "accuracy" and n_test:
            band = noise_band(top["test"][metric], n_test)
            close = [r["variant"] for r in vals[1:] if top["test"][metric] - r["test"][metric] < band]
            s += (
                f"; differences under {band:.3f} (two binomial standard errors) are within the test noise"
                + (f", which covers {', '.join(close)}" if close else "")
            )
        out.append(s + "; one seed each, so a ranking of close variants may not repeat.")
    if baseline and metric and metric in baseline.get("test", {}) and ok:
        bv = baseline["test"][metric]
        beat = [r for r in ok if (r["test"][metric] > bv) == _higher(metric) and r["test"][metric] != bv]
        out.append(
            f"The baseline {baseline['name']} scores {bv:.4f}: {len(beat)} of {len(ok)} variants beat it"
            + ("." if beat else " (at this small budget none does).")
        )
    out += _specific(study.name, rows, lr, metric)
    return " ".join(out)


def _specific(name: str, rows: list[dict], lr: dict | None, metric: str | None) -> list[str]:
    by = {r["variant"]: r for r in rows}
    out = []
    if name in ("activations", "initializers", "normalization"):
        ratios = [(r["variant"], _grad_ratio(r)) for r in rows]
        ratios = [(v, q) for v, q in ratios if q is not None]
        if ratios:
            txt = ", ".join(f"{v} {q:.3g}" for v, q in ratios)
            low = min(ratios, key=lambda t: t[1])
            s = f"First-layer / last-hidden-layer gradient norm (mean over the first steps): {txt}"
            if low[1] < 0.5:
                s += f"; below 1 the gradient shrinks towards the input, most for {low[0]}."
            else:
                s += "; no variant's gradient shrinks by half or more towards the input here."
            out.append(s)
            firsts = [(r["variant"], _first_norm(r)) for r in rows if _first_norm(r) is not None]
            if firsts:
                small = min(firsts, key=lambda t: t[1])
                ratio = max(q for _, q in firsts) / max(small[1], 1e-30)
                out.append(
                    "First-layer gradient norm itself: "
                    + ", ".join(f"{v} {q:.3g}" for v, q in firsts)
                    + f"; the smallest, {small[0]}'s, is {ratio:,.0f}x below the largest."
                )
    if name in ("regularization", "augmentation"):
        gaps = [(r["variant"], (_last(r, "val_loss") or math.nan) - (_last(r, "train_loss") or math.nan), r)
                for r in rows]  # fmt: skip
        gaps = [g for g in gaps if math.isfinite(g[1])]
        if gaps:
            txt = ", ".join(f"{v} {g:+.3f}" for v, g, _ in gaps)
            small = min(gaps, key=lambda t: t[1])
            none = by.get("none")
            s = f"Validation minus training loss at the last epoch: {txt}; the narrowest gap is {small[0]}'s"
            if none is not None and "none" in [g[0] for g in gaps]:
                base_gap = next(g for v, g, _ in gaps if v == "none")
                wider = [v for v, g, _ in gaps if v != "none" and g >= base_gap]
                s += "." if not wider else f"; not narrower than 'none' here: {', '.join(wider)}."
            else:
                s += "."
            out.append(s)
    if name == "learning-rate" and lr:
        s = (
            f"LR range test: the smoothed loss was lowest at a rate of {lr['lr_at_min_loss']:.2g} "
            f"({lr['steps_run']} steps)"
        )
        if lr.get("lr_steepest"):
            s += f" and fell fastest at {lr['lr_steepest']:.2g}"
        out.append(s + "; a usual pick is a rate somewhat below the lowest-loss one (Smith 2017).")
    if name == "batch-size":
        secs = [
            (r["variant"], r["train_seconds"] / max(1, r["epochs"]))
            for r in rows
            if r.get("group") == "equal epochs"
        ]
        if secs:
            out.append(
                "Seconds per epoch at equal epochs: " + ", ".join(f"{v} {s:.2f}s" for v, s in secs) + "."
            )
    if name == "mlp-vs-cnn" and metric:
        txt = ", ".join(f"{r['variant']} {r['parameters']:,} weights -> {r['test'].get(metric, math.nan):.4f}"
                        for r in rows if r.get("test"))  # fmt: skip
        out.append(f"Parameters against test {metric}: {txt}.")
    th = next((r["threshold"] for r in rows if r.get("threshold")), None)
    if name == "threshold" and th:
        t, at = th["chosen"], th["test_at"]
        a, b = at["0.5"], at[f"{t:g}"]
        aucs = ", ".join(f"{k} {v['auc']:.3f}" for k, v in th["roc"].items())
        out.append(
            f"Goal: {th['goal']} ('{th['positive_class']}', {th['positive_share_test']:.0%} of test). Chosen "
            f"threshold {t:g} (validation F1 {th['val_f1_at_chosen']:.3f}); on test it gives precision "
            f"{b['precision']:.3f}, recall {b['recall']:.3f}, F1 {b['f1']:.3f}, against "
            f"{a['precision']:.3f} / {a['recall']:.3f} / {a['f1']:.3f} at 0.5. Test ROC-AUC: {aucs}."
        )
    if name == "precision" and len(rows) >= 2:
        a, b = rows[0], rows[1]
        if a.get("samples_per_second") and b.get("samples_per_second"):
            ratio = b["samples_per_second"] / a["samples_per_second"]
            out.append(
                f"{b['variant']} trained at {b['samples_per_second']:,.0f} samples/s against "
                f"{a['samples_per_second']:,.0f} for {a['variant']} ({ratio:.2f}x) on this CPU"
                f" ({'faster' if ratio > 1.05 else 'slower' if ratio < 0.95 else 'about the same'})."
            )
    return out


def write_study_md(study_dir: Path, study, meta: dict, rows: list[dict], baseline: dict | None, text: str,
                   figures: list[Path]) -> Path:  # fmt: skip
    metric = _metric(rows) or "-"
    d = meta.get("data") or {}
    m0, m1 = meta.get("machine_at_start") or {}, meta.get("machine_at_end") or {}
    lines = [
        f"# Study {study.name}: lesson {study.lesson}, app {meta.get('app')}",
        "",
        f"Claim: {study.claim}.",
        "",
        f"Command: `{meta.get('command')}`",
        "",
        f"Data: {d.get('name')} ({d.get('source')}), train {_f(d.get('n_train'))}, "
        f"val {_f(d.get('n_val'))}, test {_f(d.get('n_test'))}; fingerprint `{d.get('fingerprint')}`. "
        "Every variant trains on this one split with the same seed.",
        "",
        f"Machine: {m0.get('processor')}, {m0.get('cpus')} CPUs, {m0.get('platform')}; "
        f"load average (1/5/15 min) {m0.get('load_average_1_5_15')} at the start, "
        f"{m1.get('load_average_1_5_15')} at the end "
        "(a shared machine makes seconds and samples/s noisy). Budget: "
        f"{meta.get('budget_seconds'):g} s for all variants.",
        "",
        "## Results",
        "",
        "Loss: the task's training loss without any L2 term, in inference mode; train = a fixed subset "
        f"of at most 2,000 training rows. {metric}: the task's metric on each part.",
        "",
        "| variant | settings | epochs | stopped by | seconds | samples/s | parameters | train loss | "
        f"val loss | train {metric} | val {metric} | test {metric} |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        tr, va, te = r.get("train") or {}, r.get("val") or {}, r.get("test") or {}
        sets = "<br>".join(f"`{s}`" for s in r.get("sets", [])) or "(base)"
        if r.get("steps_per_epoch") and r.get("group") == "equal steps":
            sets += f"<br>{r['steps_per_epoch']} steps/epoch"
        lines.append(
            f"| {r['variant']} | {sets} | {r.get('epochs')} | {r.get('stopped')} | "
            f"{_f(r.get('train_seconds'), 1)} | {_f(r.get('samples_per_second'), 0)} | "
            f"{_f(r.get('parameters'))} | {_f(tr.get('loss'))} | "
            f"{_f(va.get('loss'))} | {_f(tr.get(metric))} | {_f(va.get(metric))} | {_f(te.get(metric))} |"
        )
    if baseline:
        lines.append(
            f"| baseline: {baseline['name']} | classical, same split | - | - | - | - | - | - | - | - | - | "
            f"{_f(baseline.get('test', {}).get(metric))} |"
        )
    lines += ["", "## Reading", "", text, ""]
    lr = meta.get("lr_range")
    if lr:
        lines += [
            "## LR range test",
            "",
            f"{lr['steps_run']} steps of the good variant's model, the rate from {lr['lr'][0]:.0e} growing "
            f"geometrically; lowest smoothed loss {lr['min_smoothed_loss']:.4f} at {lr['lr_at_min_loss']:.2g}"
            + (f", steepest fall at {lr['lr_steepest']:.2g}" if lr.get("lr_steepest") else "")
            + f" ({lr.get('seconds', 0):.1f} s).",
            "",
        ]
    lines += ["## Figures", ""]
    lines += [f"![{f.stem}]({f.name})" for f in figures]
    lines += [
        "",
        "Per-variant curves and numbers: `study.json` (and `variants/*.json`); gradient norms also in "
        "TensorBoard (`tensorboard --logdir tensorboard`)."
        if study.gradients
        else "",
    ]
    out = Path(study_dir) / "study.md"
    out.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return out


def benchmark_section(study_dir: Path) -> str:
    """A BENCHMARKS.md section from a finished study folder: command, machine, load, the table, the reading.
    ``python -m tfdl.studies.report runs/studies/NAME-TIME`` prints it."""
    import json

    meta = json.loads((Path(study_dir) / "study.json").read_text(encoding="utf-8"))
    rows = meta["variants"]
    metric = _metric(rows) or "-"
    m0, m1 = meta.get("machine_at_start") or {}, meta.get("machine_at_end") or {}
    d = meta.get("data") or {}
    secs = sum(r.get("wall_seconds", 0) for r in rows) + (meta.get("extra_seconds") or 0)
    out = [
        f"### Study {meta['study']}: lesson {meta['lesson']}, app {meta['app']} ({meta['started']})",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {m0.get('processor')}, {m0.get('cpus')} CPUs; load average (1/5/15 min) "
        f"{m0.get('load_average_1_5_15')} at the start, {m1.get('load_average_1_5_15')} at the end: a shared "
        f"machine (other sessions training), so seconds and samples/s are not quiet numbers. Training wall "
        f"time of all variants {secs:.0f} s (budget {meta['budget_seconds']:g} s).  ",
        f"Data: {d.get('name')}, train {_f(d.get('n_train'))} / val {_f(d.get('n_val'))} / test "
        f"{_f(d.get('n_test'))}, one seed.",
        "",
        f"| variant | epochs | stopped by | train s | parameters | train loss | val loss | test {metric} |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['variant']} | {r['epochs']} | {r['stopped']} | {_f(r.get('train_seconds'), 1)} | "
            f"{_f(r.get('parameters'))} | {_f((r.get('train') or {}).get('loss'))} | "
            f"{_f((r.get('val') or {}).get('loss'))} | {_f((r.get('test') or {}).get(metric))} |"
        )
    b = meta.get("baseline")
    if b:
        out.append(f"| baseline {b['name']} | | | | | | | {_f(b['test'].get(metric))} |")
    from tfdl.studies.catalog import get_study

    # the reading, recomputed from the stored numbers (so a section reads as the current code states them)
    text = reading(get_study(meta["study"]), rows, meta, b, meta.get("lr_range"))
    out += ["", text, ""]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    for folder in sys.argv[1:]:
        print(benchmark_section(Path(folder)))
