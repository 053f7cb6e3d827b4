"""A Fashion-MNIST CNN exported once per session (the Grad-CAM tests and the browser test copy it)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def fashion_version(tmp_path_factory):
    """The exported version folder (saved_models/fashion/1) of a small CNN trained on Fashion-MNIST."""
    from tests.serving.helpers import export_fashion

    return export_fashion(tmp_path_factory.mktemp("fashion_models"))
