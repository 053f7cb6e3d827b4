"""Two worker processes on 127.0.0.1 train one epoch with MultiWorkerMirroredStrategy and agree."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = r"""
import json, os, sys
import numpy as np
from tfdl.training.strategy import build_strategy, is_chief
import keras
keras.utils.set_random_seed(0)
strategy = build_strategy("multi_worker")
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 8)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")
with strategy.scope():
    from tfdl.models import build_mlp
    model = build_mlp((8,), 2, units=(16,), dropout=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy())
import tensorflow as tf
from tfdl.training.distributed import fit_distributed
ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(32)
hist = fit_distributed(
    model, ds, epochs=1, steps_per_epoch=8, global_batch_size=32, strategy=strategy, log=lambda m: None
)
assert np.isfinite(hist["loss"][0])
np.savez(sys.argv[1], *[w for w in model.get_weights()], chief=np.array(is_chief()))
"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_finish_with_same_weights(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tmp_path / f"w{i}.npz")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert bool(w0["chief"]) and not bool(w1["chief"])
    keys = [k for k in w0.files if k.startswith("arr_")]
    assert keys
    for k in keys:
        np.testing.assert_allclose(w0[k], w1[k], rtol=1e-6, atol=1e-6)
