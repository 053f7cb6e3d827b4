"""tfdl: a TensorFlow/Keras application suite (vision, text, tabular, time series, anomaly)."""

__version__ = "0.1.0"
