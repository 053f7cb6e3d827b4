"""Write tests/module_seconds.json (seconds per test module, setup included) from a JUnit XML report.

`make test-times` runs the suite with ``--junitxml`` and calls this; tests/conftest.py reads the file to hand
the longest modules to the pytest-xdist workers first (see ``pytest_collection_modifyitems`` there).
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).with_name("module_seconds.json")


def module_seconds(junit_xml: str | Path) -> dict[str, float]:
    """``{"tests/x/test_y.py": seconds}`` summed over the report's test cases (``classname`` is the dotted
    module path, plus the class for test methods)."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        while parts and not parts[-1].startswith("test_"):  # drop a test class: the module is the unit
            parts.pop()
        if parts:
            totals["/".join(parts) + ".py"] += float(case.get("time", 0.0))
    return {k: round(v, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/module_times.py REPORT.xml")
    OUT.write_text(json.dumps(module_seconds(sys.argv[1]), indent=1) + "\n")
    print(f"wrote {OUT.name}: {len(json.loads(OUT.read_text()))} modules")
