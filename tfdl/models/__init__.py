"""Functional-API model factories (keras.applications style) and their search spaces.

Importing this package registers the custom layers (``tfdl>Sampling``, ``tfdl>PositionalEmbedding``,
``tfdl>ClassToken``, ``tfdl>TransformerBlock``, ``tfdl>NaiveBayesScores``, ``tfdl>InferenceAverage``,
``tfdl>InferenceMix``, ``tfdl>ForecastMix``, ``tfdl>TemperatureScale``,
``tfdl>SeasonalProfile``, ``tfdl>FlipViews``, ``tfdl>MeanOfViews``, the ``tfdl>SparseSmoothedCrossentropy``
loss, the ``tfdl>lower_and_split_punctuation`` standardizer, the ``tfdl>words_bigrams_and_char_ngrams``
split and ``tfdl>BlockUnitNormalization``) so ``keras.models.load_model`` reads ``.keras``
files.
"""

from tfdl.models import autoencoder, cnn, mlp, resnet, rnn, transformer
from tfdl.models.autoencoder import build_autoencoder, get_decoder, get_encoder
from tfdl.models.cnn import build_cnn, last_conv_layer_name
from tfdl.models.forecast_layers import ForecastMix, SeasonalProfile
from tfdl.models.layers import (
    ClassToken,
    FlipViews,
    InferenceAverage,
    InferenceMix,
    MeanOfViews,
    NaiveBayesScores,
    PositionalEmbedding,
    Sampling,
    SparseSmoothedCrossentropy,
    TransformerBlock,
)
from tfdl.models.mlp import build_mlp
from tfdl.models.nbsvm import build_nbsvm, log_count_ratios
from tfdl.models.resnet import build_resnet
from tfdl.models.rnn import build_rnn
from tfdl.models.tabular_layers import StandardizedMSE, TargetInverse
from tfdl.models.transformer import attention_model, build_transformer

FACTORIES = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "resnet": build_resnet,
    "rnn": build_rnn,
    "autoencoder": build_autoencoder,
    "transformer": build_transformer,
}

# The Keras Tuner search space of each factory, declared beside it in its module.
SEARCH_SPACES = {
    "mlp": mlp.SEARCH_SPACE,
    "cnn": cnn.SEARCH_SPACE,
    "resnet": resnet.SEARCH_SPACE,
    "rnn": rnn.SEARCH_SPACE,
    "autoencoder": autoencoder.SEARCH_SPACE,
    "transformer": transformer.SEARCH_SPACE,
}

__all__ = [
    "FACTORIES",
    "SEARCH_SPACES",
    "ClassToken",
    "FlipViews",
    "ForecastMix",
    "InferenceAverage",
    "InferenceMix",
    "MeanOfViews",
    "NaiveBayesScores",
    "PositionalEmbedding",
    "Sampling",
    "SeasonalProfile",
    "SparseSmoothedCrossentropy",
    "StandardizedMSE",
    "TargetInverse",
    "TransformerBlock",
    "attention_model",
    "build_autoencoder",
    "build_cnn",
    "build_mlp",
    "build_nbsvm",
    "build_resnet",
    "build_rnn",
    "build_transformer",
    "get_decoder",
    "get_encoder",
    "last_conv_layer_name",
    "log_count_ratios",
]
