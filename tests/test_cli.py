"""The command surface: fast start without TensorFlow, one-line user errors with exit code 2."""

import subprocess
import sys
import time

import pytest

from tfdl.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfdl.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_apps_lists_every_app_without_tensorflow():
    code = (
        "import sys; from tfdl.cli import main; rc = main(['apps']); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; sys.exit(rc)"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert "vision" in out.stdout and "resnet*" in out.stdout and "cnn" in out.stdout
    assert elapsed < 5  # generous for a loaded CI box; `tfdl apps` takes ~0.3 s on an idle machine


def test_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    for cmd in ("train", "evaluate", "export", "tune", "predict", "explain", "serve", "bench", "models"):
        assert cmd in out.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "nope"], "unknown app 'nope'"),
        (["train", "vision", "--model", "resnet9"], "unknown model 'resnet9'"),
        (["train", "vision", "--set", "train.epochz=2"], "unknown config key 'train.epochz'"),
        (["train", "vision", "--set", "train.batch_size=big"], "train.batch_size"),
        (["train", "vision", "--epochs", "0"], "--epochs must be at least 1"),
        (["train", "vision", "--set", "model.bogus=1"], "model.bogus"),
        (["train", "vision", "--config", "does-not-exist.yaml"], "config file not found"),
        (["train", "vision", "--bogus-flag"], "bogus-flag"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert err.count("\n") == 0 and "Traceback" not in err


def test_missing_data_folder_is_a_user_error(tmp_path, capsys):
    rc = main(["train", "vision", "--data", str(tmp_path / "nope"), "--set", f"runs_dir={tmp_path}/runs"])
    assert rc == 2
    assert "--data folder not found" in capsys.readouterr().err


def test_elapsed_reads_like_a_stopwatch():
    from tfdl.cli import elapsed

    assert elapsed(252.4) == "4m12s" and elapsed(59.6) == "1m00s" and elapsed(3) == "0m03s"
