"""`tfdl bench WHAT`: run a script of ``benchmarks/``; its numbers go to BENCHMARKS.md with the machine.

The library holds no benchmark and knows no app. A benchmark is a script in ``benchmarks/`` whose
docstring's first line is the backquoted command ``tfdl bench NAME``, a colon and what it measures
(what ``tfdl bench`` lists). ``tfdl bench NAME [ARGS...]`` runs it in a fresh interpreter from the
current folder, passing ARGS on; the scripts call :func:`record` to append their section.
"""

from __future__ import annotations

import ast
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from tfdl.errors import TfdlError

BENCH_FILE = Path("BENCHMARKS.md")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import importlib.metadata as md

    tf_version = next((md.version(p) for p in ("tensorflow-cpu", "tensorflow") if _has(p)), "?")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, TF {tf_version}, load avg {load:.1f} at start"


def _has(pkg: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(pkg)
        return True
    except md.PackageNotFoundError:
        return False


def record(title: str, command: str, lines: list[str]) -> Path:
    """Append a dated section to BENCHMARKS.md and return its path."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = (
        f"\n### {title} ({stamp})\n\nCommand: `{command}`  \nMachine: {machine()}\n\n"
        + "\n".join(lines)
        + "\n"
    )
    if not BENCH_FILE.exists():
        BENCH_FILE.write_text(
            "# Benchmarks\n\nEvery number here was written by the command shown beside it.\n"
        )
    with BENCH_FILE.open("a") as fh:
        fh.write(text)
    print(text)
    return BENCH_FILE


_NAME = re.compile(r"^`tfdl bench ([A-Za-z0-9_.-]+)`:?\s*(.*)$")


def benchmarks_dir() -> Path:
    """``benchmarks/`` of the current folder (a checkout), else the one beside the installed package."""
    here = Path("benchmarks")
    if here.is_dir():
        return here
    beside = Path(__file__).resolve().parents[1] / "benchmarks"
    if beside.is_dir():
        return beside
    raise TfdlError("no benchmarks/ folder here; run `tfdl bench` from the repository root")


def benchmarks() -> dict[str, tuple[Path, str]]:
    """Benchmark name -> (script, one-line summary), read from the scripts' docstrings (not imported)."""
    found = {}
    for path in sorted(benchmarks_dir().glob("*.py")):
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        except (SyntaxError, UnicodeDecodeError):
            continue
        m = _NAME.match(doc.splitlines()[0] if doc else "")
        if m:
            found[m.group(1)] = (path, m.group(2))
    return found


def run(what: str, args: list[str] | None = None) -> int:
    """Run benchmark ``what`` with ``args``; returns the script's exit code."""
    found = benchmarks()
    if what not in found:
        raise TfdlError(f"unknown benchmark '{what}'; choose one of: {', '.join(found)} (see `tfdl bench`)")
    return subprocess.run([sys.executable, str(found[what][0]), *(args or [])]).returncode
