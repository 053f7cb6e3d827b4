"""Tasks: what differs between classification, regression, forecasting, anomaly detection (and a new task).

``get_task(name)`` returns the registered :class:`Task`; ``register_task(task)`` adds one (an app module
that brings a new task registers it at import time). See ``docs/architecture.md``, "How to add a task".
"""

from __future__ import annotations

from tfdl.errors import TfdlError
from tfdl.tasks.anomaly import Anomaly
from tfdl.tasks.base import Task
from tfdl.tasks.classification import IMBALANCE_SHARE, Classification
from tfdl.tasks.regression import Forecast, Regression

TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make ``task`` known under ``task.name`` (configs, metrics, export and serving find it there)."""
    if not task.name:
        raise ValueError(f"a task needs a name; received {task!r}")
    TASKS[task.name] = task
    return task


def get_task(name: str | Task) -> Task:
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name]
    except KeyError:
        raise TfdlError(f"unknown task '{name}'; choose one of: {', '.join(TASKS)}") from None


for _t in (Classification(), Regression(), Forecast(), Anomaly()):
    register_task(_t)

__all__ = ["IMBALANCE_SHARE", "TASKS", "Anomaly", "Classification", "Forecast", "Regression", "Task",
           "get_task", "register_task"]  # fmt: skip
