"""Prometheus metrics for the server: requests, latency, batch sizes, errors, loaded versions.

Per route: ``tfdl_requests`` / ``tfdl_request_errors`` / ``tfdl_request_latency_seconds`` by model and verb
(every request, bad ones included). Per served signature (TensorFlow Serving users ask for these,
tensorflow/serving#1959): ``tfdl_model_latency_seconds`` by model, version, signature, verb and protocol
(rest / grpc) for answered model requests, and ``tfdl_batch_size`` by model, version, signature.

One ``CollectorRegistry`` per app instance, so several servers (tests, benchmarks) in one process do
not collide on metric names.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tfdl_requests", "HTTP requests", ["model", "verb", "code"], registry=self.registry
        )
        self.errors = Counter(
            "tfdl_request_errors",
            "requests answered 4xx/5xx",
            ["model", "verb", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tfdl_request_latency_seconds",
            "request latency",
            ["model", "verb"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.model_latency = Histogram(
            "tfdl_model_latency_seconds",
            "latency of answered model requests, from request to response",
            ["model", "version", "signature", "verb", "protocol"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.batch = Histogram(
            "tfdl_batch_size",
            "rows per model call",
            ["model", "version", "signature"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.loaded = Gauge(
            "tfdl_model_version", "version served by default", ["model"], registry=self.registry
        )

    def observe_request(self, model: str, verb: str, code: int, seconds: float) -> None:
        self.requests.labels(model, verb, str(code)).inc()
        self.latency.labels(model, verb).observe(seconds)
        if code >= 400:
            self.errors.labels(model, verb, str(code)).inc()

    def observe_batch(self, model: str, version: int, rows: int, signature: str = "serving_default") -> None:
        self.batch.labels(model, str(version), signature).observe(rows)

    def observe_model(
        self, model: str, version: int, signature: str, verb: str, protocol: str, seconds: float
    ) -> None:
        self.model_latency.labels(model, str(version), signature, verb, protocol).observe(seconds)

    def set_loaded(self, store: Any) -> None:
        for name, version in store.latest.items():
            self.loaded.labels(name).set(version)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
