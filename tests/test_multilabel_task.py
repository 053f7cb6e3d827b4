"""docs/architecture.md shows how to add a multi-label task and app in under a page: that exact code block
is executed here, trained through the library's pipeline (no library edits) and exported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _example() -> str:
    text = DOC.read_text()
    section = text[text.index("## How to add a task: a multi-label app") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_multi_label_app_trains_evaluates_and_exports(workdir):
    from tfdl.pipeline import resolve_config, train
    from tfdl.tasks import TASKS

    ns: dict = {"__name__": "tags_example"}
    exec(compile(_example(), str(DOC), "exec"), ns)  # noqa: S102 - the documented example, verbatim
    try:
        app = ns["APP"]
        cfg = resolve_config(app, {}, ["train.epochs=12", "train.batch_size=32", "train.learning_rate=0.01"])
        assert cfg.task == "multi_label"
        result = train(app, cfg, log=lambda *_: None)
        m = json.loads((result.run_dir / "metrics.json").read_text())
        assert m["task"] == "multi_label" and m["headline"]["metric"] == "micro_f1"
        assert set(m["test"]) == {"micro_f1", "macro_f1", "subset_accuracy", "hamming_loss"}
        # Three learnable rules, 420 training rows: well above chance (micro-F1 of random guesses ~0.5).
        assert m["test"]["micro_f1"] > 0.8 and m["test"]["hamming_loss"] < 0.2
        assert m["baselines"]["logistic_per_label"]["micro_f1"] > 0.7
        assert m["comparison"]["metric"] == "micro_f1"
        assert "Headline metric: **micro_f1** (higher is better" in (result.run_dir / "report.md").read_text()
        version = workdir / "saved_models" / "tags" / "1"
        card = json.loads((version / "metadata.json").read_text())
        assert card["task"] == "multi_label" and card["labels"] == ["a", "b", "c"]
        row = result.model.predict(result.splits.x_test[:1], verbose=0)[0]
        answer = TASKS["multi_label"].describe(row, card)
        assert set(answer["scores"]) == {"a", "b", "c"} and set(answer["labels"]) <= {"a", "b", "c"}
        assert np.isclose(sum(answer["scores"].values()), float(row.sum()))
    finally:
        TASKS.pop("multi_label", None)
