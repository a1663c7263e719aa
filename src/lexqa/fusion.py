"""Dense and BM25 scores fused: a hybrid retriever's scores, shared by the train stage (a teacher fused with
BM25, :mod:`lexqa.train.distill`) and ``benchmarks/quality.py --hybrid`` (how much BM25 still adds to a model).

Each query's dense cosines and BM25 scores are min-max normalised over the corpus and summed with weights
``1 − w`` and ``w`` (the convex combination of Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid
Retrieval", ACM TOIS, which holds up better than reciprocal rank fusion with few tuned weights). ``w = 0`` is
the model alone, ``w = 1`` BM25 alone. How much a small weight adds measures the word matching the model has not
learnt; a fine-tuned model that learnt it gains less from BM25 than its base does::

    >>> import numpy as np
    >>> dense = np.array([[0.90, 0.88, 0.10]])        # the model cannot tell passage 0 from passage 1
    >>> bm25 = np.array([[0.0, 7.5, 1.0]])             # passage 1 holds the query's rare word
    >>> [int(fused(dense, bm25, w).argmax()) for w in (0.0, 0.2, 1.0)]
    [0, 1, 1]
"""

from __future__ import annotations

import numpy as np


def minmax(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to 0–1 (a row with one value everywhere becomes 0).

    >>> minmax(np.array([[2.0, 4.0, 3.0], [1.0, 1.0, 1.0]])).tolist()
    [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]]
    """
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return (scores - low) / np.where(span > 0, span, 1.0)


def fused(dense: np.ndarray, bm25: np.ndarray, weight: float) -> np.ndarray:
    """``(1 − weight) × minmax(dense) + weight × minmax(bm25)``, queries × passages."""
    if dense.shape != bm25.shape:
        raise ValueError(f"dense scores {dense.shape} and BM25 scores {bm25.shape} differ in shape")
    if not 0 <= weight <= 1:
        raise ValueError(f"the BM25 weight must be within 0-1, got {weight}")
    return ((1 - weight) * minmax(dense) + weight * minmax(bm25)).astype(np.float32)
