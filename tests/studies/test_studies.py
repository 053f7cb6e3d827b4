"""`tfdl study NAME|list` (issue 16): every study at a tiny budget (a 120-image folder, one epoch), resume,
and the one-line exit-2 errors."""

from __future__ import annotations

import json

import pytest

from tfdl.cli import main
from tfdl.studies.catalog import STUDIES
from tfdl.studies.runner import slug

TINY = ["--set", "train.epochs=1", "--set", "data.val_fraction=0.2", "--budget", "900"]
# the study runs the longest at a tiny budget stay out of the quick suite
FAST = {"normalization"}


def _run(name: str, folder, *extra: str) -> int:
    data = ["--data", str(folder)] if folder else ["--set", "data.limit=300"]  # tabular: credit_data
    return main(["study", name, *data, *TINY, *extra])


@pytest.fixture
def text_csv(tmp_path):
    """120 short reviews, two classes told apart by their words."""
    import random

    rnd = random.Random(0)
    good, bad = ["great", "fun", "moving", "superb", "warm"], ["dull", "awful", "boring", "flat", "weak"]
    filler = ["the", "film", "was", "a", "story", "and", "really", "plot"]
    lines = ["text,label"]
    for i in range(120):
        words = rnd.sample(filler, 4) + rnd.sample(good if i % 2 else bad, 2)
        rnd.shuffle(words)
        lines.append(f"{' '.join(words)},{'pos' if i % 2 else 'neg'}")
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _study_dir(workdir, name: str):
    dirs = sorted((workdir / "runs" / "studies").glob(f"{name}-*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def _table_rows(md: str) -> list[list[str]]:
    lines = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| variant")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


# the studies of the classifier apps (the anomaly and forecast ones have their own tests below)
CLASSIFIERS = [n for n, s in STUDIES.items() if next(iter(s.apps)) in ("vision", "text", "tabular")]


def _two_variants(name: str) -> list[str]:
    """The first and the last variant of a study (batch-size: one of each group): `--variant` runs only
    those, so each study's tables, figures and reading are checked at a third of the training."""
    names = STUDIES[name].variant_names()
    return [names[0], names[-1]] if len(names) > 1 else names


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in CLASSIFIERS]
)
def test_study_at_a_tiny_budget_writes_its_table_figures_and_json(
    name, image_folder, text_csv, workdir, capsys
):
    from tfdl.app import get_app

    study = STUDIES[name]
    app = next(iter(study.apps))
    picked = _two_variants(name)
    # by slug for the first variant, by its name for the last
    chosen = [a for n in picked for a in ("--variant", n if n == picked[-1] else slug(n))]
    assert _run(name, {"vision": image_folder, "text": text_csv, "tabular": None}[app], *chosen) == 0
    out = capsys.readouterr().out
    d = _study_dir(workdir, name)
    meta = json.loads((d / "study.json").read_text())
    assert meta["finished"] and meta["study"] == name and meta["app"] == app
    assert [v["variant"] for v in meta["variants"]] == picked
    assert all(f"--variant {slug(n)}" in meta["command"] for n in picked)
    for v in meta["variants"]:
        assert v["epochs"] == 1 and v["parameters"] > 0 and v["train_seconds"] > 0
        if not v["stopped"].startswith("diverged"):
            assert 0 <= v["test"]["accuracy"] <= 1 and v["val"]["loss"] > 0
        assert (d / "variants").is_dir()
    md = (d / "study.md").read_text()
    rows = _table_rows(md)
    baseline = next(iter(get_app(app).baselines))
    assert [r[0] for r in rows] == [*picked, f"baseline: {baseline}"]
    assert all(r[2] == "1" for r in rows[:-1])  # the epochs column
    assert "## Reading" in md and "Test accuracy" in meta["reading"] and "load average" in md
    pngs = {p.name for p in d.glob("*.png")}
    expected = {
        "loss": "loss.png", "gap": "gap.png", "gradients": "gradients.png", "lr_range": "lr_range.png",
        "steps": "batch_size.png", "params": "parameters.png", "augment": "augmented_samples.png",
        "roc": "roc.png", "threshold": "threshold.png",
    }  # fmt: skip
    assert pngs == {expected[f] for f in study.figures}
    assert all((d / p).stat().st_size > 10_000 for p in pngs)
    assert all(f"]({p})" in md for p in pngs)
    if study.gradients:
        for v in meta["variants"]:
            norms = v["gradient_norms"]
            assert len(norms) == 9  # 8 hidden layers + the output layer
            assert all(len(n["per_step"]) >= 1 and n["mean"] > 0 for n in norms.values())
        assert "gradient norm" in meta["reading"]
    if "threshold" in study.figures:
        th = meta["variants"][0]["threshold"]
        assert 0 < th["chosen"] < 1 and len(th["val_f1"]) == len(th["grid"]) == 99
        assert len(th["roc"]) == 1 + len(get_app(app).baselines)  # the model and every baseline
        assert all(0 <= c["auc"] <= 1 for c in th["roc"].values())
        assert "Chosen threshold" in meta["reading"]
    if "lr_range" in study.figures:
        assert meta["lr_range"]["steps_run"] >= 3 and meta["lr_range"]["lr_at_min_loss"] > 0
    assert str(d.relative_to(workdir) / "study.md") in out


@pytest.mark.slow  # two tiny studies
def test_a_killed_study_resumes_with_the_variants_it_had_finished(image_folder, workdir, capsys):
    assert _run("normalization", image_folder) == 0
    d = _study_dir(workdir, "normalization")
    meta = json.loads((d / "study.json").read_text())
    kept = d / "variants" / "none.json"
    before = kept.read_text()
    (d / "variants" / "layernorm.json").unlink()  # killed during its last variant
    meta["finished"] = False
    (d / "study.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert _run("normalization", image_folder) == 0
    out = capsys.readouterr().out
    assert _study_dir(workdir, "normalization") == d  # the same folder, not a new study
    assert "read back 2 finished variant(s): none, BatchNorm" in out
    assert kept.read_text() == before and (d / "variants" / "layernorm.json").is_file()
    again = json.loads((d / "study.json").read_text())
    assert again["finished"] and again["resumed_variants"] == 2 and len(again["variants"]) == 3


def test_unknown_study_is_one_line_exit_2(capsys):
    assert main(["study", "optimisers"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown study 'optimisers'" in err and "optimizers" in err


def test_an_app_the_study_does_not_run_on_is_one_line_exit_2(capsys):
    assert main(["study", "mlp-vs-cnn", "--app", "tabular"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "runs on the vision app, not tabular" in err


def test_a_budget_too_small_for_one_epoch_each_is_one_line_exit_2(image_folder, workdir, capsys):
    assert main(["study", "normalization", "--data", str(image_folder), "--budget", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--budget 0.5s is too small for study normalization" in err
    assert "give --budget" in err
    assert main(["study", "normalization", "--budget", "-3"]) == 2
    assert "--budget must be a positive number" in capsys.readouterr().err


def test_an_unknown_variant_is_one_line_exit_2_naming_the_choices(workdir, capsys):
    assert main(["study", "normalization", "--variant", "groupnorm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "study normalization has no variant 'groupnorm'" in err
    assert "'none', 'batchnorm', 'layernorm'" in err and "--variant" in err
    assert not (workdir / "runs").exists()


def test_study_list_names_every_study_and_what_is_left(capsys):
    assert main(["study", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in STUDIES)
    assert "threshold" in out and "timeseries" in out and "autoencoder-vs-pca" in out


def test_a_bad_set_key_is_caught_before_any_training(workdir, capsys):
    assert main(["study", "optimizers", "--set", "train.epoch=3"]) == 2
    assert "unknown config key 'train.epoch'" in capsys.readouterr().err
    assert not (workdir / "runs").exists()


@pytest.mark.slow  # four recurrent forecasters on 300 elecdemand windows, one epoch each (~20 s quiet)
def test_recurrent_on_the_forecast_compares_the_cells_with_the_baseline_in_mae(workdir, capsys):
    assert main(["study", "recurrent", "--app", "timeseries", "--set", "data.limit=300", *TINY]) == 0
    d = _study_dir(workdir, "recurrent")
    meta = json.loads((d / "study.json").read_text())
    assert meta["finished"] and meta["app"] == "timeseries" and meta["task"] == "forecast"
    variants = {v["variant"]: v for v in meta["variants"]}
    assert list(variants) == STUDIES["recurrent"].variant_names()
    params = {k: v["parameters"] for k, v in variants.items()}
    # one 32-unit layer: SimpleRNN < GRU < LSTM < bidirectional LSTM (twice the LSTM's recurrent weights)
    assert params["SimpleRNN"] < params["GRU"] < params["LSTM"] < params["bidirectional LSTM"]
    for v in variants.values():
        assert v["epochs"] == 1 and 0 < v["test"]["mae"] < 5 and v["test"]["rmse"] >= v["test"]["mae"]
    rows = _table_rows((d / "study.md").read_text())
    assert [r[0] for r in rows] == [*variants, "baseline: ridge"]
    assert "Test rmse" in meta["reading"] or "Test mae" in meta["reading"]
    assert "The baseline ridge scores" in meta["reading"]
    assert {p.name for p in d.glob("*.png")} == {"loss.png"}


@pytest.mark.slow  # two autoencoders on 300 Fashion-MNIST images, one epoch each, scored on 19,000 images
def test_autoencoder_vs_pca_draws_the_latent_maps_and_measures_both(workdir, capsys):
    assert main(["study", "autoencoder-vs-pca", "--set", "data.limit=300", *TINY]) == 0
    d = _study_dir(workdir, "autoencoder-vs-pca")
    meta = json.loads((d / "study.json").read_text())
    assert meta["finished"] and meta["app"] == "anomaly"
    assert [v["variant"] for v in meta["variants"]] == STUDIES["autoencoder-vs-pca"].variant_names()
    for v in meta["variants"]:
        rep = v["representation"]
        assert rep["pca_components"] == 2 and len(rep["latent"]) == len(rep["pca_latent"]) == 3000
        assert all(len(p) == 2 for p in rep["latent"][:5])
        assert 0 < rep["test_pca_reconstruction_mse"] < 1 and 0 < rep["test_reconstruction_mse"] < 1
        assert v["test"]["reconstruction_mse"] == rep["test_reconstruction_mse"]
        assert -1 <= rep["latent_silhouette"] <= 1 and -1 <= rep["pca_latent_silhouette"] <= 1
        assert len(rep["images"]["original"]) == 10 and rep["image_shape"] == [28, 28]
    pca = meta["variants"][0]["representation"]["test_pca_reconstruction_mse"]
    assert meta["baseline"]["test"]["reconstruction_mse"] == pca
    rows = _table_rows((d / "study.md").read_text())
    assert [r[0] for r in rows] == [*STUDIES["autoencoder-vs-pca"].variant_names(), "baseline: pca"]
    assert rows[-1][-1] == f"{pca:.4f}"
    assert "Test reconstruction MSE" in meta["reading"] and "silhouette" in meta["reading"]
    pngs = {p.name for p in d.glob("*.png")}
    assert pngs == {"loss.png", "reconstruction_error.png", "latent_2d.png", "reconstructions.png"}
    assert all((d / p).stat().st_size > 10_000 for p in pngs)
