"""Custom layers of the tfdl factories, registered so ``keras.models.load_model`` finds them.

Importing ``tfdl.models`` imports this module, which registers every layer under the package ``"tfdl"``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="tfdl")
class Sampling(keras.layers.Layer):
    """Draws ``z = mean + exp(log_var / 2) * eps`` (the reparameterization trick) and adds the KL term.

    Kingma & Welling, "Auto-Encoding Variational Bayes", 2013. Inputs ``[z_mean, z_log_var]``, each
    ``(batch, latent_dim)``; output ``(batch, latent_dim)``. In training it samples; at inference it
    returns ``z_mean`` so predictions are deterministic. It always adds
    ``kl_weight * mean_batch(KL(q(z|x) || N(0, I)))`` with ``add_loss``, so a plain
    ``model.compile(loss="mse")`` trains a VAE.
    """

    def __init__(self, kl_weight: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.kl_weight = float(kl_weight)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        z_mean32 = ops.cast(z_mean, "float32")
        z_log_var32 = ops.cast(z_log_var, "float32")
        # KL in float32: under mixed precision the exp() would lose the small values.
        kl = -0.5 * ops.sum(1.0 + z_log_var32 - ops.square(z_mean32) - ops.exp(z_log_var32), axis=-1)
        self.add_loss(self.kl_weight * ops.mean(kl))
        if not training:
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "kl_weight": self.kl_weight, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfdl")
class PositionalEmbedding(keras.layers.Layer):
    """Token embedding (if ``vocab_size``) plus a position encoding.

    Positions are learned (BERT; Devlin et al., 2018) or fixed sinusoids (Vaswani et al., "Attention
    Is All You Need", 2017). Input: token ids ``(batch, seq_len)`` when ``vocab_size`` is set, else
    vectors ``(batch, seq_len, embed_dim)``; output ``(batch, seq_len, embed_dim)``.
    """

    def __init__(
        self,
        sequence_length: int,
        embed_dim: int,
        vocab_size: int | None = None,
        positions: str = "learned",
        mask_zero: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.embed_dim = int(embed_dim)
        self.vocab_size = vocab_size
        self.positions = positions
        self.mask_zero = bool(mask_zero and vocab_size is not None)
        self.supports_masking = True
        self.token_embedding = (
            keras.layers.Embedding(vocab_size, embed_dim, name="token_embedding", dtype=self.dtype_policy)
            if vocab_size
            else None
        )
        if positions == "learned":
            self.position_embedding = keras.layers.Embedding(
                sequence_length, embed_dim, name="position_embedding", dtype=self.dtype_policy
            )
        else:
            self.position_embedding = None
            self._sinusoids = _sinusoids(self.sequence_length, self.embed_dim)

    def build(self, input_shape):
        if self.token_embedding is not None:
            self.token_embedding.build(input_shape)
        if self.position_embedding is not None:
            self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, inputs):
        x = self.token_embedding(inputs) if self.token_embedding is not None else inputs
        length = ops.shape(x)[1]
        if self.position_embedding is not None:
            pos = self.position_embedding(ops.arange(0, length, dtype="int32"))
        else:
            pos = ops.convert_to_tensor(self._sinusoids)[:length]
        return x + ops.cast(pos, x.dtype)[None, :, :]

    def compute_mask(self, inputs, mask=None):
        if self.mask_zero:
            return ops.not_equal(inputs, 0)
        return mask

    def compute_output_shape(self, input_shape):
        if self.token_embedding is not None:
            return (*input_shape, self.embed_dim)
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "embed_dim": self.embed_dim,
            "vocab_size": self.vocab_size,
            "positions": self.positions,
            "mask_zero": self.mask_zero,
        }


def _sinusoids(length: int, dim: int) -> np.ndarray:
    pos = np.arange(length)[:, None]
    i = np.arange(dim)[None, :]
    angle = pos / np.power(10000.0, (2 * (i // 2)) / dim)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle)).astype("float32")


@keras.saving.register_keras_serializable(package="tfdl")
class ClassToken(keras.layers.Layer):
    """Prepends a learned ``[CLS]`` vector: ``(batch, seq, dim)`` -> ``(batch, seq + 1, dim)``.

    Devlin et al. (BERT, 2018); Dosovitskiy et al. (ViT, 2020). The transformer's ``pooling="cls"``
    reads the output at position 0.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        self.cls = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros", name="cls")
        self.built = True

    def call(self, inputs):
        cls = ops.cast(
            ops.broadcast_to(self.cls, (ops.shape(inputs)[0], 1, ops.shape(inputs)[-1])), inputs.dtype
        )
        return ops.concatenate([cls, inputs], axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)

    def compute_output_shape(self, input_shape):
        seq = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], seq, input_shape[2])


@keras.saving.register_keras_serializable(package="tfdl")
class TransformerBlock(keras.layers.Layer):
    """One post-norm transformer encoder block (Vaswani et al., "Attention Is All You Need", 2017).

    ``x = LayerNorm(x + Dropout(MHA(x, x)))``; ``x = LayerNorm(x + Dropout(FFN(x)))`` with
    ``FFN = Dense(ff_dim, gelu) -> Dense(embed_dim)``. Input and output ``(batch, seq, embed_dim)``.
    With ``return_attention_scores=True`` the call also returns the scores
    ``(batch, num_heads, seq, seq)``. The attention sub-layer is named ``attention_name``
    (the factory uses ``"block{i}_attention"``).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.1,
        attention_name: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.attention_name = attention_name or f"{self.name}_attention"
        self.supports_masking = True
        # Sub-layers follow the block's policy, not the global one: a model saved under mixed_bfloat16
        # must load (and run) in a process whose global policy is float32 (tfdl explain/evaluate).
        pol = self.dtype_policy
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, math.ceil(embed_dim / num_heads), dropout=dropout, name=self.attention_name, dtype=pol
        )
        self.ffn1 = keras.layers.Dense(ff_dim, activation="gelu", name="ffn1", dtype=pol)
        self.ffn2 = keras.layers.Dense(embed_dim, name="ffn2", dtype=pol)
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1", dtype=pol)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2", dtype=pol)
        self.drop1 = keras.layers.Dropout(dropout, dtype=pol)
        self.drop2 = keras.layers.Dropout(dropout, dtype=pol)

    def build(self, input_shape):
        self.attention.build(input_shape, input_shape)
        self.norm1.build(input_shape)
        self.ffn1.build(input_shape)
        self.ffn2.build((*input_shape[:-1], self.ff_dim))
        self.norm2.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None, training=None, return_attention_scores=False):
        attention_mask = None
        if mask is not None:
            # (batch, seq) -> (batch, 1, seq): every query may attend to the non-padding keys.
            attention_mask = ops.cast(mask[:, None, :], "bool")
        attn, scores = self.attention(
            inputs, inputs, attention_mask=attention_mask, return_attention_scores=True, training=training
        )
        x = self.norm1(inputs + self.drop1(attn, training=training))
        ff = self.ffn2(self.ffn1(x))
        x = self.norm2(x + self.drop2(ff, training=training))
        return (x, scores) if return_attention_scores else x

    def compute_mask(self, inputs, mask=None):
        return mask

    # No compute_output_shape: Keras traces call(), which also covers the (x, scores) tuple.

    def get_config(self):
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
            "attention_name": self.attention_name,
        }


@keras.saving.register_keras_serializable(package="tfdl")
class NaiveBayesScores(keras.layers.Layer):
    """Naive Bayes class probabilities from log-count ratios (Wang & Manning, 2012), one-vs-rest.

    Input: features ``(batch, num_features)`` (counts or TF-IDF; binarized as ``x > 0``). Output
    ``(batch, num_classes)``: ``sigmoid(binarize(x) @ ratios + log_prior)`` per class, normalized to sum
    to 1 (for two classes exactly the binary Naive Bayes posterior). ``ratios`` and ``log_prior`` are
    non-trainable weights, set with ``set_weights`` from ``tfdl.models.nbsvm.log_count_ratios``.
    """

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def build(self, input_shape):
        self.ratios = self.add_weight(
            shape=(int(input_shape[-1]), self.num_classes),
            initializer="zeros",
            trainable=False,
            name="ratios",
        )
        self.log_prior = self.add_weight(
            shape=(self.num_classes,), initializer="zeros", trainable=False, name="log_prior"
        )

    def call(self, x):
        b = ops.cast(ops.greater(x, 0), self.compute_dtype)
        p = ops.sigmoid(ops.matmul(b, self.ratios) + self.log_prior)
        return p / ops.sum(p, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="tfdl")
class InferenceAverage(keras.layers.Layer):
    """Inputs ``[learned, fixed]`` (same shape): their mean at inference, ``learned`` alone in training.

    Averages a trained ensemble member with a fixed one (e.g. Naive Bayes) while training the learned
    member on its own loss, as if the two had been fitted apart.
    """

    def call(self, inputs, training=None):
        learned, fixed = inputs
        if training:
            return learned
        return 0.5 * (learned + ops.cast(fixed, learned.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="tfdl")
class InferenceMix(keras.layers.Layer):
    """Inputs ``[learned, fixed]`` (same shape): ``weight * learned + (1 - weight) * fixed`` at inference,
    ``learned`` alone in training. ``weight`` is a non-trainable scalar (1 = the learned member alone)
    that the app sets after training, on data training did not see (the time-series forecaster choice:
    the network, its linear start or their mean; the text ``nbsvm`` weight of its learned member against
    Naive Bayes), so the saved and exported model serve that choice. ``fixed=True`` marks a weight the
    user set: the app leaves it as it is.
    """

    def __init__(self, weight=1.0, fixed=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.fixed = bool(fixed)
        self.weight = self.add_weight(
            name="weight", shape=(), initializer=keras.initializers.Constant(float(weight)), trainable=False
        )

    def call(self, inputs, training=None):
        learned, fixed = ops.cast(inputs[0], "float32"), ops.cast(inputs[1], "float32")
        if training:
            return learned
        return self.weight * learned + (1.0 - self.weight) * fixed

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "fixed": self.fixed}


@keras.saving.register_keras_serializable(package="tfdl")
class TemperatureScale(keras.layers.Layer):
    """Class probabilities -> the calibrated ones, ``softmax(log p / T)`` (a ``(batch, 1)`` or ``(batch,)``
    sigmoid output: ``sigmoid(logit(p) / T)``), in float32. The served transform of a classifier with a
    calibration temperature (``tfdl.evaluation.calibration``); a layer, not loose ops, so its name is its own
    and the served model round-trips through its config (the float32 rebuild for TFLite/ONNX)."""

    def __init__(self, temperature=1.0, eps=1e-7, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.temperature, self.eps = float(temperature), float(eps)

    def call(self, x):
        p = ops.clip(ops.cast(x, "float32"), self.eps, 1.0)
        if len(x.shape) == 1 or x.shape[-1] == 1:
            q = ops.clip(p, self.eps, 1.0 - self.eps)
            return ops.sigmoid((ops.log(q) - ops.log(1.0 - q)) / self.temperature)
        return ops.softmax(ops.log(p) / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "eps": self.eps}


@keras.saving.register_keras_serializable(package="tfdl")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training step runs TensorFlow's fused kernel.

    Keras 3 normalises a batch with separate ops (moments, then scale and shift) and differentiates each of
    them; on a CPU that was a third of the compute of the vision ``resnet`` default's training step, as
    much as its convolutions' backward pass. TensorFlow's ``FusedBatchNormV3`` (the kernel
    ``tf.keras`` 2 used with ``fused=True``) computes the statistics, the normalisation and, in the
    backward pass, all three gradients in one oneDNN kernel each. The numbers are the same: the moving
    statistics get the biased batch variance, exactly as the parent's training step gives them.

    Only the training step of a 4-D channels-last input on the TensorFlow backend takes the fused path
    (without mask, renorm or synchronisation); inference, and everything else, is the parent's code, so a
    saved, exported or TFLite-converted model computes exactly what a ``BatchNormalization`` would.
    """

    def call(self, inputs, training=None, mask=None):
        if not (
            training
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
        ):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = inputs if inputs.dtype in (tf.float32, tf.bfloat16, tf.float16) else tf.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels], "float32")
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels], "float32")
        empty = tf.constant([], "float32")
        y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=self.epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=True,
        )  # fmt: skip
        # the kernel returns the unbiased (n - 1) batch variance; Keras' moving variance uses the biased one
        n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), "float32")
        variance = variance * (n - 1.0) / tf.maximum(n, 2.0)
        m = self.momentum
        self.moving_mean.assign(tf.cast(self.moving_mean, "float32") * m + mean * (1.0 - m))
        self.moving_variance.assign(tf.cast(self.moving_variance, "float32") * m + variance * (1.0 - m))
        return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="tfdl")
class FlipViews(keras.layers.Layer):
    """Flip test-time augmentation, first half: ``(N, H, W, C)`` -> ``(2N, H, W, C)`` at inference (the
    batch, then the same images mirrored left-right); identity in training.

    With :class:`MeanOfViews` after the head, the model answers the mean of its outputs on an image and on
    its mirror (the flip TTA of fast small-image recipes such as airbench) in one batched call, inside the
    model: the exported, converted and served graphs do the same, deterministically. Grad-CAM and saliency
    explain the plain view (:func:`tfdl.explain.vision.flatten_model` skips both layers).
    """

    explain_identity = True

    def call(self, x, training=None):
        if training:
            return x
        return ops.concatenate([x, ops.flip(x, axis=2)], axis=0)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])


@keras.saving.register_keras_serializable(package="tfdl")
class MeanOfViews(keras.layers.Layer):
    """Flip test-time augmentation, second half: ``(2N, ...)`` -> ``(N, ...)``, the mean of the two halves
    :class:`FlipViews` stacked, at inference; identity in training."""

    explain_identity = True

    def call(self, x, training=None):
        if training:
            return x
        views = ops.reshape(x, (2, -1, *x.shape[1:]))
        return ops.mean(views, axis=0)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])


@keras.saving.register_keras_serializable(package="tfdl")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing (Szegedy et al., "Rethinking the Inception
    Architecture", 2015): the target is ``1 - label_smoothing`` on the true class plus
    ``label_smoothing / K`` on every class. Keras' ``SparseCategoricalCrossentropy`` has no smoothing.

    ``y_true`` ``(N,)`` or ``(N, 1)`` integer classes, ``y_pred`` ``(N, K)`` probabilities -> ``(N,)``.
    """

    def __init__(self, label_smoothing: float = 0.1, name: str = "sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        onehot = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(onehot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


_PUNCTUATION = r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']'


@keras.saving.register_keras_serializable(package="tfdl")
class WindowCenter(keras.layers.Layer):
    """``(N, T, F)`` -> the same window minus its own mean over time, per feature (the level removed).

    The instance normalization of RevIN (Kim et al., ICLR 2022) without the scale: a network fed centred
    windows answers the same for the same shape at any level, so a trend that leaves the training range
    does not push it into inputs it never saw. (The time-series linear skip keeps the level.)
    """

    def call(self, x):
        return x - keras.ops.mean(x, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="tfdl")
def lower_and_split_punctuation(text):
    """A ``TextVectorization`` standardizer: lowercase, and punctuation becomes a word break.

    Keras' default ``lower_and_strip_punctuation`` deletes punctuation and so glues words together
    (``three-hour`` -> ``threehour``, ``it's`` -> ``its``); scikit-learn's tokenizer splits there
    (``three hour``, ``it s``), which keeps the parts' counts shared with the rest of the corpus.
    """
    import tensorflow as tf

    return tf.strings.regex_replace(tf.strings.lower(text), _PUNCTUATION, " ")


@keras.saving.register_keras_serializable(package="tfdl")
def lower_and_tokenize_punctuation(text):
    """A ``TextVectorization`` standardizer: lowercase, and every punctuation mark becomes a token of its
    own (``wow!`` -> ``wow !``), as most word tokenizers do: who wrote a text (a phone's tweets, a
    speaker's lines) shows in its ``!``, ``?`` and quotes, which :func:`lower_and_split_punctuation` drops."""
    import tensorflow as tf

    return tf.strings.regex_replace(tf.strings.lower(text), _PUNCTUATION, r" \0 ")


def text_vectorizers(model) -> list:
    """The ``TextVectorization`` layers of ``model`` (nested models included), in build order."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers if isinstance(layer, keras.layers.TextVectorization)]


def text_vectorizer(model, needed_by: str):
    """The first ``TextVectorization`` layer of ``model``: a raw-string text model's tokenizer. Raises a
    TfdlError naming ``needed_by`` (what needs it) when the model has none."""
    from tfdl.errors import TfdlError

    found = text_vectorizers(model)
    if not found:
        raise TfdlError(
            f"model {model.name!r} has no TextVectorization layer; {needed_by} needs a tfdl text model"
        )
    return found[0]


# Character n-grams of the text models (``model.char_ngrams``): the n-grams of each word framed as
# ``<word>``, marked with a prefix that standardization never leaves in a word (``#`` is punctuation,
# split off or turned into a token of its own), so a gram never collides with a word or a word bigram.
CHAR_GRAM_PREFIX = "#"
CHAR_NGRAM_WIDTHS = (2, 3, 4, 5)


def _char_ngrams(words):
    """Ragged ``(batch, words)`` -> ragged ``(batch, grams)``: ``#`` + each 2..5-character n-gram of
    ``<word>`` (scikit-learn's ``char_wb`` with ``<``/``>`` as the word's edges)."""
    import tensorflow as tf

    framed = tf.ragged.map_flat_values(lambda w: tf.strings.join(["<", w, ">"]), words)
    chars = tf.strings.unicode_split(framed, "UTF-8", errors="replace")  # (batch, words, chars)
    grams = tf.strings.ngrams(chars, ngram_width=CHAR_NGRAM_WIDTHS, separator="")  # (batch, words, grams)
    grams = grams.merge_dims(1, 2)
    return tf.ragged.map_flat_values(lambda g: tf.strings.join([CHAR_GRAM_PREFIX, g]), grams)


@keras.saving.register_keras_serializable(package="tfdl")
def words_bigrams_and_char_ngrams(text):
    """A ``TextVectorization`` ``split`` (use with ``ngrams=None``): the whitespace words, the word
    bigrams (``"not good"``, as ``ngrams=2`` makes them) and the words' character 2..5-grams
    (``not`` -> ``#<n``, ``#no``, ``#ot``, ``#t>``, ``#<no``, ..., ``#<not>``), one ragged row per text.

    Character n-grams share the counts of a word's forms (``funny``/``funniest``) and of words unseen in
    training; one vectorizer (one vocabulary, ``vocab.txt``) still carries every feature."""
    import tensorflow as tf

    words = tf.strings.split(text)
    word_grams = tf.strings.ngrams(words, ngram_width=(1, 2), separator=" ")
    return tf.concat([word_grams, _char_ngrams(words)], axis=1)


@keras.saving.register_keras_serializable(package="tfdl")
def char_ngrams_of_words(text):
    """A ``TextVectorization`` ``split``: only the character n-grams of
    :func:`words_bigrams_and_char_ngrams` (to count their own vocabulary)."""
    import tensorflow as tf

    return _char_ngrams(tf.strings.split(text))


@keras.saving.register_keras_serializable(package="tfdl")
class BlockUnitNormalization(keras.layers.Layer):
    """Unit L2 length per block of consecutive features: ``sizes=(n_words, n_chars)`` normalizes the word
    n-grams and the character n-grams of a TF-IDF vector each on its own (as two stacked scikit-learn
    ``TfidfVectorizer`` blocks), so the ~10x more numerous character n-grams do not shrink the words.
    ``(batch, sum(sizes))`` -> the same shape."""

    def __init__(self, sizes, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.sizes = tuple(int(s) for s in sizes)
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"`sizes` must be positive block lengths. Received: sizes={sizes}")
        self.epsilon = float(epsilon)

    def call(self, x):
        parts, start = [], 0
        for size in self.sizes:
            block = x[:, start : start + size]
            norm = ops.sqrt(ops.maximum(ops.sum(ops.square(block), axis=-1, keepdims=True), self.epsilon))
            parts.append(block / norm)
            start += size
        return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sizes": list(self.sizes), "epsilon": self.epsilon}
