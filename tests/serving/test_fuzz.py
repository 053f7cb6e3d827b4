"""Fuzz the server's OpenAPI schema with schemathesis (bounded): no request may produce a 5xx. The models:
a tiny image classifier (occlusion), a Fashion-MNIST CNN (Grad-CAM signature) and a table classifier."""

from __future__ import annotations

import pytest

from tests.serving.helpers import export_tabular, export_vision, running

schemathesis = pytest.importorskip("schemathesis")


@pytest.mark.slow
def test_openapi_fuzz_never_returns_5xx(tmp_path, fashion_version):
    import shutil

    from hypothesis import HealthCheck, given, settings

    from tfdl.serving.server import create_app

    export_vision(tmp_path)
    shutil.copytree(fashion_version, tmp_path / "fashion" / "1")
    export_tabular(tmp_path, "credit", "classification")
    app = create_app(tmp_path, max_batch=8, batch_wait_ms=2, poll_seconds=60, max_body_bytes=100_000)
    with running(app) as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        failures: list[str] = []
        operations, calls = 0, []
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @settings(
                max_examples=15,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def check(case):
                response = case.call(base_url=base, timeout=30)
                calls.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

            check()
        assert operations >= 5  # the TF Serving routes, upload, healthz, metrics
        assert len(calls) >= 3 * operations  # the fuzzer really sent requests
        assert any(400 <= c < 500 for c in calls)  # and some were bad ones, answered as client errors
        assert not failures, failures[:5]
