"""A TensorFlow-Serving-compatible REST server for exported versions, with micro-batching and hot reload.

``tfdl.serving.server.create_app(model_root)`` builds the FastAPI app; ``serve(...)`` runs it with uvicorn.
``contract`` holds the REST contract around one version (bodies, metadata, uploads), ``middleware`` the
413 limit and request metrics, ``tensors`` the JSON <-> tensor rules, ``store`` the versions on disk and
``batching`` the micro-batcher.
"""
