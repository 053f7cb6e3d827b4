"""Evaluation: scikit-learn metrics, classical baselines, report figures and ``report.md``.

``metrics`` and ``baselines`` import no plotting library; ``plots`` selects matplotlib's Agg backend.
"""
