import pytest

from tfdl.config import RunConfig, apply_overrides, build_config, load_yaml
from tfdl.errors import TfdlError


def test_overrides_parse_yaml_values():
    raw = apply_overrides(
        {}, ["train.epochs=3", "train.learning_rate=0.01", "model.units=[64, 32]", "data.path=x y"]
    )
    assert raw == {
        "train": {"epochs": 3, "learning_rate": 0.01},
        "model": {"units": [64, 32]},
        "data": {"path": "x y"},
    }


def test_unknown_key_names_key_and_allowed_values():
    with pytest.raises(TfdlError) as e:
        build_config(RunConfig, {}, ["train.epoch=3"])
    msg = str(e.value)
    assert "train.epoch" in msg and "epochs" in msg and "\n" not in msg


def test_wrong_type_and_bad_literal():
    with pytest.raises(TfdlError, match="train.epochs"):
        build_config(RunConfig, {}, ["train.epochs=many"])
    with pytest.raises(TfdlError, match="adamw"):
        build_config(RunConfig, {}, ["train.optimizer=adamx"])
    with pytest.raises(TfdlError, match="train.epochs"):
        build_config(RunConfig, {}, ["train.epochs=0"])


def test_model_section_is_open_and_set_needs_equals():
    cfg = build_config(RunConfig, {}, ["model.name=cnn", "model.dropout=0.1"])
    assert cfg.model.name == "cnn" and cfg.model.params() == {"dropout": 0.1}
    with pytest.raises(TfdlError, match="key=value"):
        build_config(RunConfig, {}, ["train.epochs"])


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(TfdlError, match="not valid YAML"):
        load_yaml(bad)
    with pytest.raises(TfdlError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  epochs: 2\n  optimizer: lion\n")
    cfg = build_config(RunConfig, load_yaml(good), ["train.epochs=4"])
    assert cfg.train.epochs == 4 and cfg.train.optimizer == "lion"


def test_model_defaults_sit_between_app_defaults_and_the_user():
    from apps.text import APP
    from tfdl.pipeline import resolve_config

    nbsvm = resolve_config(APP, {}, [])  # the default model, nbsvm, trains at its own learning rate
    assert (nbsvm.model.name, nbsvm.train.learning_rate, nbsvm.train.epochs) == ("nbsvm", 0.003, 20)
    gru = resolve_config(APP, {}, ["model.name=gru"])  # other models keep the app's defaults
    assert (gru.train.learning_rate, gru.train.epochs, gru.train.batch_size) == (0.001, 8, 64)
    from_file = resolve_config(APP, {"train": {"learning_rate": 0.01}}, ["train.epochs=3"])
    assert (from_file.train.learning_rate, from_file.train.epochs) == (0.01, 3)  # the user wins


@pytest.mark.parametrize(
    ("app_name", "key"),
    [("text", "model.bogus=1"), ("text", "model.inputs=x"), ("vision", "model.fliters=8")],
)
def test_model_keys_of_forwarding_builders_are_checked_before_anything_runs(workdir, capsys, app_name, key):
    from tfdl.cli import main

    assert main(["train", app_name, "--no-export", "--set", key]) == 2
    err = capsys.readouterr().err
    name = key.split("=")[0]
    assert f"unknown config key '{name}' for model" in err and err.count("\n") == 1
    assert "allowed: name, " in err and not (workdir / "runs").exists()


def test_forwarded_model_keys_are_the_builders_and_the_factorys_less_what_it_sets():
    from apps.tabular import APP as tabular
    from apps.text import APP as text
    from tfdl.pipeline import model_param_names

    assert model_param_names(text, "bow") is None  # without importing the factory: unknown
    bow = model_param_names(text, "bow", forwarded=True)
    assert {"max_tokens", "ngrams", "normalize", "units", "activation", "batch_norm"} <= set(bow)
    assert not {"inputs", "preprocess", "name"} & set(bow)
    ft = model_param_names(tabular, "ft_transformer", forwarded=True)
    assert "num_heads" in ft and not {"vocab_size", "pooling", "mask_zero"} & set(ft)
