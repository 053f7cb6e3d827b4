"""``tfdl serve --workers N``: N server processes behind one port, the way ``uvicorn --workers`` and
gunicorn run them.

uvicorn's supervisor binds the socket once and starts N processes (spawned, so each imports
TensorFlow and loads the models itself) that accept connections from the shared socket; a worker that
dies is restarted. Each worker is a full ``create_app``: its own model store polling the model root, so a
newly exported version is picked up by every worker within ``poll_seconds``; its own micro-batcher; its
own ``/metrics`` (Prometheus scrapes whichever worker answers: sum across workers is not attempted); its
own request-log file (``requests-<pid>.jsonl``) in a shared ``--log-requests`` folder. ``/healthz`` says
which process answered (``pid``).

The worker processes rebuild the app from ``app_factory`` (uvicorn needs an import string to start
workers); the options travel in the ``TFDL_SERVE_OPTIONS`` environment variable as JSON.
"""

from __future__ import annotations

import json
import os
from typing import Any

ENV = "TFDL_SERVE_OPTIONS"


def app_factory():
    """The app of one worker process, from the options ``run_workers`` put in the environment."""
    from tfdl.serving.server import create_app

    options = json.loads(os.environ[ENV])
    return create_app(options.pop("model_root"), **options)


def run_workers(model_root: str, options: dict[str, Any], host: str, port: int, workers: int) -> None:
    import uvicorn

    from tfdl.errors import TfdlError

    if options.get("grpc_port") is not None:
        raise TfdlError("--grpc-port serves from one process; use it without --workers (or --workers 1)")
    # uvicorn's own settings (log level, access log) are not create_app's: split them off.
    server = {k: options.pop(k) for k in ("log_level", "access_log") if k in options}
    os.environ[ENV] = json.dumps({"model_root": model_root, **options})
    uvicorn.run(
        "tfdl.serving.workers:app_factory",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        timeout_graceful_shutdown=5,
        **{"log_level": "info", **server},
    )
