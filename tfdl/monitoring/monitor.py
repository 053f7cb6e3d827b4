"""``tfdl monitor``: read a request log, compare each served version with its reference profile, write
``report.md`` + ``report.html`` + plots, and return the results (the CLI prints one line per model)."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError
from tfdl.monitoring.drift import DriftResult
from tfdl.monitoring.profile import PROFILE_FILE, load_profile
from tfdl.monitoring.requestlog import MARKER, compare_rows, log_files


def read_log(directory: str | Path) -> tuple[dict[tuple[str, int], list], int]:
    """{(model, version): [(features, histograms, prediction), ...]} and the count of unreadable lines."""
    d = Path(directory)
    if not d.is_dir():
        raise TfdlError(f"--requests '{d}' is not a folder; start the server with --log-requests {d}")
    files = log_files(d)
    if not (d / MARKER).is_file() and not files:
        raise TfdlError(
            f"--requests '{d}' is not a request log (no {MARKER} or requests-*.jsonl); "
            "point it at the folder given to `tfdl serve --log-requests`"
        )
    rows: dict[tuple[str, int], list] = defaultdict(list)
    bad = 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    r = json.loads(line)
                    rows[(str(r["model"]), int(r["version"]))].append(
                        (r["features"], r.get("histograms", {}), r["prediction"])
                    )
                except (ValueError, KeyError, TypeError):
                    bad += 1  # a line cut by a crash mid-write
    if not rows:
        raise TfdlError(
            f"the request log '{d}' is empty; send requests to `tfdl serve --log-requests {d}` first"
        )
    return dict(rows), bad


def monitor(
    model_root: str | Path, requests: str | Path, out_dir: str | Path, model: str | None = None
) -> tuple[list[DriftResult], Path]:
    """Compare every (model, version) in the log (or only ``model``) with its reference profile."""
    root = Path(model_root)
    if not root.is_dir():
        raise TfdlError(f"--model-root '{root}' is not a folder; it must hold the served models")
    groups, bad = read_log(requests)
    if model is not None:
        groups = {k: v for k, v in groups.items() if k[0] == model}
        if not groups:
            raise TfdlError(f"the request log has no requests for model '{model}'")
    results, profiles = [], {}
    for (name, version), rows in sorted(groups.items()):
        vdir = root / name / str(version)
        if not vdir.is_dir():
            raise TfdlError(f"the log has requests for {name}/{version}, which is not under {root}")
        profile = load_profile(vdir)
        if profile is None:
            raise TfdlError(
                f"{name}/{version} has no reference profile ({PROFILE_FILE}); re-export it with this tfdl "
                f"(`tfdl export {name} --run RUN`) and serve the new version"
            )
        results.append(compare_rows(profile, rows, name, version))
        profiles[(name, version)] = (profile, rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_report(results, profiles, out, bad)
    return results, out / "report.md"


def summary_line(r: DriftResult) -> str:
    head = f"{r.model}/{r.version}: {r.n_rows} requests"
    if not r.judged:
        return f"{head}, {r.note}"
    if not r.alarm:
        return f"{head}, no drift ({len(r.features) + 1} tests)"
    names = [f.feature for f in r.drifted] + (
        ["prediction mix"] if r.prediction and r.prediction.drifted else []
    )
    return f"{head}, DRIFT in {len(names)} of {len(r.features) + 1}: {', '.join(names[:8])}"


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def write_report(results: list[DriftResult], profiles: dict, out: Path, bad_lines: int) -> None:
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    md = ["# Drift report", ""]
    md += [f"- {summary_line(r)}" for r in results]
    if bad_lines:
        md.append(f"- {bad_lines} unreadable log lines skipped")
    md += [
        "",
        "A feature drifts when its test (KS for numbers, chi-square for categories) rejects at 0.01",
        "(Bonferroni-corrected) and its PSI is at least 0.1; pixel histograms by PSI alone.",
        "",
    ]
    body = []
    for r in results:
        profile, rows = profiles[(r.model, r.version)]
        ref = f"Reference: {profile['n_rows']} rows of the {profile['source']}"
        md += [f"## {r.model}/{r.version}", "", f"{ref}; requests: {r.n_rows}. {r.note}", ""]
        if not r.judged:
            continue
        table = ["| feature | test | statistic | p-value | PSI | reference | requests | drift |",
                 "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        tests = sorted(r.features, key=lambda f: -f.psi) + ([r.prediction] if r.prediction else [])
        for f in tests:
            cells = [f.feature, f.test, _fmt(f.statistic), _fmt(f.p_value), _fmt(f.psi)]
            cells += [_fmt(f.ref_center), _fmt(f.cur_center), "**yes**" if f.drifted else "no"]
            table.append("| " + " | ".join(cells) + " |")
        md += table + [""]
        for f in [t for t in tests if t.kind != "histogram"][:6]:
            png = _plot(profile, rows, f.feature, plots, f"{r.model}-{r.version}")
            if png:
                md += [f"![{f.feature}](plots/{png.name})", ""]
        body.append(r.to_dict())
    text = "\n".join(md) + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.html").write_text(_html(text), encoding="utf-8")
    (out / "drift.json").write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")


def _plot(profile: dict, rows: list, feature: str, plots: Path, prefix: str) -> Path | None:
    """Reference vs requests: overlaid histograms (numbers) or side-by-side bars (categories)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdl.figures import save_figure

    ref = profile["prediction"] if feature == "prediction" else profile["features"].get(feature)
    if ref is None:
        return None
    cur = [p for _, _, p in rows] if feature == "prediction" else [f.get(feature) for f, _, _ in rows]
    cur = [c for c in cur if c is not None]
    fig, ax = plt.subplots(figsize=(5, 3))
    if ref["kind"] == "category":
        cats = list(ref["counts"])[:20]
        rn = np.array([ref["counts"][c] for c in cats], float)
        cn = np.array([sum(str(v) == c for v in cur) for c in cats], float)
        x = np.arange(len(cats))
        ax.bar(x - 0.2, rn / max(rn.sum(), 1), 0.4, label="reference")
        ax.bar(x + 0.2, cn / max(len(cur), 1), 0.4, label="requests")
        ax.set_xticks(x, cats, rotation=45, ha="right", fontsize=7)
    else:
        r, c = np.asarray(ref["sample"], float), np.asarray(cur, float)
        both = np.concatenate([r, c[np.isfinite(c)]])
        bins = np.linspace(both.min(), both.max() if both.max() > both.min() else both.min() + 1, 31)
        ax.hist(r, bins, density=True, alpha=0.5, label="reference")
        ax.hist(c[np.isfinite(c)], bins, density=True, alpha=0.5, label="requests")
    ax.set_title(feature, fontsize=9)
    ax.legend(fontsize=7)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in feature)
    return save_figure(fig, plots / f"{prefix}-{safe}.png", dpi=80)


def _html(markdown: str) -> str:
    """The markdown report as a self-contained page (tables and images; no markdown library needed)."""
    out, in_table = ["<!doctype html><meta charset='utf-8'><title>tfdl drift report</title>",
                     "<style>body{font-family:sans-serif;max-width:60em}td,th{border:1px solid #ccc;"
                     "padding:2px 6px}table{border-collapse:collapse}</style>"], False  # fmt: skip
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
            tag = "th" if cells[0] == "feature" else "td"
            out.append("<tr>" + "".join(f"<{tag}>{html.escape(c).replace('**', '')}</{tag}>" for c in cells)
                       + "</tr>")  # fmt: skip
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            src = line[line.index("(") + 1 : -1]
            out.append(f"<img src='{html.escape(src)}'>")
        elif line.startswith("- "):
            out.append(f"<li>{html.escape(line[2:])}</li>")
        elif line:
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"
