"""Tabular: classification or regression on a CSV with mixed column types and missing values.

Data: modeldata ``credit_data`` (classification of Status good/bad, default) or ggplot2 ``diamonds``
(``--set data.source=diamonds``: regression of log(price)), or your CSV with ``--data x.csv
--set data.target=y`` (task and column types inferred; ``--set task=...`` and a schema YAML
``--set data.schema=FILE`` override).

Models: ``mlp+gbdt`` (default: a convex blend of the MLP, HistGradientBoosting trees walked inside the Keras
graph and the linear baseline's model, the weights chosen on validation), ``mlp`` (batch norm; dropout for
classification, piecewise-linear encoding of numbers for regression) and ``ft_transformer`` (column
embeddings as tokens through the shared transformer encoder). Regression targets are learnt standardised
(after log1p with ``--set data.target_transform=log1p``); the inverse is the model's last layer, so it
answers in the CSV's units. Preprocessing lives inside the model (Normalization, StringLookup/IntegerLookup
with an OOV bucket, missing indicators + imputation, embeddings for high-cardinality categoricals), so the
exported SavedModel takes ``{column: (batch,) values}``.
Baselines on the same split, tuned on the same validation split as the model
(``tfdl/evaluation/tabular_baselines.py``): logistic/ridge regression and HistGradientBoosting.

Sections: ``data.py`` (config, loading, typing and describing columns), ``models.py`` (the three builders
and the blend), ``codec.py`` (explainers, the predict/upload codec); the App is declared here.
"""

from __future__ import annotations

from pathlib import Path

from apps.tabular.codec import describe, explainer, read
from apps.tabular.data import TabularConfig, load_data
from apps.tabular.models import blend_record, build_ft_transformer, build_mlp, build_mlp_gbdt, choose_blend
from tfdl.app import App, Codec
from tfdl.data.splits import Splits
from tfdl.evaluation.tabular_baselines import hist_gradient_boosting, linear


def _report(model, splits: Splits, metrics: dict, predictions: dict, run_dir: Path):
    """Name the target transform in metrics.json (the Columns section of the report names it too), and for
    ``mlp+gbdt`` the blend's weights with the validation losses they were chosen on (``blend``)."""
    if splits.info.task == "regression":
        metrics["target_transform"] = splits.info.extra.get("target_transform") or "none"
    record = blend_record(model, splits)
    if record:
        metrics["blend"] = record
    return [], []


APP = App(
    name="tabular",
    task="classification",
    summary="CSV classification/regression with mixed types and missing values (MLP vs gradient boosting)",
    default_data="modeldata credit_data 4,454 rows (classification); ggplot2 diamonds 53,940 (regression)",
    load_data=load_data,
    models={"mlp": build_mlp, "mlp+gbdt": build_mlp_gbdt, "ft_transformer": build_ft_transformer},
    default_model="mlp+gbdt",
    baselines={"linear": linear, "hist_gradient_boosting": hist_gradient_boosting},
    config_class=TabularConfig,
    report=_report,
    fit_state=choose_blend,
    explainers={"permutation": explainer("permutation"), "shap": explainer("shap")},
    codec=Codec(read=read, describe=describe),
    defaults={"train.epochs": 40, "train.batch_size": 128, "train.early_stopping_patience": 8},
)
