"""`tfdl bench`: lists the scripts of benchmarks/ by their docstrings and runs one, arguments passed on;
the library itself holds no benchmark and imports no app."""

from __future__ import annotations

import ast
from pathlib import Path

from tfdl.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_bench_lists_the_scripts_of_benchmarks(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no benchmarks/ here: the folder beside the package is used
    assert main(["bench"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name, script in [("vision", "vision_throughput.py"), ("vision-accuracy", "vision_accuracy.py"),
                         ("apps", "app_targets.py"), ("cv", "cv_targets.py"), ("serve", "serve_bench.py"),
                         ("tflite", "tflite_bench.py"), ("generalize", "generalize.py")]:  # fmt: skip
        assert name in lines and f"({script})" in lines[name], name
    assert "throughput of tfdl's training step" in lines["vision"]
    assert "generalize_data" not in " ".join(lines.values())  # a helper module, not a benchmark


def test_bench_runs_a_script_with_its_arguments_and_exit_code(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "echo.py").write_text(
        '"""`tfdl bench echo`: writes its arguments."""\n'
        "import sys\n"
        "open('args.txt', 'w').write(' '.join(sys.argv[1:]))\n"
        "sys.exit(3)\n"
    )
    assert main(["bench"]) == 0
    assert "echo" in capsys.readouterr().out
    assert main(["bench", "echo", "--rounds", "2", "x"]) == 3
    assert (tmp_path / "args.txt").read_text() == "--rounds 2 x"
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'; choose one of: echo" in capsys.readouterr().err


def test_the_library_imports_no_app():
    for path in (ROOT / "tfdl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] != "apps", path
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "apps" for a in node.names), path
