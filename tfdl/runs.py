"""Run folders: ``runs/<app>/<run-id>/``; finding the latest, and the unfinished one to resume."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from tfdl.errors import TfdlError

CONFIG_HASH_FILE = "config.sha256"


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
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    run = root / f"{stamp}-{h}"
    n = 1
    while run.exists():
        n += 1
        run = root / f"{stamp}-{h}-{n}"
    run.mkdir(parents=True)
    (run / CONFIG_HASH_FILE).write_text(h + "\n")
    return run, False


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
