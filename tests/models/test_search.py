"""Search spaces: every factory's SEARCH_SPACE samples into kwargs the factory accepts."""

from __future__ import annotations

import keras_tuner as kt
import pytest

from tfdl.models import FACTORIES, SEARCH_SPACES, build_cnn, build_mlp
from tfdl.models.search import defaults, sample

TINY = {
    "mlp": ((4,), 2),
    "cnn": ((8, 8, 1), 2),
    "resnet": ((8, 8, 1), 2),
    "rnn": ((5, 2), 2),
    "autoencoder": ((6,),),
    "transformer": ((5, 2), 2),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_sampled_kwargs_build_a_model(name):
    factory, space = FACTORIES[name], SEARCH_SPACES[name]
    assert set(space) <= set(defaults(factory)), "every tuned name must be a factory keyword"
    hp = kt.HyperParameters()
    kwargs = sample(hp, space)
    assert set(kwargs) == set(space)
    # Without a trial, each hp takes its default: the factory's own default where it is in range.
    for key, value in kwargs.items():
        if defaults(factory)[key] in _candidates(space[key]):
            assert value == defaults(factory)[key], key
    model = factory(*TINY[name], **kwargs)
    assert model.count_params() > 0


def _candidates(spec):
    return spec[1] if spec[0] == "choice" else [v for v in (0.0, 0.1, 0.2, 1, 2) if spec[1] <= v <= spec[2]]


def test_trial_values_decode_tuples_and_fixed_values_win():
    seen = set()
    for encoded in ["16,32", "32,64", "32,64,128"]:
        hp = kt.HyperParameters()
        sample(hp, SEARCH_SPACES["cnn"])  # registers the hyperparameters, as a tuner's first build does
        hp.values["filters"] = encoded  # what a trial stores: Choice holds scalars only
        hp.values["pooling"] = "flatten"
        kwargs = sample(hp, SEARCH_SPACES["cnn"])
        assert isinstance(kwargs["filters"], tuple) and kwargs["pooling"] == "flatten"
        seen.add(kwargs["filters"])
        build_cnn((8, 8, 1), 2, **kwargs)
    assert seen == {(16, 32), (32, 64), (32, 64, 128)}

    hp = kt.HyperParameters()
    kwargs = sample(hp, SEARCH_SPACES["cnn"], fixed={"dense_units": 32, "filters": (8,), "kernel_size": 5})
    assert kwargs["dense_units"] == 32 and kwargs["filters"] == (8,) and kwargs["kernel_size"] == 5
    assert hp.get("dense_units") == 32 and hp.get("filters") == "8"
    assert build_cnn((8, 8, 1), 2, **kwargs).get_layer("block1_conv1").kernel.shape == (5, 5, 1, 8)


def test_none_choice_and_explicit_factory_defaults():
    space = {"return_sequences_pooling": ("choice", [None, "avg", "max"]), "units": ("int", 8, 64, 8)}
    hp = kt.HyperParameters()
    from tfdl.models import build_rnn

    kwargs = sample(hp, space, factory=build_rnn)
    assert kwargs["return_sequences_pooling"] is None  # stored as "none", decoded back
    assert hp.get("return_sequences_pooling") == "none"
    hp.values["return_sequences_pooling"] = "max"
    assert sample(hp, space, factory=build_rnn)["return_sequences_pooling"] == "max"


def test_float_log_and_bad_spec():
    hp = kt.HyperParameters()
    out = sample(hp, {"dropout": ("float", 0.01, 0.5, "log")}, factory=build_mlp)
    assert out["dropout"] == pytest.approx(0.2)  # build_mlp's default, in range
    with pytest.raises(ValueError, match="unknown search space kind"):
        sample(kt.HyperParameters(), {"dropout": ("uniform", 0, 1)})
