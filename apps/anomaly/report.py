"""Anomaly: the report sections (threshold and score, reconstruction error per epoch vs PCA, 2-D latent
space, reconstructions, top rows of unlabelled data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from apps.anomaly import scoring as S
from apps.anomaly.baselines import _flat, _pca, _pca_scores
from tfdl.data.splits import Splits


def report(model, splits: Splits, metrics: dict, preds: dict, run_dir: Path) -> tuple[list, list]:
    """The report sections of :func:`report_sections` for the threshold ``fit_state`` chose."""
    thr = splits.info.threshold
    why = (splits.info.preprocessing or {}).get("rule", "")
    return [], report_sections(model, splits, run_dir, thr, why, S.predict(model, splits.x_val))


def report_sections(model, splits: Splits, run_dir: Path, thr: float, why: str, val_scores) -> list:
    """Report sections: the threshold rule, reconstruction error per epoch vs PCA, the 2-D latent space vs
    PCA-2 (when ``latent_dim == 2``), originals vs reconstructions (images), top rows (no labels)."""
    from tfdl.evaluation import representation as R

    info, plots = splits.info, Path(run_dir) / "plots"
    state = S.state_of(model)
    text = (
        f"Threshold **{thr:.6g}** on the anomaly score ({why}), chosen on the validation split "
        f"({len(val_scores)} rows); the test split is only scored. The baselines get their own threshold "
        f"by the same rule on the same validation rows. Score = {S.describe(state)} "
        f"(`{state['mode']}`; chosen by {state.get('why', 'default')})."
    )
    out, links = [("Threshold", text)], []
    hist = Path(run_dir) / "history.csv"
    if hist.is_file():
        refs = {
            f"PCA-{k} val reconstruction MSE": float(_pca_scores(_pca(splits, k), splits.x_val, info).mean())
            for k in sorted({info.extra["latent_dim"], 2})
        }
        R.error_per_epoch(hist, refs, plots / "reconstruction_error.png")
        links.append("![reconstruction error per epoch vs PCA](plots/reconstruction_error.png)")
    idx = np.random.default_rng(0).choice(len(splits.y_test), min(3000, len(splits.y_test)), replace=False)
    x_s = splits.x_test[idx]
    classes = info.extra.get("classes", {}).get("test")
    colour, names = (
        (classes[idx], info.extra["class_labels"])
        if classes is not None
        else (splits.y_test[idx], info.labels)
    )
    if info.extra["latent_dim"] == 2:
        codes = {
            "autoencoder latent (2-D)": encode(model, x_s),
            "PCA, 2 components": _pca(splits, 2).transform(_flat(x_s, info)),
        }
        R.latent_scatter(codes, colour, names, plots / "latent_2d.png")
        links.append(
            "![2-D latent space vs PCA-2 (test, coloured by the unused labels)](plots/latent_2d.png)"
        )
    if info.extra["image"]:
        pca = _pca(splits)
        flat = _flat(x_s[:10], info)
        rows = {
            "original": flat,
            "autoencoder": np.asarray(model.predict(x_s[:10], verbose=0)),
            f"PCA-{pca.n_components_}": pca.inverse_transform(pca.transform(flat)),
        }
        R.reconstruction_grid(rows, info.input_shape[:2], plots / "reconstructions.png")
        links.append("![originals, autoencoder and PCA reconstructions (test)](plots/reconstructions.png)")
    out.append(("Representation", "\n\n".join(links)))
    if not info.extra.get("labelled", True):
        s = S.predict(model, splits.x_test)
        top = np.argsort(-s)[:20]
        rows_md = "\n".join(f"| {i} | {s[i]:.6g} | {'yes' if s[i] >= thr else 'no'} |" for i in top)
        out.append(
            (
                "Rows above the threshold (test, no labels)",
                f"{int((s >= thr).sum())} of {len(s)} test rows score above the threshold. Top 20:\n\n"
                f"| test row | score | above |\n|---|---|---|\n{rows_md}",
            )
        )
    return out


def encode(model, x) -> np.ndarray:
    """Raw inputs -> (N, latent_dim) codes (the VAE's z_mean)."""
    import keras

    from tfdl.models import get_encoder

    code = get_encoder(model)(model.get_layer("scale_input").output)
    code = code[0] if isinstance(code, (list, tuple)) else code
    return np.asarray(keras.Model(model.inputs, code).predict(x, verbose=0))
