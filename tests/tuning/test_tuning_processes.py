"""Real processes: a search killed with SIGKILL resumes without redoing trials; memory stays flat over
ten trials; one chief and two workers share a search and run every trial once. Every wait is bounded and
every process is killed at the end."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfdl.tuning.results import count_starts

pytestmark = pytest.mark.slow

CLI = "import sys; from tfdl.cli import main; sys.exit(main())"
TINY = ["--set", "model.name=mlp", "--set", "model.units=[16]", "--set", "data.image_size=20"]


def _cmd(image_folder: Path, directory: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", CLI, "tune", "vision", "--tuner", "random", "--max-epochs", "1",
            "--directory", str(directory), "--set", f"data.path={image_folder}", *TINY,
            *args]  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg", **extra}
    env.pop("KERASTUNER_TUNER_ID", None)
    return env


def _completed(directory: Path) -> dict[str, float]:
    out = {}
    for p in (directory / "search").glob("trial_*/trial.json"):
        try:
            t = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # being written
        if t["status"] == "COMPLETED":
            out[t["trial_id"]] = t["score"]
    return out


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _kill(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)


def test_sigkilled_search_resumes_without_redoing_finished_trials(image_folder, tmp_path):
    d = tmp_path / "search"
    proc = subprocess.Popen(_cmd(image_folder, d, "--max-trials", "6"), cwd=tmp_path, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while len(_completed(d)) < 2:
            assert proc.poll() is None, "the search ended before it could be killed"
            assert time.monotonic() < deadline, "no two trials finished in 300 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill(proc)
    before = _completed(d)
    assert 2 <= len(before) < 6
    done = subprocess.run(_cmd(image_folder, d, "--max-trials", "6", "--resume"), cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    after = _completed(d)
    assert len(after) == 6 and len(list((d / "search").glob("trial_*"))) == 6
    assert {k: after[k] for k in before} == before  # finished trials kept their results
    starts = count_starts(d)
    assert all(starts[k] == 1 for k in before), starts  # ... and were not run again
    rows = _rows(d / "trials.csv")
    assert len(rows) == 6 and all(r["status"] == "COMPLETED" for r in rows)


def test_memory_is_flat_over_ten_trials(image_folder, tmp_path):
    d = tmp_path / "search"
    done = subprocess.run(_cmd(image_folder, d, "--max-trials", "10", "--set", "train.batch_size=32"),
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(d / "trials.csv")
    assert len(rows) == 10 and all(r["status"] == "COMPLETED" for r in rows)
    rss = [float(r["rss_mb"]) for r in rows]
    print(f"RSS after trial 2: {rss[1]} MB, after trial 10: {rss[9]} MB")
    assert rss[9] <= 1.15 * rss[1], rss


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the chief exited before serving the oracle"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"the chief's oracle did not listen on {port} within {timeout} s")


def test_one_chief_two_workers_run_every_trial_once(image_folder, tmp_path):
    d, port = tmp_path / "shared", _free_port()
    oracle = ["--oracle", f"127.0.0.1:{port}", "--max-trials", "4"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    chief = subprocess.Popen(_cmd(image_folder, d, "--distributed", "chief", *oracle), cwd=tmp_path,
                             env=_env(), **quiet)  # fmt: skip
    workers: list[subprocess.Popen] = []
    try:
        _wait_port(port, chief, timeout=180)
        worker = _cmd(image_folder, d, "--distributed", "worker", *oracle)
        for i in range(2):
            workers.append(subprocess.Popen(worker, cwd=tmp_path, env=_env(TFDL_TUNER_ID=str(i)), **quiet))
        for w in workers:
            assert w.wait(timeout=600) == 0
        # The chief polls every 20 s (Keras Tuner) before it sees that all workers left.
        assert chief.wait(timeout=90) == 0
    finally:
        _kill(*workers, chief)
    starts = count_starts(d)
    assert sorted(starts) == ["0", "1", "2", "3"] and set(starts.values()) == {1}, starts
    rows = _rows(d / "trials.csv")
    assert len(rows) == 4 and all(r["status"] == "COMPLETED" for r in rows)
    assert {r["tuner_id"] for r in rows} <= {"tuner0", "tuner1"}
    assert (d / "best.yaml").is_file()
