"""Model factories: output shapes, parameter counts, argument checks, mixed precision, inputs/preprocess."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfdl.models import (
    FACTORIES,
    attention_model,
    build_autoencoder,
    build_cnn,
    build_mlp,
    build_resnet,
    build_rnn,
    build_transformer,
    get_decoder,
    get_encoder,
    last_conv_layer_name,
)

RNG = np.random.default_rng(0)
TOKENS = RNG.integers(1, 20, size=(3, 6)).astype("int32")

# (factory, args, kwargs, example batch, expected output shape)
CASES = {
    "mlp": (build_mlp, ((4, 3), 5), {}, RNG.random((3, 4, 3)), (3, 5)),
    "mlp_regression_bn": (
        build_mlp,
        ((4,), 1),
        {"batch_norm": True, "output_activation": None},
        RNG.random((3, 4)),
        (3, 1),
    ),
    "cnn_gray_flatten": (
        build_cnn,
        ((8, 8), 3),
        {"filters": (4, 8), "pooling": "flatten"},
        RNG.random((3, 8, 8)),
        (3, 3),
    ),
    "cnn_rgb_avg": (
        build_cnn,
        ((8, 8, 3), 4),
        {"filters": (4,), "dense_units": 0},
        RNG.random((3, 8, 8, 3)),
        (3, 4),
    ),
    "resnet_gray": (build_resnet, ((8, 8), 3), {"filters": (4, 8)}, RNG.random((3, 8, 8)), (3, 3)),
    "resnet_rgb_stride1": (
        build_resnet,
        ((8, 8, 3), 4),
        {"filters": (4,), "stem_stride": 1, "blocks_per_stage": 2, "dropout": 0.1},
        RNG.random((3, 8, 8, 3)),
        (3, 4),
    ),
    "rnn_lstm_numeric": (build_rnn, ((6, 2), 3), {"units": (4, 4)}, RNG.random((3, 6, 2)), (3, 3)),
    "rnn_gru_tokens_bi_avg": (
        build_rnn,
        ((6,), 2),
        {
            "cell": "gru",
            "units": (4,),
            "vocab_size": 20,
            "bidirectional": True,
            "return_sequences_pooling": "avg",
            "dense_units": 5,
        },
        TOKENS,
        (3, 2),
    ),
    "rnn_simple_unroll": (
        build_rnn,
        ((6, 2), 4),
        {"cell": "simple", "units": (3,), "unroll": True, "output_activation": None},
        RNG.random((3, 6, 2)),
        (3, 4),
    ),
    "ae_dense": (build_autoencoder, ((4, 3),), {"hidden": (6,)}, RNG.random((3, 4, 3)), (3, 4, 3)),
    "ae_conv_vae_denoise": (
        build_autoencoder,
        ((8, 8),),
        {"conv": True, "filters": (4, 4), "variational": True, "denoising_std": 0.1, "hidden": ()},
        RNG.random((3, 8, 8)),
        (3, 8, 8),
    ),
    "tf_tokens_cls_mask": (
        build_transformer,
        ((6,), 3),
        {"vocab_size": 20, "embed_dim": 8, "num_heads": 2, "ff_dim": 8, "pooling": "cls", "mask_zero": True},
        TOKENS,
        (3, 3),
    ),
    "tf_numeric_sin_none": (
        build_transformer,
        ((6, 2), 1),
        {
            "embed_dim": 8,
            "num_layers": 1,
            "positions": "sinusoidal",
            "pooling": "none",
            "output_activation": None,
        },
        RNG.random((3, 6, 2)),
        (3, 6, 1),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_output_shapes(case):
    factory, args, kwargs, x, expected = CASES[case]
    model = factory(*args, **kwargs)
    assert isinstance(model, keras.Model) and not model.compiled
    y = model.predict(x, verbose=0)
    assert y.shape == expected
    assert np.all(np.isfinite(y))


def test_parameter_counts():
    # mlp: dense1 4*5+5=25, predictions 5*3+3=18 -> 43
    assert build_mlp((4,), 3, units=(5,)).count_params() == 43
    # mlp + BN: dense1 without bias 20, BN 4*5=20 (gamma, beta, mean, var), predictions 18 -> 58
    assert build_mlp((4,), 3, units=(5,), batch_norm=True).count_params() == 58
    # cnn: conv1 3*3*1*4=36 (no bias), bn 16, conv2 3*3*4*4=144, bn 16, fc 4*6+6=30, predictions 6*3+3=21
    assert build_cnn((8, 8, 1), 3, filters=(4,), dense_units=6, pooling="avg").count_params() == 263
    # same with flatten: pool output 4*4*4=64, fc 64*6+6=390 -> 36+16+144+16+390+21 = 623
    assert build_cnn((8, 8, 1), 3, filters=(4,), dense_units=6, pooling="flatten").count_params() == 623
    # resnet: stem 3*3*1*4=36 + bn 16; block: 2 x (conv 3*3*4*4=144 + bn 16) = 320; predictions 4*3+3=15
    assert build_resnet((8, 8, 1), 3, filters=(4,)).count_params() == 387
    # flatten head: the stride-2 stem leaves 4*4*4=64 features, predictions 64*3+3=195 -> 52+320+195
    assert build_resnet((8, 8, 1), 3, filters=(4,), pooling="flatten").count_params() == 567
    # + stage 2: conv 3*3*4*8=288 + bn 32, block 2 x (3*3*8*8=576 + 32) = 1216; predictions 8*3+3=27
    assert build_resnet((8, 8, 1), 3, filters=(4, 8)).count_params() == 52 + 320 + 288 + 32 + 1216 + 27
    # lstm: 4 gates * (4*(3+4) + 4) = 128, predictions 4*2+2=10 -> 138
    assert build_rnn((5, 3), 2, units=(4,)).count_params() == 138
    # embedding 10*3=30, bidirectional lstm 2 * 4*(4*(3+4)+4)=256, predictions 8*2+2=18 -> 304
    assert (
        build_rnn((6,), 2, units=(4,), vocab_size=10, embedding_dim=3, bidirectional=True).count_params()
        == 304
    )
    # ae: enc 6*4+4=28, latent 4*2+2=10, dec 2*4+4=12, out 4*6+6=30 -> 80; vae: + z_log_var 10 -> 90
    assert build_autoencoder((6,), hidden=(4,)).count_params() == 80
    assert build_autoencoder((6,), hidden=(4,), variational=True).count_params() == 90
    # transformer: tokens 10*4=40, positions 5*4=20; block: q,k,v 3*(4*2*2+2*2)=60, attn out 2*2*4+4=20,
    # 2 LayerNorms 16, ffn 4*8+8=40 and 8*4+4=36 -> 172; predictions 4*2+2=10 -> 242 (+4 for [CLS])
    kw = dict(vocab_size=10, embed_dim=4, num_heads=2, ff_dim=8, num_layers=1)
    assert build_transformer((5,), 2, **kw).count_params() == 242
    assert build_transformer((5,), 2, pooling="cls", **kw).count_params() == 246


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: build_mlp((4,), 0), "outputs=0"),
        (lambda: build_mlp((4,), 2, units=(8, -1)), "units="),
        (lambda: build_mlp((4,), 2, dropout=1.5), "dropout=1.5"),
        (lambda: build_mlp((4,), 2, output_activation="relu6"), "output_activation='relu6'"),
        (lambda: build_mlp(None, 2), "input_shape=None"),
        (lambda: build_mlp((4,), 2, inputs=np.zeros(3)), "inputs="),
        (lambda: build_mlp((4,), 2, preprocess="scale"), "preprocess"),
        (lambda: build_cnn((8, 8, 1), 3, pooling="max"), "pooling='max'"),
        (lambda: build_cnn((8,), 3), "input_shape="),
        (lambda: build_resnet((8, 8), 3, stem_stride=3), "stem_stride=3"),
        (lambda: build_resnet((8, 8), 3, blocks_per_stage=-1), "blocks_per_stage=-1"),
        (lambda: build_resnet((8, 8), 3, filters=()), "filters=()"),
        (lambda: build_resnet((8, 8), 3, pooling="max"), "pooling='max'"),
        (lambda: build_resnet((8, 8), 3, flip_tta="yes"), "flip_tta='yes'"),
        (lambda: build_resnet((8, 8), 3, downsample="avg"), "downsample='avg'"),
        (lambda: build_rnn((6, 2), 2, cell="transformer"), "cell='transformer'"),
        (lambda: build_rnn((None, 2), 2, unroll=True), "timesteps=None"),
        (lambda: build_rnn((6, 2), 2, vocab_size=20), "token ids"),
        (lambda: build_autoencoder((10, 10), conv=True, filters=(4, 4)), "divisible by 4"),
        (lambda: build_autoencoder((6,), kl_weight=-1), "kl_weight=-1"),
        (lambda: build_transformer((6,), 2, vocab_size=20, positions="rope"), "positions='rope'"),
        (lambda: build_transformer((None, 3), 2), "seq_len=None"),
    ],
)
def test_bad_arguments_raise_value_error(call, needle):
    with pytest.raises(ValueError, match="Received") as err:
        call()
    assert needle in str(err.value)


@pytest.fixture
def bf16_policy():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize(
    "case",
    ["mlp", "cnn_rgb_avg", "resnet_gray", "rnn_gru_tokens_bi_avg", "ae_conv_vae_denoise"]
    + ["tf_tokens_cls_mask"],
)
def test_mixed_bfloat16_outputs_float32(bf16_policy, case):
    factory, args, kwargs, x, expected = CASES[case]
    model = factory(*args, **kwargs)
    assert model.layers[1].compute_dtype == "bfloat16" or any(
        layer.compute_dtype == "bfloat16" for layer in model.layers
    )
    assert model.output.dtype == "float32"
    y = model.predict(x, verbose=0)
    assert y.dtype == np.float32 and y.shape == expected


def test_inputs_and_preprocess_put_raw_preprocessing_inside():
    raw = {"a": keras.Input((2,), name="a"), "b": keras.Input((3,), name="b")}
    model = build_mlp(
        None,
        2,
        inputs=raw,
        units=(4,),
        preprocess=lambda d: keras.layers.Concatenate(name="join")([d["a"], d["b"]]),
    )
    assert sorted(t.name for t in model.inputs) == ["a", "b"]
    y = model.predict({"a": np.ones((2, 2)), "b": np.zeros((2, 3))}, verbose=0)
    assert y.shape == (2, 2)
    with pytest.raises(ValueError, match="preprocess"):
        build_mlp(None, 2, inputs=raw)  # a dict needs a preprocess that joins it

    model = build_cnn((8, 8, 1), 2, filters=(4,), preprocess=keras.layers.Rescaling(1 / 255, name="scale"))
    assert model.get_layer("scale") is not None
    assert last_conv_layer_name(model) == "block1_conv2"


def test_cnn_last_conv_layer_is_named_for_grad_cam():
    model = build_cnn((16, 16, 1), 10)
    assert last_conv_layer_name(model) == "block2_conv2"
    assert model.get_layer("block2_conv2").output.shape == (None, 8, 8, 64)


def test_resnet_halves_early_and_names_its_last_conv_for_grad_cam():
    model = build_resnet((28, 28), 10)
    assert model.get_layer("stem_conv").output.shape == (None, 14, 14, 32)
    assert last_conv_layer_name(model) == "stage2_block1_conv2"
    assert model.get_layer("stage2_block1_conv2").output.shape == (None, 7, 7, 64)
    assert build_resnet((28, 28), 10, stem_stride=1).get_layer("stem_conv").output.shape == (None, 28, 28, 32)


def test_resnet_a_few_steps_lower_the_loss_and_it_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    x = RNG.random((64, 12, 12)).astype("float32")
    y = (x[:, :6].mean(axis=(1, 2)) > x[:, 6:].mean(axis=(1, 2))).astype("int32")  # top half brighter?
    model = build_resnet((12, 12), 2, filters=(8, 16))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.7 * before
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_resnet_stem_pool_sees_every_pixel_then_halves():
    model = build_resnet((28, 28), 10, stem_stride=1, stem_pool=True)
    assert model.get_layer("stem_conv").output.shape == (None, 28, 28, 32)
    assert model.get_layer("stem_pool").output.shape == (None, 14, 14, 32)
    assert model.get_layer("stage2_block1_conv2").output.shape == (None, 7, 7, 64)
    # same parameters as the stride-2 stem: pooling has no weights
    assert model.count_params() == build_resnet((28, 28), 10).count_params()


def test_resnet_flip_tta_averages_the_image_and_its_mirror_only_at_inference(tmp_path):
    keras.utils.set_random_seed(0)
    x = RNG.random((5, 8, 8, 1)).astype("float32")
    tta = build_resnet((8, 8, 1), 3, filters=(4,), pooling="flatten", flip_tta=True)
    plain = build_resnet((8, 8, 1), 3, filters=(4,), pooling="flatten")
    assert tta.count_params() == plain.count_params() == 567  # the views add no weights
    plain.set_weights(tta.get_weights())
    expected = 0.5 * (plain.predict(x, verbose=0) + plain.predict(x[:, :, ::-1], verbose=0))
    got = tta.predict(x, verbose=0)
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    tta.save(tmp_path / "tta.keras")
    again = keras.models.load_model(tmp_path / "tta.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), got, atol=1e-5)
    # training sees one view: the same outputs as the plain model in training mode (BN batch statistics)
    np.testing.assert_allclose(tta(x, training=True), plain(x, training=True), atol=1e-5)


def test_sparse_smoothed_crossentropy_matches_the_formula_and_reloads(tmp_path):
    from tfdl.models import SparseSmoothedCrossentropy

    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    y = np.array([0, 1])
    eps = 0.3
    target = np.full((2, 3), eps / 3) + (1 - eps) * np.eye(3)[y]
    expected = -(target * np.log(p)).sum(axis=1).mean()
    got = float(SparseSmoothedCrossentropy(eps)(y, p))
    assert got == pytest.approx(expected, rel=1e-5)
    plain = float(keras.losses.SparseCategoricalCrossentropy()(y, p))
    assert float(SparseSmoothedCrossentropy(0.0)(y[:, None], p)) == pytest.approx(plain, rel=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        SparseSmoothedCrossentropy(1.0)
    model = build_mlp((3,), 3, units=(4,))
    model.compile(optimizer="adam", loss=SparseSmoothedCrossentropy(0.1))
    model.fit(p, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").loss.label_smoothing == pytest.approx(0.1)


def test_autoencoder_encoder_and_decoder():
    model = build_autoencoder((4, 3), latent_dim=3, hidden=(6,))
    assert get_encoder(model) is model.encoder and get_decoder(model) is model.decoder
    code = get_encoder(model).predict(RNG.random((5, 4, 3)), verbose=0)
    assert code.shape == (5, 3)
    assert get_decoder(model).predict(code, verbose=0).shape == (5, 4, 3)
    vae = build_autoencoder((6,), variational=True, latent_dim=2)
    z_mean, z_log_var, z = get_encoder(vae).predict(RNG.random((4, 6)), verbose=0)
    np.testing.assert_allclose(z, z_mean)  # inference uses the posterior mean
    # denoising noise is training-only: inference is deterministic
    den = build_autoencoder((6,), denoising_std=0.5)
    x = RNG.random((4, 6))
    np.testing.assert_array_equal(den.predict(x, verbose=0), den.predict(x, verbose=0))


def test_attention_model_scores():
    model = build_transformer((6,), 2, vocab_size=20, embed_dim=8, num_heads=2, num_layers=2, mask_zero=True)
    assert model.get_layer("block1").attention.name == "block1_attention"
    x = TOKENS.copy()
    x[:, 4:] = 0  # padding
    scores = attention_model(model).predict(x, verbose=0)
    assert [s.shape for s in scores] == [(3, 2, 6, 6), (3, 2, 6, 6)]
    np.testing.assert_allclose(scores[0].sum(-1), 1.0, atol=1e-5)
    assert np.all(scores[1][..., 4:] == 0)  # padded keys get no attention


def test_factories_dict():
    assert set(FACTORIES) == {"mlp", "cnn", "resnet", "rnn", "autoencoder", "transformer"}


@pytest.mark.parametrize("downsample", ["conv_pool", "pool_conv", "stride"])
def test_resnet_downsample_halves_stage_two_and_keeps_the_weights(downsample):
    """Each way of halving the resolution gives stage 2 a 7x7 map on 28x28 inputs and the same weights;
    pooling or striding before the convolution runs it on a quarter of the positions."""
    model = build_resnet((28, 28), 10, filters=(8, 16), downsample=downsample, pooling="flatten")
    conv = model.get_layer("stage2_conv")
    assert tuple(model.get_layer("stage2_block1_add").output.shape[1:]) == (7, 7, 16)
    assert tuple(conv.output.shape[1:3]) == ((14, 14) if downsample == "conv_pool" else (7, 7))
    assert (
        model.count_params() == build_resnet((28, 28), 10, filters=(8, 16), pooling="flatten").count_params()
    )
    assert model(RNG.random((2, 28, 28)).astype("float32")).shape == (2, 10)
