"""Keras Tuner searches for every app: the hypermodel, the search space, the runner and its results."""
