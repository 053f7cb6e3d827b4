"""Run configuration: typed sections, loaded from YAML plus ``--set key=value`` overrides.

Every app uses :class:`RunConfig`; an app that needs more data keys subclasses :class:`DataConfig`
(and names the subclass in its ``App.data_config``). Unknown keys and wrong types are one-line
:class:`~tfdl.errors.TfdlError` messages that name the key and what is allowed.

The ``model`` section is open: besides ``name`` it carries keyword arguments for the chosen model
builder (``--set model.dropout=0.1``); the pipeline checks them against the builder's signature.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tfdl.errors import TfdlError
from tfdl.runs import DEFAULT_RUNS_DIR

Precision = Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"]
Optimizer = Literal["adamw", "adam", "sgd", "rmsprop", "adagrad", "lion", "adafactor"]
Schedule = Literal["constant", "cosine"]
Distribution = Literal["default", "mirrored", "multi_worker"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the data comes from and how it is split."""

    path: str | None = None  # user data (file or folder); None = the app's embedded default
    source: str = "default"  # app-specific name of a data set, e.g. "fashion_mnist"
    val_fraction: float = Field(0.15, gt=0, lt=1)
    test_fraction: float = Field(0.15, gt=0, lt=1)
    limit: int | None = Field(None, gt=0)  # cap on training examples (quick runs, studies)
    seed: int = 42
    # k-fold cross-validation (``tfdl cv``): with ``folds`` >= 2 the test part is fold ``fold`` (0-based)
    # of ``folds`` stratified folds of the pooled data and ``test_fraction`` is not used; a time series
    # instead tests rolling forecast origin ``fold`` of ``folds`` in its last ``test_fraction``.
    folds: int = Field(0, ge=0)
    fold: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check_folds(self):
        if self.folds == 1:
            raise ValueError("data.folds must be 0 (one train/val/test split) or at least 2")
        if self.folds and self.fold >= self.folds:
            raise ValueError(f"data.fold must be below data.folds ({self.folds}); got {self.fold}")
        return self

    def split_args(self) -> dict[str, Any]:
        """Keyword arguments for :func:`tfdl.data.splits.split_arrays`."""
        return dict(
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            seed=self.seed,
            folds=self.folds,
            fold=self.fold,
        )


class ModelConfig(BaseModel):
    """The model name plus free keyword arguments for its builder (checked by the pipeline)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    name: str | None = None  # None = the app's default model

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainConfig(_Section):
    """The fit step: budget, optimizer, schedule, precision, callbacks, distribution."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    # Decoupled weight decay, applied by every optimizer (Keras 3 optimizers all take it). None = the
    # optimizer's own default: 1e-4 for adamw and lion, none for the others. Not model.l2 (a loss term).
    weight_decay: float | None = Field(None, ge=0)
    optimizer: Optimizer = "adamw"
    momentum: float = Field(0.0, ge=0, lt=1)  # sgd and rmsprop only; train.optimizer=sgd alone is plain SGD
    nesterov: bool = False  # sgd with train.momentum > 0 only
    schedule: Schedule = "cosine"
    warmup_epochs: float = Field(1.0, ge=0)
    precision: Precision = "auto"
    early_stopping_patience: int = Field(5, ge=0)  # 0 disables early stopping
    distribution: Distribution = "default"
    seed: int = 42
    steps_per_execution: int = Field(1, ge=1)
    # TF op determinism: identical results run to run on the same machine, at some speed cost
    deterministic: bool = False
    # Floor on the optimizer steps of a run: when epochs x (train rows / batch) is below it, each epoch is
    # lengthened (the shuffled training data repeats) to ceil(min_steps / epochs) steps. 0 = off.
    min_steps: int = Field(0, ge=0)
    # BatchNormalization moving-average momentum: "auto" lowers it on short epochs (see
    # tfdl.training.budget.bn_momentum), "keep" leaves the model's own, a number sets every BN layer.
    bn_momentum: float | str = "auto"
    # Per-layer gradient norms over the first train.gradient_steps steps (tfdl/training/gradients.py), to
    # TensorBoard and to metrics.json / the study; costs one extra backward pass per logged step.
    log_gradients: bool = False
    gradient_steps: int = Field(30, ge=1)
    # Exponential moving average of the weights (Polyak averaging): the optimizer keeps the average, which
    # the validation passes, early stopping, the best checkpoint and the final model use. None = off; a
    # number is the average's momentum per optimizer step (0.99: about the last 100 steps).
    ema: float | None = Field(None, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_bn_momentum(self):
        m = self.bn_momentum
        if (isinstance(m, str) and m not in ("auto", "keep")) or (not isinstance(m, str) and not 0 <= m < 1):
            raise ValueError(f"train.bn_momentum must be auto, keep or a number in [0, 1); got {m!r}")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(
                f"train.momentum applies to sgd and rmsprop, not {self.optimizer} (its own betas set it); "
                "remove train.momentum or set train.optimizer=sgd"
            )
        if self.nesterov and not (self.optimizer == "sgd" and self.momentum > 0):
            raise ValueError("train.nesterov needs train.optimizer=sgd and train.momentum > 0 (e.g. 0.9)")
        if self.ema is not None and self.distribution == "multi_worker":
            raise ValueError("train.ema needs Keras' fit loop; multi_worker runs its own: drop one of them")
        return self


class ExportConfig(_Section):
    enabled: bool = True
    model_root: str = "saved_models"
    name: str | None = None  # None = the app name
    description: str | None = None  # free text for the model card (what, why, for whom)


class EvalConfig(_Section):
    """How a run is judged (tfdl/evaluation/metrics.py: choose_headline)."""

    # None = by task and data: ROC-AUC for binary with a minority class under 35 %, else the task's default
    headline: str | None = None
    # Bootstrap resamples for the 95 % intervals of every test metric and of model - baseline (0 = off).
    resamples: int = Field(1000, ge=0, le=100_000)
    # Classifiers: "temperature" fits T on validation (stored in the export: served probabilities are the
    # calibrated ones); "none" serves the raw probabilities.
    calibration: Literal["temperature", "none"] = "temperature"
    # Binary classifiers: the decision threshold, chosen on validation for a goal (tfdl/evaluation/
    # metrics.py: choose_threshold): f1 | youden | precision@P | recall@R | fixed:T. None = 0.5 (argmax).
    threshold: str | None = None
    # Per-group metrics: COLUMN[,COLUMN] of the test data (tabular columns).
    groups: str | None = None
    # Forecasts: split-conformal interval levels from validation residuals, per horizon step.
    interval_levels: list[float] = Field(default_factory=lambda: [0.8, 0.95])

    @field_validator("threshold")
    @classmethod
    def _check_threshold(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from tfdl.evaluation.metrics import parse_threshold_rule

        try:
            kind, _ = parse_threshold_rule(str(v))
        except ValueError as e:
            raise ValueError(f"eval.threshold: {e} (--set eval.threshold=f1)") from None
        if kind == "fpr":
            raise ValueError("eval.threshold=fpr is for anomaly scores; use f1, youden, precision@P, "
                             "recall@R or fixed:T")  # fmt: skip
        return str(v)

    @field_validator("interval_levels")
    @classmethod
    def _check_levels(cls, v: list[float]) -> list[float]:
        if not v or any(not 0.0 < x < 1.0 for x in v):
            raise ValueError(f"eval.interval_levels must be numbers in (0, 1) such as [0.8, 0.95]; got {v}")
        return sorted(set(float(x) for x in v))

    def group_columns(self) -> list[str]:
        return [c.strip() for c in (self.groups or "").split(",") if c.strip()]


class TrackingConfig(_Section):
    """Optional MLflow tracking (tfdl/tracking.py): off unless ``uri`` is set."""

    uri: str | None = None  # sqlite:///mlruns.db | a folder | http(s)://host:port
    experiment: str | None = None  # None = "tfdl-<app>"


class RunConfig(_Section):
    """A full run: one app, its data, one model, the fit settings, export."""

    app: str = ""
    task: str | None = None  # a registered tfdl.tasks name; None = the app's task (tabular may infer it)
    augment: Literal["none", "flip", "shift", "light", "strong"] = "none"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    runs_dir: str = DEFAULT_RUNS_DIR

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str | None) -> str | None:
        from tfdl.tasks import TASKS

        if v is None or v in TASKS or v == "auto":  # "auto": an app that infers it from the data (tabular)
            return v
        raise ValueError(f"unknown task '{v}'; choose one of: {', '.join(TASKS)} (--set task=...)")


def _format_validation_error(err: ValidationError, cls: type[BaseModel]) -> str:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"])
    if e["type"] == "extra_forbidden":
        allowed = _allowed_keys(cls, e["loc"][:-1])
        return (
            f"unknown config key '{key}'; allowed here: {', '.join(allowed)}"
            " (fix the key in --set or the config file)"
        )
    got = e.get("input")
    msg = e["msg"]
    if e["type"] == "literal_error":
        msg = msg.replace("Input should be", "expected")
    if e["type"] == "value_error":  # a section's own check: its message names the keys and the fix
        return msg.removeprefix("Value error, ")
    return f"bad value for config key '{key}': {msg}; got {got!r}"


def _allowed_keys(cls: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        field = cls.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            break
        cls = field.annotation
    return sorted(cls.model_fields)


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as YAML (so 0.1, true, [1, 2] and null work); plain text stays text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings to a nested dict (returns a new dict)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise TfdlError(f"--set expects key=value (e.g. --set train.epochs=5); got {item!r}")
        key, _, value = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise TfdlError(f"--set expects key=value with a key; got {item!r}")
        node = out
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = parse_value(value)
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise TfdlError(f"config file not found: '{p}' (pass an existing YAML file to --config)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise TfdlError(f"config file '{p}' is not valid YAML{where}; fix the syntax") from None
    if not isinstance(data, dict):
        raise TfdlError(f"config file '{p}' must hold a mapping of keys; got {type(data).__name__}")
    return data


def build_config(
    cls: type[RunConfig] = RunConfig,
    raw: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
) -> RunConfig:
    """Validate ``raw`` (from YAML) plus overrides into ``cls``; errors are one-line TfdlErrors."""
    merged = apply_overrides(raw or {}, overrides or [])
    try:
        return cls.model_validate(merged)
    except ValidationError as err:
        raise TfdlError(_format_validation_error(err, cls)) from None


def to_dict(cfg: BaseModel) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def dump_yaml(cfg: BaseModel, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
