"""SavedModel versions: checked in a fresh process before they appear, atomic, listed and removed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tfdl.errors import TfdlError


def test_version_has_serving_layout_card_and_assets(exported):
    v = exported.version
    assert v.name.isdigit() and (v / "saved_model.pb").is_file() and (v / "variables").is_dir()
    card = json.loads((v / "metadata.json").read_text())
    for key in ("app", "model", "version", "created_at", "git_commit", "dataset", "config", "test_metrics",
                "libraries", "signature", "labels", "preprocessing", "run"):  # fmt: skip
        assert key in card, key
    assert card["run"] == "run-1" and card["version"] == int(v.name)
    assert card["signature"]["inputs"]["dtype"] == "uint8"
    assert (v / "assets" / "labels.txt").read_text().split() == ["dark", "mid", "bright"]
    assert not list(v.parent.glob(".tmp-*"))


def test_fresh_process_check_compares_with_the_keras_outputs(exported):
    from tfdl.export.parity import check_savedmodel

    # The passing case ran when the fixture exported the version; here a shifted expectation must fail.
    x = exported.splits.x_test[:4]
    expected = exported.model.predict(x, verbose=0)
    with pytest.raises(TfdlError, match="disagrees with the Keras model"):
        check_savedmodel(exported.version, x, expected + 0.01)


def test_the_checker_process_is_kept_survives_a_failed_check_and_restarts_after_a_crash(
    exported, tmp_path, monkeypatch
):
    """One checker process per exporting process: the next check reuses it, also after the exporting process
    changed folders (a relative path); a folder that is no SavedModel fails in one line and leaves it
    serving; killed, it is started again on the next check."""
    from tfdl.export import parity

    x = exported.splits.x_test[:4]
    expected = exported.model.predict(x, verbose=0)
    assert parity.check_savedmodel(exported.version, x, expected)["max_abs_diff"] <= 1e-4
    pid = parity._CHECKER._proc.pid
    with pytest.raises(TfdlError, match="did not reload in a checker process .*no version was kept"):
        parity.check_savedmodel(tmp_path, x, expected)
    monkeypatch.chdir(exported.version.parent)
    assert parity.check_savedmodel(Path(exported.version.name), x, expected)["n_examples"] == 4
    assert parity._CHECKER._proc.pid == pid  # the same process answered all three
    parity._CHECKER._proc.kill()
    parity._CHECKER._proc.wait()
    assert parity.check_savedmodel(exported.version, x, expected)["n_examples"] == 4
    assert parity._CHECKER._proc.pid != pid


def test_a_failure_mid_write_leaves_no_version_and_no_tmp(tmp_path):
    from tfdl.export.savedmodel import list_versions, write_version

    def half_write(tmp):
        (tmp / "variables").mkdir(parents=True)
        (tmp / "saved_model.pb").write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_version(tmp_path, "m", half_write, {"app": "x"})

    def refuse(tmp):
        raise TfdlError("check failed: outputs differ")

    with pytest.raises(TfdlError, match="outputs differ"):
        write_version(
            tmp_path, "m", lambda tmp: tmp.mkdir(), {"app": "x"}, {"labels.txt": "a\n"}, check=refuse
        )
    assert list_versions(tmp_path / "m") == [] and list((tmp_path / "m").iterdir()) == []
    v = write_version(tmp_path, "m", lambda tmp: tmp.mkdir(), {"app": "x"}, {"labels.txt": "a\n"})
    assert v.name == "1" and json.loads((v / "metadata.json").read_text())["version"] == 1


def test_failed_export_check_keeps_no_version(exported, monkeypatch):
    from tfdl.export import savedmodel
    from tfdl.export.savedmodel import export_run_model, list_versions

    model_dir = exported.version.parent
    before = list_versions(model_dir)
    seen = []

    def bad_check(model, tmp, sample, atol=1e-3):
        seen.append(tmp)
        assert (tmp / "saved_model.pb").is_file()  # the check runs on the complete folder, before the rename
        raise TfdlError("the reloaded SavedModel disagrees with the Keras model")

    monkeypatch.setattr(savedmodel, "check_parity", bad_check)
    with pytest.raises(TfdlError, match="disagrees"):
        export_run_model(exported.app, exported.cfg, exported.model, exported.splits, exported.metrics,
                         exported.run_dir)  # fmt: skip
    assert seen and not seen[0].exists()
    assert list_versions(model_dir) == before and not list(model_dir.glob(".tmp-*"))


def test_models_cli_lists_and_removes(exported, capsys, tmp_path):
    from tfdl.cli import main

    root = tmp_path / "models"
    shutil.copytree(exported.version, root / "tiny" / "1", ignore=shutil.ignore_patterns("tflite"))
    shutil.copytree(exported.version, root / "tiny" / "2", ignore=shutil.ignore_patterns("tflite"))
    assert main(["models", "--model-root", str(root)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("tiny")]
    assert len(lines) == 2 and "v1" in lines[0] and "v2" in lines[1]
    assert f"accuracy={exported.metrics['test']['accuracy']}" in lines[0]
    assert main(["models", "rm", "tiny", "1", "--model-root", str(root)]) == 0
    assert not (root / "tiny" / "1").exists() and (root / "tiny" / "2").is_dir()
    assert not list((root / "tiny").glob(".rm-*"))
    assert main(["models", "rm", "tiny", "1", "--model-root", str(root)]) == 2
    assert "versions: 2" in capsys.readouterr().err


def test_load_run_refuses_code_in_a_keras_file(tmp_path):
    import keras

    from tests.export.helpers import tiny_app, tiny_splits
    from tfdl.config import RunConfig, dump_yaml
    from tfdl.pipeline import load_run

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp))
    model.save(tmp_path / "model.keras")
    dump_yaml(RunConfig(), tmp_path / "config.yaml")
    with pytest.raises(ValueError, match="safe_mode"):
        load_run(tiny_app(tiny_splits(n_train=3, n_test=3)), tmp_path)
