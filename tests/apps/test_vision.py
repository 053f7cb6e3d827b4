"""The vision app end to end on a small generated image folder: run folder, report, SavedModel."""

import json

import numpy as np

from tfdl.cli import main


def test_train_writes_run_and_exports_raw_uint8_savedmodel(image_folder, workdir, capsys):
    rc = main(
        [
            "train",
            "vision",
            "--data",
            str(image_folder),
            "--epochs",
            "3",
            "--set",
            "data.image_size=20",
            "--set",
            "train.batch_size=16",
            "--set",
            "train.min_steps=0",  # 3 x 6 steps; the step floor has its own test (test_budget.py)
            "--set",
            "model.filters=[8, 16]",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.strip().splitlines()[-1].startswith("done in ")
    for step in ("fitting baseline logistic_regression", "writing the report", "exporting a SavedModel"):
        assert step in out  # long steps after training say what they do before they start
    run_dir = next((workdir / "runs" / "vision").iterdir())
    for name in (
        "config.yaml",
        "metrics.json",
        "report.md",
        "model.keras",
        "history.csv",
        "plots/confusion_matrix.png",
    ):
        assert (run_dir / name).exists(), name
    assert (run_dir / "tensorboard").is_dir()
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["app"] == "vision" and m["model"] == "resnet" and m["task"] == "classification"
    assert m["dataset"]["fingerprint"].startswith("sha256:") and m["dataset"]["n_train"] == 84
    for key in (
        "accuracy",
        "balanced_accuracy",
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "mcc",
        "roc_auc",
    ):
        assert key in m["test"]
    assert m["baseline"]["name"] == "logistic_regression" and "accuracy" in m["baseline"]["test"]
    assert m["precision_policy"] in ("float32", "mixed_bfloat16") and m["samples_per_second"] > 0
    report = (run_dir / "report.md").read_text()
    assert "logistic_regression" in report and "](plots/" in report
    assert f"runs/vision/{run_dir.name}" in out and "saved_models/vision/1" in out  # paths printed

    # The exported version serves raw uint8 images and carries the model card and labels.
    import tensorflow as tf

    version = workdir / "saved_models" / "vision" / "1"
    card = json.loads((version / "metadata.json").read_text())
    assert card["version"] == 1 and card["labels"] == ["bright", "dark", "mid"]
    assert card["dataset"]["fingerprint"] == m["dataset"]["fingerprint"]
    assert (version / "assets" / "labels.txt").read_text().split() == ["bright", "dark", "mid"]
    fn = tf.saved_model.load(str(version)).signatures["serving_default"]
    x = np.zeros((2, 20, 20, 1), dtype=np.uint8)
    probs = next(iter(fn(image=tf.constant(x)).values())).numpy()
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    assert not list((workdir / "saved_models" / "vision").glob(".tmp-*"))

    # predict through the exported version
    img = next((image_folder / "bright").iterdir())
    assert main(["predict", "vision", "--input", str(img)]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["label"] in ("bright", "dark", "mid") and 0 <= answer["confidence"] <= 1

    # --run picks the version that run exported
    assert main(["predict", "vision", "--run", "latest", "--input", str(img)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["label"] == answer["label"]

    # evaluate re-computes the metrics of the latest run
    assert main(["evaluate", "vision"]) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"] == m["test"]["accuracy"]


def test_nan_loss_is_a_user_error(image_folder, workdir, capsys):
    rc = main(
        [
            "train",
            "vision",
            "--data",
            str(image_folder),
            "--model",
            "cnn",  # the previous default stays available under its name
            "--epochs",
            "2",
            "--no-export",
            "--set",
            "data.image_size=12",
            "--set",
            "train.learning_rate=1e30",
            "--set",
            "train.optimizer=sgd",
            "--set",
            "model.batch_norm=false",
            "--set",
            "train.schedule=constant",
            "--set",
            "train.precision=float32",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "NaN" in err and "learning_rate" in err
