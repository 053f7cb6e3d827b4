"""MLflow tracking: a run written to a local sqlite store and read back; bad URIs fail before training."""

from __future__ import annotations

import numpy as np
import pytest

from tfdl.cli import main

pytest.importorskip("mlflow")


def _csv(path, n=240, seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = (x1 - 0.5 * x2 > 0).astype(int)
    rows = [f"{a:.4f},{b:.4f},{t}" for a, b, t in zip(x1, x2, y)]
    path.write_text("\n".join(["x1,x2,label", *rows]) + "\n")
    return path


@pytest.mark.slow
def test_run_is_logged_to_sqlite_and_read_back(workdir):
    import mlflow

    csv = _csv(workdir / "tiny.csv")
    uri = f"sqlite:///{workdir / 'mlruns.db'}"
    args = ["train", "tabular", "--data", str(csv), "--epochs", "3", "--no-export",
            "--set", "data.target=label", "--set", f"tracking.uri={uri}",
            "--set", "tracking.experiment=tiny-test"]  # fmt: skip
    assert main(args) == 0
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["tiny-test"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["train.epochs"] == "3" and run.data.params["data.target"] == "label"
    assert 0.5 < run.data.metrics["test.accuracy"] <= 1.0
    assert any(k.startswith("baseline.") for k in run.data.metrics)
    assert run.data.tags["tfdl.data_fingerprint"].startswith("sha256:")
    assert run.data.tags["tfdl.git_dirty"] in ("True", "False", "None")
    history = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [h.step for h in history] == [0, 1, 2]
    artifacts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"report.md", "metrics.json", "config.yaml"} <= artifacts


@pytest.mark.parametrize(
    "uri, needle",
    [
        ("http://127.0.0.1:9/", "unreachable"),
        ("ftp://example/x", "scheme 'ftp' is not supported"),
        ("sqlite:///no/such/folder/m.db", "does not exist"),
    ],
)
def test_bad_tracking_uri_fails_before_training(workdir, capsys, uri, needle):
    csv = _csv(workdir / "tiny.csv")
    args = ["train", "tabular", "--data", str(csv), "--set", "data.target=label"]
    args += ["--set", f"tracking.uri={uri}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert not (workdir / "runs").exists()  # nothing was started, nothing to lose
