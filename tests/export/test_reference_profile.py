"""Export writes the drift reference profile into the version (tfdl.monitoring.profile)."""

from __future__ import annotations

import json

from tests.export.helpers import LABELS


def test_version_holds_an_image_profile(exported):
    profile = json.loads((exported.version / "reference_profile.json").read_text())
    (kind,) = {v["kind"] for v in profile["summarizer"].values()}
    assert kind == "image"
    assert profile["source"] == "training split"  # 60 validation images: under the 200 a profile wants
    assert profile["n_rows"] == len(exported.splits.y_train)
    assert len(next(iter(profile["histograms"].values()))) == 16
    counts = profile["prediction"]["counts"]
    assert set(counts) <= set(LABELS) and sum(counts.values()) == profile["n_rows"]
    # the trained CNN answers all three classes on its training images: the mix is the model's, not fixed
    assert len(counts) == 3
