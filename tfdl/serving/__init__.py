"""A TensorFlow-Serving-compatible REST server for exported versions, with micro-batching and hot reload.

``tfdl.serving.server.create_app(model_root)`` builds the FastAPI app; ``serve(...)`` runs it with uvicorn.
"""
