"""A TensorFlow Serving-compatible REST + gRPC server for exported versions: micro-batching, hot reload.

``tfdl.serving.server.create_app(model_root)`` builds the FastAPI app; ``serve(...)`` runs it with uvicorn.
``contract`` holds the REST contract around one version (bodies, metadata, uploads), ``middleware`` the
413 limit and request metrics, ``tensors`` the JSON <-> tensor rules, ``store`` the versions on disk and
``batching`` the micro-batcher, ``fastjson`` / ``fastpath`` the fast numeric ``:predict`` path, ``litert``
the TFLite backend, ``grpc_service`` TF Serving's gRPC API, ``page`` the web page at ``/``.
"""
