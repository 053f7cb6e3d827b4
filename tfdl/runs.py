"""Run folders: ``<runs dir>/<app>/<run-id>/``; finding the latest, and the unfinished one to resume.

The runs folder is named in one place: :data:`DEFAULT_RUNS_DIR` (the config's ``runs_dir`` default and
every command's ``--runs-dir`` default)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from tfdl.errors import TfdlError

CONFIG_HASH_FILE = "config.sha256"
DEFAULT_RUNS_DIR = "runs"  # relative to the current folder


def config_hash(resolved: dict) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:12]


def is_finished(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").is_file()


def new_or_resumed_run(runs_dir: str | Path, app: str, resolved: dict) -> tuple[Path, bool]:
    """Reuse the newest unfinished run with the same resolved config (a killed run resumes when the
    same command is given again); else make a new ``<UTC time>-<config hash>`` folder."""
    root = Path(runs_dir) / app
    h = config_hash(resolved)
    if root.is_dir():
        for d in sorted(root.iterdir(), reverse=True):
            if (
                d.is_dir()
                and not is_finished(d)
                and (d / CONFIG_HASH_FILE).is_file()
                and (d / CONFIG_HASH_FILE).read_text().strip() == h
                and (d / "backup").is_dir()
            ):
                return d, True
    run = new_folder(root, "{stamp}-" + h)
    run.mkdir(parents=True)
    (run / CONFIG_HASH_FILE).write_text(h + "\n")
    return run, False


def new_folder(root: Path, pattern: str) -> Path:
    """A path under ``root`` named ``pattern`` with ``{stamp}`` = the UTC time to the second, that does not
    exist yet (``-2``, ``-3``... appended when two start in the same second). Not created."""
    base = root / pattern.format(stamp=time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
    d, n = base, 1
    while d.exists():
        n += 1
        d = base.with_name(f"{base.name}-{n}")
    return d


def resolve_run(runs_dir: str | Path, app: str, run: str | None = "latest") -> Path:
    """``latest`` = newest finished run of the app; otherwise a run id or a path."""
    root = Path(runs_dir) / app
    if run and run != "latest":
        for cand in (Path(run), root / run):
            if cand.is_dir() and (cand / "model.keras").is_file():
                return cand
        raise TfdlError(f"run '{run}' not found under {root} (give a run id from `ls {root}` or 'latest')")
    finished = [d for d in sorted(root.iterdir()) if is_finished(d)] if root.is_dir() else []
    if not finished:
        raise TfdlError(f"no finished run of '{app}' under {root}; train one first: tfdl train {app}")
    return finished[-1]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def list_runs(runs_dir: str | Path, app: str | None = None) -> list[dict]:
    """Finished runs (oldest first), one row each: run id, app, model, data fingerprint, the headline test
    metric and the best baseline on it, train seconds. Reads only files; no TensorFlow, no MLflow."""
    from tfdl.evaluation.metrics import headline

    root = Path(runs_dir)
    apps = [root / app] if app else sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    rows = []
    for app_dir in apps:
        for run in sorted(app_dir.iterdir()) if app_dir.is_dir() else []:
            m = _read_json(run / "metrics.json") if run.is_dir() else {}
            if not m.get("test"):
                continue
            try:
                name, higher = headline(m.get("task", ""))
            except ValueError:
                continue
            base = {b: v.get(name) for b, v in (m.get("baselines") or {}).items() if v.get(name) is not None}
            best = (max if higher else min)(base, key=base.get) if base else None
            rows.append({
                "run": run.name, "app": m.get("app", app_dir.name), "model": m.get("model", "?"),
                "fingerprint": str(m.get("dataset", {}).get("fingerprint", "")).removeprefix("sha256:")[:12],
                "dataset": m.get("dataset", {}).get("name", "?"), "metric": name,
                "value": m["test"].get(name), "baseline": best, "baseline_value": base.get(best),
                "seconds": m.get("train_seconds"), "path": run,
            })  # fmt: skip
    return rows


def runs_table(rows: list[dict]) -> list[str]:
    """Plain aligned text: one line per run."""

    def num(v) -> str:
        return "-" if v is None else f"{v:.4g}"

    out = [
        f"{'run':<30} {'app':<10} {'model':<12} {'data':<13} {'metric':<9} {'value':>8}  "
        f"{'best baseline':<34} {'s':>7}"
    ]
    for r in rows:
        base = f"{r['baseline']} {num(r['baseline_value'])}" if r["baseline"] else "-"
        out.append(
            f"{r['run']:<30} {r['app']:<10} {r['model']:<12} {r['fingerprint']:<13} {r['metric']:<9} "
            f"{num(r['value']):>8}  {base:<34} {num(r['seconds']):>7}"
        )
    return out


def find_run(runs_dir: str | Path, run: str) -> Path:
    """A run folder from its id (under any app) or its path; a one-line error otherwise."""
    cand = Path(run)
    if (cand / "metrics.json").is_file():
        return cand
    root = Path(runs_dir)
    hits = sorted(root.glob(f"*/{run}")) if root.is_dir() else []
    hits = [h for h in hits if (h / "metrics.json").is_file()]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise TfdlError(f"run id '{run}' is ambiguous ({', '.join(str(h) for h in hits)}); give its path")
    raise TfdlError(f"no finished run '{run}' under {root}; list them with `tfdl runs`")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def diff_runs(a: Path, b: Path) -> dict:
    """What changed from run ``a`` to run ``b``: config keys, data fingerprint, test and baseline metrics."""
    import yaml

    def cfg(run: Path) -> dict:
        try:
            return _flatten(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError):
            return {}

    ca, cb = cfg(a), cfg(b)
    ma, mb = _read_json(a / "metrics.json"), _read_json(b / "metrics.json")
    config = {k: (ca.get(k), cb.get(k)) for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)}
    config.pop("runs_dir", None)
    metrics = {}
    for k in sorted(set(ma.get("test", {})) | set(mb.get("test", {}))):
        va, vb = ma.get("test", {}).get(k), mb.get("test", {}).get(k)
        if isinstance(va, (int, float)) or isinstance(vb, (int, float)):
            metrics[k] = (va, vb)
    fa, fb = ma.get("dataset", {}).get("fingerprint"), mb.get("dataset", {}).get("fingerprint")
    return {
        "a": str(a), "b": str(b), "config": config, "test": metrics,
        "same_data": fa == fb, "fingerprints": (fa, fb),
        "seconds": (ma.get("train_seconds"), mb.get("train_seconds")),
    }  # fmt: skip


def diff_lines(d: dict) -> list[str]:
    def show(v) -> str:
        return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    out = [f"A: {d['a']}", f"B: {d['b']}"]
    out.append("data: same fingerprint" if d["same_data"] else f"data: DIFFERENT ({d['fingerprints'][0]} -> "
               f"{d['fingerprints'][1]}): the metrics are not comparable as a paired result")  # fmt: skip
    out.append("config changes:" if d["config"] else "config: identical")
    out += [f"  {k}: {show(va)} -> {show(vb)}" for k, (va, vb) in d["config"].items()]
    out.append("test metrics (A -> B, change):")
    for k, (va, vb) in d["test"].items():
        delta = f"{vb - va:+.4g}" if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else ""
        out.append(f"  {k}: {show(va)} -> {show(vb)} {delta}")
    sa, sb = d["seconds"]
    out.append(f"train seconds: {show(sa)} -> {show(sb)}")
    return out
