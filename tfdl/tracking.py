"""Optional experiment tracking in MLflow (``--set tracking.uri=...``; off by default).

``sqlite:///mlruns.db`` (or a folder path / ``file:`` URI) is a local store; ``http://host:5000`` a team's
tracking server. Each finished run logs: params (the resolved config, flattened), metrics per epoch (from
``history.csv``), test and baseline metrics, tags (app, model, data fingerprint, git commit, whether the
tree was dirty) and artifacts (report, plots, metrics.json, config, the model card when a version was
exported). The URI is checked BEFORE training, so an unreachable server is a one-line error that loses no
work; a failure while logging after training leaves the run folder intact and says so.
"""

from __future__ import annotations

import csv
import math
import urllib.error
import urllib.request
from pathlib import Path

from tfdl.errors import TfdlError


def check_uri(uri: str | None) -> None:
    """Fail fast (exit 2, one line) on a tracking URI that cannot work, before any training."""
    if not uri:
        return
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise TfdlError("tracking.uri needs MLflow: pip install -e '.[tracking]' (or make install)") from None
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (a user-given tracking server)
                ok = resp.status == 200
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise TfdlError(
                f"tracking server {uri} is unreachable ({reason}); start it (mlflow server) or fix "
                "tracking.uri, or leave tracking.uri unset to train without tracking"
            ) from None
        if not ok:
            raise TfdlError(f"tracking server {uri} answered /health with an error; check the server")
    elif uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.parent.exists():
            raise TfdlError(
                f"tracking.uri {uri}: folder {db.parent} does not exist; create it or fix the path"
            )
    elif "://" in uri and not uri.startswith("file:"):
        scheme = uri.split("://", 1)[0]
        raise TfdlError(
            f"tracking.uri scheme '{scheme}' is not supported here; use sqlite:///FILE.db, a folder, "
            "file:///FOLDER or http(s)://HOST:PORT"
        )


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _numeric(d: dict, prefix: str) -> dict[str, float]:
    out = {}
    for k, v in _flatten(d, prefix).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[k] = float(v)
    return out


def _history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def log_run(uri: str, cfg_dict: dict, metrics: dict, run_dir: Path, version_dir: Path | None = None) -> str:
    """Log one finished run to MLflow at ``uri``; returns the MLflow run id."""
    import mlflow

    from tfdl.export.savedmodel import git_commit, git_dirty

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(cfg_dict.get("tracking", {}).get("experiment") or f"tfdl-{metrics.get('app')}")
    tags = {
        "tfdl.app": metrics.get("app"), "tfdl.model": metrics.get("model"), "tfdl.task": metrics.get("task"),
        "tfdl.run_dir": str(run_dir), "tfdl.data_fingerprint": metrics.get("dataset", {}).get("fingerprint"),
        "tfdl.dataset": metrics.get("dataset", {}).get("name"), "mlflow.source.git.commit": git_commit(),
        "tfdl.git_dirty": str(git_dirty()),
    }  # fmt: skip
    with mlflow.start_run(run_name=run_dir.name, tags={k: str(v) for k, v in tags.items()}) as run:
        params = {k: str(v)[:500] for k, v in _flatten(cfg_dict).items()}
        mlflow.log_params(params)
        for row in _history(run_dir / "history.csv"):
            step = int(float(row.get("epoch", 0)))
            vals = {}
            for k, v in row.items():
                try:
                    f = float(v)
                except (TypeError, ValueError):
                    continue
                if k != "epoch" and math.isfinite(f):
                    vals[k] = f
            mlflow.log_metrics(vals, step=step)
        summary = _numeric(metrics.get("test", {}), "test.")
        for name, b in (metrics.get("baselines") or {}).items():
            summary.update(_numeric(b, f"baseline.{name}."))
        for k in ("train_seconds", "samples_per_second", "epochs_run"):
            if isinstance(metrics.get(k), (int, float)):
                summary[k] = float(metrics[k])
        mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in summary.items()})
        for name in ("report.md", "metrics.json", "config.yaml", "history.csv"):
            if (run_dir / name).is_file():
                mlflow.log_artifact(str(run_dir / name))
        if (run_dir / "plots").is_dir():
            mlflow.log_artifacts(str(run_dir / "plots"), artifact_path="plots")
        if version_dir is not None and (Path(version_dir) / "metadata.json").is_file():
            mlflow.log_artifact(str(Path(version_dir) / "metadata.json"), artifact_path="model_card")
        return run.info.run_id
