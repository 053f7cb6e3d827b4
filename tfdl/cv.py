"""`tfdl cv APP --folds K`: k-fold cross-validation of a config against the app's baselines.

One test split of a few thousand rows has a standard error of about a point of accuracy or AUC, so a
model-vs-baseline verdict on it is often noise. Cross-validation trains the same config ``K`` times
(``data.folds=K``, ``data.fold=0..K-1``: every example is tested exactly once, the validation part is
carved from the other folds; a time series tests ``K`` rolling forecast origins instead, each fold
training on everything before its validation block, see :func:`tfdl.data.timeseries.rolling_windows`)
and fits every baseline on each fold's identical split. The summary gives
each one's mean and standard deviation over the folds and the *paired* difference model - baseline
(mean and its standard error), which is what decides "who wins" honestly.

Each fold is an ordinary run folder (no export); the summary goes to ``runs/APP/cv-TIME-HASH/`` (``cv.json``,
``cv.md``). A killed cross-validation resumes when the same command is given again.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from tfdl.app import App
from tfdl.errors import TfdlError
from tfdl.evaluation.metrics import higher_is_better  # one definition of metric direction


@dataclass
class CvResult:
    app: str
    model: str
    metric: str
    higher_is_better: bool
    folds: int
    per_fold: list[dict] = field(default_factory=list)  # {fold, run_dir, model, baselines: {name: value}}
    summary_dir: Path | None = None

    def values(self, who: str = "model") -> list[float]:
        return [f["model"] if who == "model" else f["baselines"][who] for f in self.per_fold]

    @property
    def baseline_names(self) -> list[str]:
        """Baselines that report the metric on every fold (a fold may lack one, e.g. AUC of one class)."""
        if not self.per_fold:
            return []
        return [b for b in self.per_fold[0]["baselines"] if all(b in f["baselines"] for f in self.per_fold)]

    def stats(self, who: str = "model") -> dict:
        v = self.values(who)
        return {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0}

    def paired(self, baseline: str) -> dict:
        """model - baseline per fold: mean, standard error, and how many folds the model won."""
        d = [m - b for m, b in zip(self.values(), self.values(baseline))]
        se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
        wins = sum((x > 0) if self.higher_is_better else (x < 0) for x in d)
        return {"mean": statistics.fmean(d), "se": se, "model_wins": wins, "folds": len(d)}

    def verdict(self) -> str:
        """One sentence: the model against the best baseline by mean, with the paired difference."""
        if not self.baseline_names:
            return f"{self.model}: mean {self.metric} {self.stats()['mean']:.4f} over {self.folds} folds."
        pick = max if self.higher_is_better else min
        best = pick(self.baseline_names, key=lambda b: self.stats(b)["mean"])
        p = self.paired(best)
        m, b = self.stats()["mean"], self.stats(best)["mean"]
        better = m > b if self.higher_is_better else m < b
        within = abs(p["mean"]) <= 2 * p["se"] if p["se"] == p["se"] else False
        head = (
            f"Over {self.folds} folds the {self.model} model averages {self.metric} {m:.4f} against "
            f"{b:.4f} for the best baseline, {best} (paired difference {p['mean']:+.4f} "
            f"+/- {p['se']:.4f} s.e.; "
            f"the model wins {p['model_wins']} of {p['folds']} folds): "
        )
        if within:
            return head + "the difference is within two standard errors, so neither wins clearly."
        return head + (f"the {self.model} model wins." if better else f"the baseline {best} wins.")

    def to_json(self) -> dict:
        return {
            "app": self.app,
            "model": self.model,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "folds": self.folds,
            "per_fold": self.per_fold,
            "model_stats": self.stats(),
            "baselines": {b: {**self.stats(b), "paired": self.paired(b)} for b in self.baseline_names},
            "verdict": self.verdict(),
        }

    def table(self) -> list[str]:
        names = self.baseline_names
        lines = [
            f"| fold | {self.model} | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for f in self.per_fold:
            cells = " | ".join(f"{f['baselines'][b]:.4f}" for b in names)
            lines.append(f"| {f['fold']} | {f['model']:.4f} | {cells} |")

        def ms(who):
            s = self.stats(who)
            return f"**{s['mean']:.4f} +/- {s['sd']:.4f}**"

        lines.append(f"| mean +/- sd | {ms('model')} | " + " | ".join(ms(b) for b in names) + " |")
        return lines


def cross_validate(
    app: App,
    raw: dict | None,
    overrides: list[str],
    *,
    folds: int = 5,
    metric: str | None = None,
    log=print,
) -> CvResult:
    """Train ``folds`` runs of one config (no export) and compare with the baselines fold by fold.

    A killed cross-validation resumes when the same command is given again: the folds already finished
    are read back from their run folders (``progress.json``) and the interrupted fold resumes its epochs.
    """
    from tfdl import config as cfgmod
    from tfdl.pipeline import resolve_config, train
    from tfdl.runs import config_hash, is_finished

    if folds < 2:
        raise TfdlError(f"--folds must be at least 2; got {folds}")
    if any(o.split("=", 1)[0].strip() in ("data.folds", "data.fold") for o in overrides):
        raise TfdlError("tfdl cv sets data.folds and data.fold itself; remove them from --set")
    first = resolve_config(app, raw, [*overrides, f"data.folds={folds}", "data.fold=0"])
    out, done = _cv_folder(Path(first.runs_dir) / app.name, config_hash(cfgmod.to_dict(first)))
    result = CvResult(app.name, first.model.name or "", metric or "", True, folds, summary_dir=out)
    for k in range(folds):
        cfg = resolve_config(app, raw, [*overrides, f"data.folds={folds}", f"data.fold={k}"])
        previous = Path(done.get(str(k), ""))
        if done.get(str(k)) and is_finished(previous):
            log(f"fold {k + 1}/{folds}: finished before, read from {previous}")
            run_dir, m = previous, json.loads((previous / "metrics.json").read_text())
        else:
            log(f"fold {k + 1}/{folds}")
            run = train(app, cfg, export=False, log=log)
            run_dir, m = run.run_dir, run.metrics
            done[str(k)] = str(run_dir)
            out.mkdir(parents=True, exist_ok=True)  # made after a fold trains: bad data leaves nothing
            (out / "progress.json").write_text(json.dumps({"runs": done}, indent=2))
        result.per_fold.append(_fold_entry(result, app, k, run_dir, m))
    (out / "cv.json").write_text(json.dumps(result.to_json(), indent=2))
    (out / "cv.md").write_text(
        f"# {app.name}: {folds}-fold cross-validation of {result.model}\n\n"
        + "\n".join(result.table())
        + f"\n\n{result.verdict()}\n"
    )
    return result


def _cv_folder(root: Path, h: str) -> tuple[Path, dict]:
    """The newest unfinished cross-validation of this config (no cv.json yet) and its finished folds,
    or the path of a new ``cv-<UTC time>-<config hash>`` folder (made once a fold has finished)."""
    if root.is_dir():
        for d in sorted(root.glob(f"cv-*-{h}"), reverse=True):
            if (d / "progress.json").is_file() and not (d / "cv.json").is_file():
                return d, json.loads((d / "progress.json").read_text()).get("runs", {})
    return root / f"cv-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{h}", {}


def _fold_entry(result: CvResult, app: App, k: int, run_dir: Path, m: dict) -> dict:
    """One fold's model and baseline values of ``result.metric`` (the task's headline when not given)."""
    from tfdl.evaluation.metrics import headline

    default_metric, higher = headline(m["task"], m)  # the run's own headline (task and data)
    result.metric = result.metric or default_metric
    result.higher_is_better = higher if result.metric == default_metric else higher_is_better(result.metric)
    if result.metric not in m["test"]:
        have = ", ".join(name for name, v in m["test"].items() if isinstance(v, (int, float)))
        raise TfdlError(
            f"metric '{result.metric}' is not in the test metrics of {app.name}; use one of: {have}"
        )
    base = {b: v[result.metric] for b, v in m["baselines"].items() if v.get(result.metric) is not None}
    return {"fold": k, "run_dir": str(run_dir), "model": m["test"][result.metric], "baselines": base}
