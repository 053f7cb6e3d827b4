"""``tfdl serve --workers 2``: two processes answer on one port, both pick up a newly exported version, and
each writes its own request-log file in the shared folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serving.helpers import export_vision, free_port


def _health(url: str) -> dict | None:
    try:
        with httpx.Client(timeout=5) as c:  # a new connection each time: the kernel picks the worker
            return c.get(f"{url}/healthz").json()
    except httpx.HTTPError:
        return None


def _until(pred, url: str, timeout: float) -> dict[int, dict]:
    """Ask /healthz from 8 parallel clients until ``pred(answers by pid)`` holds; returns them."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            for h in pool.map(lambda _: _health(url), range(16)):
                if h:
                    seen[h["pid"]] = h
            if pred(seen):
                return seen
            time.sleep(0.3)
    raise AssertionError(f"timed out; workers seen: { {p: h['models'] for p, h in seen.items()} }")


@pytest.mark.slow
def test_two_workers_answer_and_hot_reload(tmp_path):
    root = tmp_path / "saved_models"
    export_vision(root)
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "tfdl.cli", "serve", "--model-root", str(root), "--port", str(port),
           "--workers", "2", "--log-requests", str(tmp_path / "log")]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        seen = _until(
            lambda s: len(s) == 2 and all(h["models"] == {"vision": 1} for h in s.values()), url, 240
        )
        assert proc.pid not in seen  # the supervisor does not answer: its two workers do
        r = httpx.post(f"{url}/v1/models/vision:predict", json={"instances": [[[[200]] * 8] * 8]}, timeout=30)
        assert r.status_code == 200 and len(r.json()["predictions"][0]) == 3
        export_vision(root, bias=5.0)  # version 2: every worker's poller loads it
        _until(lambda s: {p for p, h in s.items() if h["models"] == {"vision": 2}} >= set(seen), url, 120)
        body = {"instances": [[[[10]] * 8] * 8]}
        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while len(list((tmp_path / "log").glob("requests-*.jsonl"))) < 2 and time.monotonic() < deadline:
                list(pool.map(lambda _: httpx.post(f"{url}/v1/models/vision:predict", json=body, timeout=30),
                              range(16)))  # fmt: skip
                time.sleep(0.5)  # the log is written by a background thread
        files = {p.name for p in (tmp_path / "log").glob("requests-*.jsonl")}
        assert files == {f"requests-{pid}.jsonl" for pid in seen}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode is not None


def test_workers_refuse_grpc(tmp_path, capsys):
    from tfdl.cli import main

    (tmp_path / "m").mkdir()
    rc = main(["serve", "--model-root", str(tmp_path / "m"), "--workers", "2", "--grpc-port", "8500"])
    assert rc == 2 and "--grpc-port" in capsys.readouterr().err
