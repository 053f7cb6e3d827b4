"""Run a study: its seeded variants on one split, through the library's compile-and-fit core.

Every variant is an ordinary run configuration (the app's defaults < the study's base < the user's ``--set``
< the variant's overrides) built, compiled and fitted by the same functions as ``tfdl train``
(:func:`tfdl.pipeline.build_model`, :func:`tfdl.training.fit.compile_model`,
:func:`tfdl.pipeline.make_dataset`), on the same :func:`tfdl.pipeline.load_splits` split, loaded once.
Each epoch the variant's training loss (on a fixed subset of the training rows) and validation loss are
measured in inference mode and without regularisation terms, so the curves of an L2 or dropout variant
compare with the others.

Output ``runs/studies/NAME-TIME/``: ``study.md`` (table + reading), the figures (``*.png``), ``study.json``
and ``variants/<variant>.json`` (one per finished variant: a killed study given the same command again resumes
with the variants it has not finished).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tfdl import config as cfgmod
from tfdl.errors import TfdlError
from tfdl.studies.catalog import Study, Variant, get_study

TRAIN_PROBE_ROWS = 2000  # training rows scored each epoch for the train curve (a fixed subset)
LR_RANGE_STEPS = 100


@dataclass
class StudyResult:
    study_dir: Path
    rows: list[dict]
    files: list[Path] = field(default_factory=list)
    reading: str = ""
    resumed: int = 0  # variants read back from an earlier, killed invocation


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------------------------- set-up


def pick_variants(study: Study, names: list[str] | None) -> Study:
    """``study`` with only the variants named by ``--variant`` (by name or slug, in the catalog's order)."""
    if not names:
        return study
    known = {**{slug(v.name): v for v in study.variants}, **{v.name: v for v in study.variants}}
    picked = set()
    for n in names:
        v = known.get(n) or known.get(slug(n))
        if v is None:
            choices = ", ".join(repr(slug(v.name)) for v in study.variants)
            raise TfdlError(f"study {study.name} has no variant '{n}'; give --variant with one of: {choices}")
        picked.add(v.name)
    return replace(study, variants=tuple(v for v in study.variants if v.name in picked))


def plan(
    name: str,
    app_name: str | None,
    data: str | None,
    budget: float | None,
    sets: list[str] | None,
    variants: list[str] | None = None,
):
    """Check the command before TensorFlow or any folder: (study, app, budget, {variant: cfg}).
    Unknown study or variant, an app the study does not run on, a bad budget or a bad --set: one-line
    errors."""
    from tfdl.app import get_app
    from tfdl.pipeline import resolve_config

    study = pick_variants(get_study(name), variants)
    first = next(iter(study.apps))
    app_name = app_name or first
    if app_name not in study.apps:
        raise TfdlError(
            f"study {study.name} runs on the {' or '.join(study.apps)} app, not {app_name}; "
            f"use --app {first} (or drop --app)"
        )
    if budget is not None and not (budget > 0 and math.isfinite(budget)):
        raise TfdlError(f"--budget must be a positive number of seconds; got {budget}")
    app = get_app(app_name)
    user = [*(sets or []), *([f"data.path={data}"] if data else [])]
    cfgs = {v.name: resolve_config(app, {}, [*study.apps[app_name], *user, *v.sets]) for v in study.variants}
    splits_of = {json.dumps(cfgmod.to_dict(c.data), sort_keys=True) for c in cfgs.values()}
    if len(splits_of) != 1:
        raise TfdlError("the variants of a study must share one data split; remove data.* keys that differ")
    return study, app, float(budget or study.budget), cfgs, user


def study_folder(runs_dir: str | Path, study: Study, key: dict) -> tuple[Path, bool]:
    """The newest unfinished folder of this study with the same key (resume), else a new one."""
    from tfdl.runs import config_hash, new_folder

    root = Path(runs_dir) / "studies"
    h = config_hash(key)
    if root.is_dir():
        for d in sorted(root.glob(f"{study.name}-*"), reverse=True):
            meta = _read_json(d / "study.json")
            if meta.get("key") == h and not meta.get("finished"):
                return d, True
    return new_folder(root, study.name + "-{stamp}"), False


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_default), encoding="utf-8")
    tmp.replace(path)


def _default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in load if v is not None],
    }


# --------------------------------------------------------------------------------------------- fitting


def _data_loss_fn(model):
    import keras

    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    return loss


def _accuracy(y, pred) -> float | None:
    pred = np.asarray(pred)
    y = np.asarray(y)
    if pred.ndim == 2 and pred.shape[1] > 1 and y.ndim == 1:
        return float(np.mean(np.argmax(pred, axis=1) == y))
    if pred.ndim >= 1 and y.ndim == 1 and set(np.unique(y)) <= {0, 1}:
        return float(np.mean((pred.reshape(len(y), -1)[:, 0] >= 0.5) == y))
    return None


def _make_callbacks():
    """Keras callbacks of a study variant (defined here so that importing this module needs no TF)."""
    import keras

    class EpochEval(keras.callbacks.Callback):
        """Each epoch: the data loss (no regularisation term) and accuracy on a fixed training subset and on
        validation, in inference mode; written into the epoch logs (EarlyStopping reads val_loss)."""

        def __init__(self, x_train, y_train, x_val, y_val, batch_size=1024):
            super().__init__()
            self.data = {"train": (x_train, y_train), "val": (x_val, y_val)}
            self.batch_size = batch_size
            self.history: dict[str, list] = {}
            self.eval_seconds = 0.0
            self._t0 = 0.0
            self._steps = 0

        def on_train_begin(self, logs=None):
            self._t0 = time.perf_counter()
            self.loss_fn = _data_loss_fn(self.model)

        def on_train_batch_end(self, batch, logs=None):
            self._steps += 1

        def on_epoch_end(self, epoch, logs=None):
            t = time.perf_counter()
            logs = logs if logs is not None else {}
            row = {"epoch": epoch + 1, "steps": self._steps, "fit_loss": logs.get("loss")}
            for part, (x, y) in self.data.items():
                pred = self.model.predict(x, batch_size=self.batch_size, verbose=0)
                loss = float(np.mean(np.asarray(self.loss_fn(y, pred))))
                row[f"{part}_loss"] = loss if np.isfinite(loss) else None
                row[f"{part}_accuracy"] = _accuracy(y, pred)
            self.eval_seconds += time.perf_counter() - t
            row["seconds"] = time.perf_counter() - self._t0 - self.eval_seconds  # training seconds so far
            logs["val_loss"] = row["val_loss"] if row["val_loss"] is not None else float("inf")
            for k, v in row.items():
                self.history.setdefault(k, []).append(v)

    class TimeBudget(keras.callbacks.Callback):
        """Stop after an epoch when one more would overrun this variant's share of the budget."""

        def __init__(self, seconds: float):
            super().__init__()
            self.seconds, self.stopped = seconds, False

        def on_train_begin(self, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            used = time.perf_counter() - self._t0
            if used + used / (epoch + 1) > self.seconds:
                self.stopped = True
                self.model.stop_training = True

    class NaNStop(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.diverged = False

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(float(loss)):
                self.diverged = True
                self.model.stop_training = True

    return EpochEval, TimeBudget, NaNStop


def _prepare_fit(app, cfg, splits, variant: Variant):
    """Model (built, BN momentum, compiled by the one core), datasets and the steps per epoch."""
    from tfdl.data.splits import n_rows
    from tfdl.pipeline import build_model, make_dataset
    from tfdl.training.budget import set_bn_momentum, steps_per_epoch
    from tfdl.training.fit import compile_model, fit_targets

    y_train, y_val = fit_targets(app, cfg, splits)
    n = n_rows(splits.x_train)
    batch = cfg.train.batch_size
    one_pass = max(1, math.ceil(n / batch))
    steps = variant.steps_per_epoch or steps_per_epoch(n, batch, cfg.train.epochs, cfg.train.min_steps)
    model = build_model(app, cfg, splits)
    set_bn_momentum(model, cfg.train.bn_momentum, steps)
    compile_model(app, cfg, model, splits, steps)
    train_ds = make_dataset(splits.x_train, y_train, batch, shuffle=True, seed=cfg.train.seed)
    if steps != one_pass:
        train_ds = train_ds.repeat()
    return model, train_ds, steps, one_pass, y_train, y_val


def estimate_epoch_seconds(app, cfg, splits, variant: Variant) -> float:
    """Seconds for one epoch of ``variant`` here: model build + compile + graph tracing + its steps, from
    a few timed steps (TensorFlow already imported)."""
    import keras

    from tfdl.training.precision import apply_policy, choose_policy

    t0 = time.perf_counter()
    keras.utils.set_random_seed(cfg.train.seed)
    apply_policy(choose_policy(cfg.train.precision)[0])
    try:
        model, train_ds, steps, _, _, _ = _prepare_fit(app, cfg, splits, variant)
        k = min(steps, 4)
        model.fit(train_ds.take(k), epochs=1, verbose=0, shuffle=False)
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        model.fit(train_ds.take(k), epochs=1, verbose=0, shuffle=False)
        per_step = (time.perf_counter() - t1) / k
    finally:
        apply_policy("float32")
    return first + max(0, steps - k) * per_step


def fit_variant(
    app, cfg, splits, variant: Variant, seconds: float, tb_dir: Path, log=print, analyse=None
) -> dict:
    """Train one variant within ``seconds`` (at least one epoch) and measure it: per-epoch curves, the
    train / val / test metrics of the task, epochs, seconds, parameters, gradient norms."""
    import keras

    from tfdl.data.splits import n_rows, take
    from tfdl.evaluation import metrics as M
    from tfdl.pipeline import evaluation_kwargs, fit_state, gradient_callback, predict
    from tfdl.training.callbacks import ema_swap
    from tfdl.training.fit import model_callbacks
    from tfdl.training.precision import apply_policy, choose_policy

    EpochEval, TimeBudget, NaNStop = _make_callbacks()
    keras.utils.set_random_seed(cfg.train.seed)
    policy, _ = choose_policy(cfg.train.precision)
    apply_policy(policy)
    try:
        model, train_ds, steps, one_pass, y_train, y_val = _prepare_fit(app, cfg, splits, variant)
        rng = np.random.default_rng(cfg.data.seed)
        n = n_rows(splits.x_train)
        sub = np.sort(rng.choice(n, min(n, TRAIN_PROBE_ROWS), replace=False))
        x_sub, y_sub = take(splits.x_train, sub), take(y_train, sub)
        curves = EpochEval(x_sub, y_sub, splits.x_val, y_val)
        nan, budget = NaNStop(), TimeBudget(seconds)
        cbs = [*ema_swap(cfg.train.ema), curves, nan]  # the curves score the average
        early = None
        if cfg.train.early_stopping_patience > 0:
            early = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=cfg.train.early_stopping_patience, restore_best_weights=True
            )
            cbs.append(early)
        cbs.append(budget)
        grads = gradient_callback(cfg, splits, y_train, tb_dir)
        if grads is not None:
            cbs.append(grads)
        cbs += model_callbacks(app, cfg, model, steps)
        t0 = time.perf_counter()
        model.fit(
            train_ds,
            epochs=cfg.train.epochs,
            steps_per_epoch=steps if steps != one_pass else None,
            callbacks=cbs,
            verbose=0,
            shuffle=False,
        )
        wall = time.perf_counter() - t0
        hist = curves.history
        epochs = len(hist.get("epoch", []))
        train_seconds = max(1e-9, wall - curves.eval_seconds)
        stopped = "epochs"
        if nan.diverged:
            stopped = "diverged (NaN loss)"
        elif early is not None and early.stopped_epoch > 0:
            stopped = f"early stopping (best epoch {early.best_epoch + 1})" if hasattr(early, "best_epoch") \
                else "early stopping"  # fmt: skip
        elif budget.stopped:
            stopped = "budget"
        # A finite loss does not prove finite weights (Keras' Adafactor can leave NaN in a kernel whose inputs
        # are always 0, e.g. Fashion-MNIST's border pixels, while the loss sits at chance level).
        bad = [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w.numpy(), dtype=float)))]
        if bad and not nan.diverged:
            stopped += f"; non-finite weights in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}"
        row = {
            "variant": variant.name,
            "group": variant.group,
            "sets": list(variant.sets),
            "precision_policy": policy,
            "epochs": epochs,
            "optimizer_steps": int(hist["steps"][-1]) if hist.get("steps") else 0,
            "steps_per_epoch": steps,
            "batch_size": cfg.train.batch_size,
            "train_seconds": round(train_seconds, 2),
            "wall_seconds": round(wall, 2),
            "samples_per_second": round(
                (hist["steps"][-1] if hist.get("steps") else 0) * cfg.train.batch_size / train_seconds, 1
            ),
            "parameters": int(model.count_params()),
            "stopped": stopped,
            "nonfinite_weights": bad,
            "history": hist,
        }
        if grads is not None:
            row["gradient_norms"] = grads.summary()
        if nan.diverged:
            row.update(train={}, val={}, test={})
            return row
        fit_state(app, cfg, model, splits)
        kw = evaluation_kwargs(app, cfg, splits)
        loss_fn = _data_loss_fn(model)
        for part, x, y, yt in (
            ("train", x_sub, take(splits.y_train, sub), y_sub),
            ("val", splits.x_val, splits.y_val, y_val),
            ("test", splits.x_test, splits.y_test, None),
        ):
            pred = predict(app, model, x, cfg=cfg)
            metrics = M.evaluate(cfg.task, y, pred, splits.info, **kw)
            out = {
                k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            if yt is not None:
                raw = np.asarray(model.predict(x, batch_size=1024, verbose=0))
                out["loss"] = float(np.mean(np.asarray(loss_fn(yt, raw))))
            row[part] = out
        if analyse is not None:
            row.update(analyse(model))
        return row
    finally:
        apply_policy("float32")


def lr_range_test(app, cfg, splits, steps: int = LR_RANGE_STEPS, lr_min: float = 1e-6, lr_max: float = 1.0,
                  log=print) -> dict:  # fmt: skip
    """Smith's LR range test (2017): one fresh model, the learning rate growing geometrically from
    ``lr_min`` to ``lr_max`` over ``steps`` optimizer steps (one batch each); the loss of every step.
    Stops early once the smoothed loss exceeds 4x its minimum (it diverged)."""
    import keras

    from tfdl.training.precision import apply_policy

    keras.utils.set_random_seed(cfg.train.seed)
    apply_policy("float32")
    model, train_ds, _, _, _, _ = _prepare_fit(app, cfg, splits, Variant("lr range"))
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(steps) / max(1, steps - 1))
    out = {"lr": [], "loss": [], "smoothed": []}

    class Sweep(keras.callbacks.Callback):
        avg, best = 0.0, float("inf")

        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate = float(lrs[epoch])

        def on_epoch_end(self, epoch, logs=None):
            loss = float((logs or {}).get("loss", float("nan")))
            self.avg = 0.9 * self.avg + 0.1 * loss
            smooth = self.avg / (1 - 0.9 ** (epoch + 1))
            out["lr"].append(float(lrs[epoch]))
            out["loss"].append(loss if np.isfinite(loss) else None)
            out["smoothed"].append(smooth if np.isfinite(smooth) else None)
            if not np.isfinite(smooth) or smooth > 4 * self.best:
                self.model.stop_training = True
            self.best = min(self.best, smooth) if np.isfinite(smooth) else self.best

    # one optimizer step per "epoch": Keras' batch logs are running means, an epoch's log is the step's loss
    model.fit(
        train_ds.repeat(), epochs=steps, steps_per_epoch=1, callbacks=[Sweep()], verbose=0, shuffle=False
    )
    sm = np.array([s if s is not None else np.inf for s in out["smoothed"]])
    i_min = int(np.argmin(sm))
    out["lr_at_min_loss"] = out["lr"][i_min]
    out["min_smoothed_loss"] = float(sm[i_min])
    finite = np.isfinite(sm[: i_min + 1])
    if i_min >= 2 and finite.all():
        slope = np.gradient(sm[: i_min + 1], np.log10(out["lr"][: i_min + 1]))
        out["lr_steepest"] = out["lr"][int(np.argmin(slope))]
    else:
        out["lr_steepest"] = None
    out["steps_run"] = len(out["lr"])
    return out


def _positive_scores(pred, positive: int) -> np.ndarray:
    pred = np.asarray(pred, dtype=float)
    if pred.ndim == 2 and pred.shape[1] > 1:
        return pred[:, positive]
    score = pred.reshape(len(pred), -1)[:, 0]
    return score if positive == 1 else 1 - score


def threshold_analysis(app, cfg, splits, model, log=print) -> dict:
    """Binary classification: the model's precision / recall / F1 of the positive (minority) class against
    the decision threshold on validation, the threshold that maximises F1 there, what it gives on test
    beside the default 0.5, and the test ROC curves of the model and of every baseline."""
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score, roc_curve

    from tfdl.pipeline import baseline_output, predict

    labels = list(splits.info.labels or [])
    y_tr = np.asarray(splits.y_train)
    if len(labels) != 2 and len(np.unique(y_tr)) != 2:
        raise TfdlError("study threshold needs a binary classification data set (two classes)")
    positive = int(np.argmin(np.bincount(y_tr.astype(int), minlength=2)))  # the minority class
    y_val = (np.asarray(splits.y_val) == positive).astype(int)
    y_test = (np.asarray(splits.y_test) == positive).astype(int)
    s_val = _positive_scores(predict(app, model, splits.x_val, cfg=cfg), positive)
    s_test = _positive_scores(predict(app, model, splits.x_test, cfg=cfg), positive)
    grid = np.round(np.linspace(0.01, 0.99, 99), 2)

    def prf(y, s, t):
        p, r, f, _ = precision_recall_fscore_support(
            y, (s >= t).astype(int), average="binary", zero_division=0
        )
        return float(p), float(r), float(f)

    curves = np.array([prf(y_val, s_val, t) for t in grid])
    best = int(np.argmax(curves[:, 2]))
    chosen = float(grid[best])
    roc = {}
    scores = {cfg.model.name or "model": s_test}
    for name, fn in app.baselines.items():
        log(f"fitting baseline {name} (ROC on the same test split)")
        bpred, _ = baseline_output(fn(splits))
        if bpred is not None:
            scores[f"baseline {name}"] = _positive_scores(bpred, positive)
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y_test, s)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 300)).astype(int))
        roc[name] = {
            "auc": float(roc_auc_score(y_test, s)),
            "fpr": fpr[keep].tolist(),
            "tpr": tpr[keep].tolist(),
        }
    at = {f"{t:g}": dict(zip(("precision", "recall", "f1"), prf(y_test, s_test, t))) for t in (0.5, chosen)}
    return {
        "positive_class": labels[positive] if len(labels) == 2 else str(positive),
        "positive_share_test": float(y_test.mean()),
        "goal": "the largest F1 of the positive (minority) class on validation",
        "grid": grid.tolist(),
        "val_precision": curves[:, 0].tolist(),
        "val_recall": curves[:, 1].tolist(),
        "val_f1": curves[:, 2].tolist(),
        "chosen": chosen,
        "val_f1_at_chosen": float(curves[best, 2]),
        "test_at": at,
        "roc": roc,
    }


# --------------------------------------------------------------------------------------------- the study


def run_study(
    name: str,
    *,
    app_name: str | None = None,
    data: str | None = None,
    budget: float | None = None,
    sets: list[str] | None = None,
    runs_dir: str | Path = "runs",
    variants: list[str] | None = None,
    log=print,
) -> StudyResult:
    """Run (or resume) study ``name``; returns its folder, one row per variant and the files written."""
    from tfdl.evaluation import metrics as M
    from tfdl.pipeline import baseline_output, check_model_params, evaluation_kwargs, load_splits
    from tfdl.runs import config_hash
    from tfdl.studies.figures import draw
    from tfdl.studies.report import reading, write_study_md

    study, app, budget, cfgs, user = plan(name, app_name, data, budget, sets, variants)
    for cfg in cfgs.values():
        check_model_params(app, cfg, forwarded=True)
    key = {
        "study": study.name,
        "app": app.name,
        "budget": budget,
        "variants": {k: cfgmod.to_dict(c) for k, c in cfgs.items()},
    }
    study_dir, resumed = study_folder(runs_dir, study, key)  # a new folder is made after the budget check
    first_cfg = next(iter(cfgs.values()))
    splits = load_splits(app, first_cfg)
    for cfg in cfgs.values():
        if splits.info.task:
            cfg.task = splits.info.task
    sizes = splits.sizes()
    old = _read_json(study_dir / "study.json") if resumed else {}
    rows: dict[str, dict] = {}
    for v in study.variants:
        got = _read_json(study_dir / "variants" / f"{slug(v.name)}.json") if resumed else {}
        if got.get("variant") == v.name:
            rows[v.name] = got
    n_back = len(rows)
    todo = [v for v in study.variants if v.name not in rows]
    extra = 1 if "lr_range" in study.figures and not old.get("lr_range") else 0
    spent = sum(r.get("wall_seconds", 0.0) for r in rows.values()) + float(old.get("extra_seconds", 0.0))
    if todo:
        est = estimate_epoch_seconds(app, cfgs[todo[0].name], splits, todo[0])
        need = est * (len(todo) + extra)
        if need > budget - spent:
            raise TfdlError(
                f"--budget {budget:g}s is too small for study {study.name}: one epoch of each of its "
                f"{len(todo) + extra} remaining runs takes about {need:.0f}s here ({est:.1f}s each"
                f"{f', {spent:.0f}s already spent' if spent else ''}); "
                f"give --budget {math.ceil(spent + need * 1.5)} or more, or a smaller data.limit"
            )
    (study_dir / "variants").mkdir(parents=True, exist_ok=True)
    log(f"{'resuming' if resumed else 'study'}: {study_dir}")
    log(f"data: {splits.info.name} train={sizes['n_train']} val={sizes['n_val']} test={sizes['n_test']}")
    if n_back:
        log(f"read back {n_back} finished variant(s): {', '.join(rows)}")
    meta = {
        "study": study.name,
        "lesson": study.lesson,
        "claim": study.claim,
        "app": app.name,
        "budget_seconds": budget,
        "sets": user,
        "command": command_line(study, app.name, budget, user, subset=bool(variants)),
        "key": config_hash(key),
        "started": old.get("started") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine_at_start": old.get("machine_at_start") or machine(),
        "data": {
            "name": splits.info.name,
            "source": splits.info.source,
            "fingerprint": splits.info.fingerprint,
            **sizes,
        },
        "task": first_cfg.task,
        "finished": False,
    }
    _write_json(study_dir / "study.json", {**old, **meta})

    # the headline baseline, once, on the same split
    baseline = old.get("baseline")
    if baseline is None and app.baselines:
        bname, fn = next(iter(app.baselines.items()))
        log(f"fitting baseline {bname}")
        bpred, bkw = baseline_output(fn(splits))
        if bpred is not None:
            kw = {**evaluation_kwargs(app, first_cfg, splits), **bkw}
            m = M.evaluate(first_cfg.task, splits.y_test, bpred, splits.info, **kw)
            baseline = {"name": bname, "test": {k: v for k, v in m.items() if isinstance(v, (int, float))}}
            _write_json(
                study_dir / "study.json", {**_read_json(study_dir / "study.json"), "baseline": baseline}
            )
    # The budget is the variants' own time (fit + per-epoch evaluation); loading the data, the probe and
    # the baseline come on top of it.
    t_start = time.perf_counter()
    for i, v in enumerate(todo):
        left = budget - spent - (time.perf_counter() - t_start)
        share = max(0.0, left) / (len(todo) - i + extra)
        log(f"variant {v.name} ({', '.join(v.sets) or 'the base settings'}): up to {share:.0f}s")
        analyse = None
        if "threshold" in study.figures:
            analyse = lambda model, c=cfgs[v.name]: {
                "threshold": threshold_analysis(app, c, splits, model, log)
            }  # noqa: E731
        if "representation" in study.figures:
            measure = app.analyses.get("representation")
            if measure is None:
                raise TfdlError(f"the {app.name} app has no 'representation' analysis for study {study.name}")
            analyse = lambda model, m=measure: {"representation": m(model, splits)}  # noqa: E731
        row = fit_variant(
            app, cfgs[v.name], splits, v, share, study_dir / "tensorboard" / slug(v.name), log=log,
            analyse=analyse,
        )  # fmt: skip
        rep = row.get("representation")
        if rep:  # the table's metric: the reconstruction MSE on the scaled inputs
            for part in ("val", "test"):
                row.setdefault(part, {})["reconstruction_mse"] = rep[f"{part}_reconstruction_mse"]
        _write_json(study_dir / "variants" / f"{slug(v.name)}.json", row)
        rows[v.name] = row
        log(_row_line(row))
    lr = old.get("lr_range")
    if "lr_range" in study.figures and not lr:
        good = [v for v in study.variants if "good" in v.name] or list(study.variants)
        log("LR range test (the learning rate grows each step)")
        t = time.perf_counter()
        lr = lr_range_test(app, cfgs[good[0].name], splits, log=log)
        lr["seconds"] = round(time.perf_counter() - t, 2)
        _write_json(study_dir / "study.json", {**_read_json(study_dir / "study.json"), "lr_range": lr,
                                              "extra_seconds": lr["seconds"]})  # fmt: skip
    ordered = [rows[v.name] for v in study.variants]
    rep = next((r["representation"] for r in ordered if r.get("representation")), None)
    if rep and baseline is not None:  # PCA with the model's latent size: its reconstruction MSE too
        baseline["test"]["reconstruction_mse"] = rep["test_pca_reconstruction_mse"]
    figures = draw(study, ordered, study_dir, lr_range=lr, splits=splits, cfg=first_cfg, app=app)
    text = reading(study, ordered, meta, baseline, lr)
    meta.update(
        baseline=baseline,
        lr_range=lr,
        variants=ordered,
        reading=text,
        figures=[f.name for f in figures],
        machine_at_end=machine(),
        finished=True,
        resumed_variants=n_back,
        extra_seconds=(lr or {}).get("seconds", 0.0),
    )
    md = write_study_md(study_dir, study, meta, ordered, baseline, text, figures)
    _write_json(study_dir / "study.json", meta)
    return StudyResult(study_dir, ordered, [md, study_dir / "study.json", *figures], text, n_back)


def command_line(study: Study, app: str, budget: float, user: list[str], subset: bool = False) -> str:
    parts = ["tfdl", "study", study.name]
    if subset:
        for v in study.variants:
            parts += ["--variant", slug(v.name)]
    if app != next(iter(study.apps)):
        parts += ["--app", app]
    if budget != study.budget:
        parts += ["--budget", f"{budget:g}"]
    for s in user:
        if s.startswith("data.path="):
            parts += ["--data", s.partition("=")[2]]
        else:
            parts += ["--set", s]
    return " ".join(parts)


def _row_line(row: dict) -> str:
    test = row.get("test") or {}
    head = next(
        (
            f"{k}={v:.4f}"
            for k, v in test.items()
            if k in ("accuracy", "roc_auc", "rmse", "mae", "reconstruction_mse")
        ),
        "",
    )
    return (
        f"  {row['variant']}: {row['epochs']} epochs, {row['train_seconds']:.1f}s, "
        f"{row['parameters']:,} params, stopped by {row['stopped']}; test {head or '-'}"
    )
