"""A training process killed with SIGKILL mid-run resumes from its last completed epoch."""

import csv
import os
import re
import signal
import subprocess
import sys
import time

import pytest


def _cmd(folder, runs):
    return [
        sys.executable,
        "-m",
        "tfdl.cli",
        "train",
        "vision",
        "--data",
        str(folder),
        "--epochs",
        "8",
        "--no-export",
        "--set",
        "data.image_size=48",
        "--set",
        "train.batch_size=4",
        "--set",
        "train.early_stopping_patience=0",
        "--set",
        f"runs_dir={runs}",
    ]


@pytest.mark.slow
def test_sigkill_then_same_command_resumes(image_folder, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        _cmd(image_folder, runs), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 240
    history = None
    while time.time() < deadline and proc.poll() is None:
        found = list(runs.glob("vision/*/history.csv"))
        if found and len(found[0].read_text().strip().splitlines()) >= 3:  # header + 2 finished epochs
            history = found[0]
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; make the test run longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_dir = history.parent
    assert (run_dir / "backup").is_dir() and not (run_dir / "metrics.json").exists()
    done_before = len(history.read_text().strip().splitlines()) - 1

    out = subprocess.run(_cmd(image_folder, runs), env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"resuming: {run_dir}" in out.stdout
    first_epoch = int(re.search(r"Epoch (\d+)/8", out.stdout).group(1))
    assert first_epoch >= done_before + 1 >= 2  # did not start again from epoch 1
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(8))  # every epoch once, in order
    assert (run_dir / "metrics.json").is_file() and not (run_dir / "backup").exists()
    assert len(list(runs.glob("vision/*"))) == 1  # no second run folder
