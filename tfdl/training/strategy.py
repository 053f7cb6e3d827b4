"""Distribution strategy from the config (tf.distribute; nothing home-made)."""

from __future__ import annotations

import json
import os

from tfdl.errors import TfdlError


def build_strategy(name: str):
    """``default`` (one device), ``mirrored`` (all local devices), ``multi_worker`` (hosts from TF_CONFIG)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise TfdlError(
                "train.distribution=multi_worker needs TF_CONFIG (cluster + task) in the environment; "
                'e.g. TF_CONFIG=\'{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, '
                '"task": {"type": "worker", "index": 0}}\''
            )
        try:
            json.loads(raw)
        except json.JSONDecodeError:
            raise TfdlError("TF_CONFIG is not valid JSON; fix the environment variable") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TfdlError(f"unknown train.distribution '{name}'; choose default, mirrored or multi_worker")


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker (only the chief writes outputs)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    cluster = json.loads(raw).get("cluster", {})
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0
