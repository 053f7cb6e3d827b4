"""Explanations for text models: attention maps (transformer) and word occlusion (any text model).

Both take a raw-string model (``TextVectorization`` inside, see ``apps/text.py``) and write, per input
text, a PNG and a JSON with the tokens, their scores and the top tokens for the explained class.

- attention: the self-attention weights of every encoder block and head, ``(heads, L, L)`` over the
  ``L`` non-padding tokens, drawn as a grid of heatmaps (rows = layers, columns = heads). The token
  score is the attention a token *receives* in the last block (mean over heads and queries): where
  the model looked, which is not the same as why it decided (Jain & Wallace, 2019).
- occlusion: drop each word in turn and measure how much the probability of the explained class
  falls (Zeiler & Fergus, 2014, applied to words). Positive = the word supports the class.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError
from tfdl.explain import explain_dir, run_labels, target_index

MAX_TEXTS = 5  # an explanation is for reading: a handful of texts, not a data set


def _vectorizer(model):
    from tfdl.models.layers import text_vectorizer

    return text_vectorizer(model, "explain")


def _strings(texts) -> np.ndarray:
    return np.asarray([str(t) for t in texts], dtype=object)


def token_ids(model, texts) -> tuple[np.ndarray, list[list[str]]]:
    """(ids (n, seq_len) int, tokens per text without padding) as the model's vectorizer sees them."""
    vec = _vectorizer(model)
    if vec.get_config().get("output_mode") != "int":
        raise TfdlError(
            "attention needs a transformer run (tfdl train text --model transformer); this run is a bag of "
            "n-grams: use --method occlusion, or pass --run with a transformer run"
        )
    ids = np.asarray(vec(_strings(texts)))
    vocab = vec.get_vocabulary()
    tokens = [[vocab[i] for i in row if i != 0] for row in ids]
    return ids, tokens


def attention_maps(model, texts) -> tuple[list[list[str]], list[np.ndarray]]:
    """Attention weights of every block: (tokens per text, [per block (n, heads, seq_len, seq_len)]).

    ``model`` must be built by ``tfdl.models.build_transformer`` (its ``TransformerBlock`` layers).
    Rows/columns past ``len(tokens[i])`` are padding (masked keys get ~0 weight).
    """
    from tfdl.models.transformer import attention_model

    _, tokens = token_ids(model, texts)
    try:
        att = attention_model(model)
    except ValueError:
        raise TfdlError(
            f"--method attention needs the transformer model; this run's model is {model.name!r} "
            "(use --method occlusion, or train with --model transformer)"
        ) from None
    out = att.predict(_strings(texts), verbose=0)
    maps = [np.asarray(m, dtype=np.float32) for m in (out if isinstance(out, (list, tuple)) else [out])]
    return tokens, maps


def occlusion_scores(model, text: str, target: int | None = None) -> dict:
    """Drop each whitespace-separated word of ``text``; score = p(class | text) - p(class | text without it).

    Returns {"tokens", "scores", "probs" (of the full text), "class" (explained class id)}.
    """
    words = text.split()
    if not words:
        raise TfdlError("cannot explain an empty text; give at least one word")
    variants = [text] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
    probs = np.asarray(model.predict(_strings(variants), verbose=0), dtype=np.float64)
    k = int(np.argmax(probs[0])) if target is None else target
    return {
        "tokens": words,
        "scores": (probs[0, k] - probs[1:, k]).tolist(),
        "probs": probs[0].tolist(),
        "class": k,
    }


# --- drawing ---------------------------------------------------------------------------------------------


def plot_attention(tokens: list[str], maps: list[np.ndarray], title: str, path: Path) -> Path:
    """Grid of heatmaps: one row per block, one column per head; ``maps[b]`` is (heads, L, L) for one text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdl.figures import save_figure

    n = len(tokens)
    layers, heads = len(maps), maps[0].shape[0]
    size = max(2.5, 0.28 * n + 1.0)
    fig, axes = plt.subplots(layers, heads, figsize=(size * heads, size * layers), squeeze=False)
    for b in range(layers):
        for h in range(heads):
            ax = axes[b][h]
            # Colours scaled per map (its own min..max): a nearly uniform map still shows its structure.
            im = ax.imshow(maps[b][h, :n, :n], cmap="viridis")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
            ax.set_title(f"block {b + 1}, head {h + 1}", fontsize=9)
            ax.set_xticks(range(n), tokens, rotation=90, fontsize=7)
            ax.set_yticks(range(n), tokens, fontsize=7)
    axes[0][0].set_xlabel("attended token (key)")
    axes[0][0].set_ylabel("query token")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=90, rect=(0, 0, 1, 0.96))


def plot_token_scores(tokens: list[str], scores: list[float], title: str, path: Path) -> Path:
    """Tokens in reading order as bars: up supports the explained class, down argues against it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdl.figures import save_figure

    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(tokens) + 1.5), 3.2))
    colors = ["tab:green" if s >= 0 else "tab:red" for s in scores]
    ax.bar(range(len(tokens)), scores, color=colors)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("drop in probability")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path, dpi=90)


# --- the explainers the app registers ----------------------------------------------------------------------


def _texts(input_path, cfg, app) -> np.ndarray:
    if input_path is None:
        splits = app.load_data(cfg)  # no --input: explain the first test texts
        return _strings(splits.x_test[:3])
    from tfdl.data.text import read_texts

    return read_texts(input_path)[:MAX_TEXTS]


def _slug(text: str, i: int) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return f"{i + 1:02d}-{words or 'text'}"


def _top(tokens: list[str], scores: list[float], n: int = 5) -> list[dict]:
    order = np.argsort(-np.asarray(scores), kind="stable")[:n]
    return [{"token": tokens[i], "score": round(float(scores[i]), 4)} for i in order]


def _write(out_dir: Path, stem: str, record: dict) -> Path:
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return path


def explain_attention(
    model, cfg, run_dir: Path, *, input_path=None, target=None, app=None, texts=None, labels=None
) -> list[Path]:
    """Attention heatmaps + token scores for each input text; returns the PNG and JSON paths.

    ``texts`` (strings) replaces ``input_path``; ``labels`` (class names) replaces the run's metrics.json.
    """
    texts = _strings(texts) if texts is not None else _texts(input_path, cfg, app)
    tokens, maps = attention_maps(model, texts)
    probs = np.asarray(model.predict(texts, verbose=0), dtype=np.float64)
    labels = labels or run_labels(run_dir, probs.shape[1])
    k_target = target_index(target, labels)
    out_dir = explain_dir(run_dir, "attention")
    files: list[Path] = []
    for i, text in enumerate(texts):
        n = len(tokens[i])
        if n == 0:
            raise TfdlError(f"no known tokens in {text!r}: nothing to attend to; try a longer sentence")
        per_text = [m[i][:, :n, :n] for m in maps]
        # Attention received in the last block: mean over heads, then over the query rows.
        received = per_text[-1].mean(axis=0).mean(axis=0)
        k = int(np.argmax(probs[i])) if k_target is None else k_target
        title = f"{labels[k]} p={probs[i, k]:.2f}: {text[:80]}"
        stem = _slug(text, i)
        files.append(plot_attention(tokens[i], per_text, title, out_dir / f"{stem}.png"))
        record = {"text": text, "method": "attention", "class": labels[k], "probability": float(probs[i, k]),
                  "tokens": tokens[i], "scores": [round(float(s), 4) for s in received],
                  "top_tokens": _top(tokens[i], list(received)),
                  "attention_shape": [list(m[i].shape) for m in maps]}  # fmt: skip
        files.append(_write(out_dir, stem, record))
    return files


def explain_occlusion(
    model, cfg, run_dir: Path, *, input_path=None, target=None, app=None, texts=None, labels=None
) -> list[Path]:
    """Word-occlusion bar charts + token scores for each input text; returns the PNG and JSON paths.

    ``texts`` (strings) replaces ``input_path``; ``labels`` (class names) replaces the run's metrics.json.
    """
    texts = _strings(texts) if texts is not None else _texts(input_path, cfg, app)
    out_dir = explain_dir(run_dir, "occlusion")
    files: list[Path] = []
    for i, text in enumerate(texts):
        if labels is None:
            k_out = int(np.asarray(model.predict(texts[:1], verbose=0)).shape[1])
            labels = run_labels(run_dir, k_out)
        res = occlusion_scores(model, text, target_index(target, labels))
        k = res["class"]
        title = f"{labels[k]} p={res['probs'][k]:.2f}: {text[:80]}"
        stem = _slug(text, i)
        files.append(plot_token_scores(res["tokens"], res["scores"], title, out_dir / f"{stem}.png"))
        record = {"text": text, "method": "occlusion", "class": labels[k], "probability": res["probs"][k],
                  "tokens": res["tokens"], "scores": [round(s, 4) for s in res["scores"]],
                  "top_tokens": _top(res["tokens"], res["scores"])}  # fmt: skip
        files.append(_write(out_dir, stem, record))
    return files


def report_example(model, texts, labels: list[str], run_dir: Path) -> tuple[str, str]:
    """A report section ``(title, markdown)`` on ``texts``: attention for a transformer, else occlusion.

    The PNGs are linked relative to ``run_dir`` (the report lives there).
    """
    from tfdl.models.layers import TransformerBlock

    attention = any(isinstance(layer, TransformerBlock) for layer in model.layers)
    explain = explain_attention if attention else explain_occlusion
    files = explain(model, None, run_dir, texts=texts, labels=labels)
    parts = []
    for png, js in zip(files[::2], files[1::2], strict=True):
        rec = json.loads(js.read_text())
        top = ", ".join(f"`{t['token']}` {t['score']:+.3f}" for t in rec["top_tokens"])
        parts.append(
            f"> {rec['text']}\n\nPredicted **{rec['class']}** (p={rec['probability']:.2f}). "
            f"Top tokens: {top}\n\n"
            f"![{rec['method']}]({png.relative_to(run_dir).as_posix()})"
        )
    how = (
        "self-attention weights per block (rows) and head (columns); token score = attention received"
        if attention
        else "drop each word, measure the fall in the predicted class's probability"
    )
    title = f"Explanation example ({'attention' if attention else 'occlusion'})"
    return (
        title,
        f"Method: {how}. Reproduce with `tfdl explain text --method "
        f'{"attention" if attention else "occlusion"} --input "..."`.\n\n' + "\n\n".join(parts),
    )
