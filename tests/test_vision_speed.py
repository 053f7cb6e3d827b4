"""`tfdl bench vision-speed` (benchmarks/vision_speed.py): the FLOP count, the peak, and a quick run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import vision_speed as V  # noqa: E402


def test_forward_flops_counts_convolutions_and_dense_layers():
    import keras

    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inp)  # 2 * 8*8*4 * 3*3*1 = 4,608
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3)(x)  # 2 * 64 * 3 = 384
    assert V.forward_flops(keras.Model(inp, out)) == 4608 + 384


def test_peak_is_a_positive_rate_per_wall_and_per_cpu_second():
    wall, cpu = V.peak_gflops("float32", n=256, repeats=2)
    assert wall > 0.1 and cpu > 0.1


def _fashion_mnist_available() -> bool:
    from tfdl.data.images import DEBIAN_DIR, read_fashion_mnist_dir

    return read_fashion_mnist_dir(DEBIAN_DIR) is not None


@pytest.mark.slow
@pytest.mark.skipif(not _fashion_mnist_available(), reason="needs Fashion-MNIST (make data)")
def test_quick_run_prints_both_models_with_an_override_and_writes_nothing(tmp_path):
    bench = ROOT / "BENCHMARKS.md"
    before = bench.read_text() if bench.exists() else None
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "vision_speed.py"), "--quick", "--limit", "256",
         "--set", "model.downsample=conv_pool"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    new = [r for r in rows if r.startswith("| resnet (new default: model.downsample=conv_pool) | float32 |")]
    assert new and "augment flip + flip TTA" in new[0], out.stdout  # Fashion-MNIST: mirror on
    # --set reached the model: the convolution at full resolution, 21.9 forward MFLOP per image (default 16.4)
    assert "| 21.9 |" in new[0], new[0]
    assert any(r.startswith("| cnn (old default, 1 epochs) | float32 |") for r in rows), out.stdout
    assert "Peak (best 2048x2048 `tf.matmul`" in out.stdout and "GFLOP/s" in out.stdout
    assert (bench.read_text() if bench.exists() else None) == before  # --quick records nothing


def test_profile_groups_ops_by_layer_kind_and_direction():
    import vision_profile as P

    call = "while/body/StatefulPartitionedCall"
    assert P._kind(f"{call}/gradient_tape/resnet_1/stage1_block1_bn2_1/FusedBatchNormGradV3") == "grad:bn"
    assert P._kind(f"{call}/resnet_1/stage2_conv_1/convolution") == "fwd:conv"
    assert P._kind(f"{call}/resnet_1/tta_views_1/ReverseV2") == "fwd:flip"
    assert P._kind(f"{call}/adam_w/Sqrt") == "fwd:optimizer"
