"""How sure a difference in nDCG@10 is: a bootstrap over requests, not over query variants.

``cdtn_dev`` holds 54 requests typed in up to a few dozen ways each (ids ``q4v0``, ``q4v2``… are variants of
request ``q4``); the held-out test set is other requests. Variants of one request succeed or fail together, so
resampling queries one by one would claim a precision the benchmark does not have: this resamples whole
requests (a cluster bootstrap) and averages over their queries, as the headline figure does::

    >>> request_of("q4v12"), request_of("eval-17")
    ('q4', 'eval-17')
    >>> ids = ["q1v0", "q1v1", "q2v0", "q3v0"]
    >>> low, high = ratio_interval(ids, [0.5, 0.7, 0.2, 0.4], [0.5, 0.5, 0.1, 0.4])
    >>> low <= (0.5 + 0.7 + 0.2 + 0.4) / (0.5 + 0.5 + 0.1 + 0.4) <= high
    True
    >>> difference_interval(ids, [0.5, 0.7, 0.2, 0.4], [0.5, 0.7, 0.2, 0.4])
    (0.0, 0.0)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
_VARIANT = re.compile(r"^(.+?)v\d+$")


def request_of(query_id: str) -> str:
    """The request a query id belongs to: ``q4v12`` → ``q4``; an id without a variant suffix is its own."""
    match = _VARIANT.match(query_id)
    return match.group(1) if match else query_id


def _sums(ids: Sequence[str], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per request: the sum of ``values`` and the number of queries."""
    requests = [request_of(i) for i in ids]
    position = {name: i for i, name in enumerate(sorted(set(requests)))}
    index = np.array([position[r] for r in requests], dtype=np.int64)
    sums = np.bincount(index, weights=np.asarray(values, dtype=np.float64), minlength=len(position))
    return sums, np.bincount(index, minlength=len(position)).astype(np.float64)


def _draws(n_requests: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_requests, size=(RESAMPLES, n_requests))


def _bounds(stats: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def difference_interval(
    ids: Sequence[str], new: Sequence[float], old: Sequence[float], seed: int = 0
) -> tuple[float, float]:
    """95 % interval of mean(new) − mean(old), paired by query, resampling requests."""
    diff, counts = _sums(ids, np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64))
    draws = _draws(len(counts), seed)
    return _bounds(diff[draws].sum(axis=1) / counts[draws].sum(axis=1))


def ratio_interval(
    ids: Sequence[str], new: Sequence[float], old: Sequence[float], seed: int = 0
) -> tuple[float, float]:
    """95 % interval of mean(new) / mean(old), paired by query, resampling requests."""
    new_sums, _ = _sums(ids, new)
    old_sums, _ = _sums(ids, old)
    draws = _draws(len(new_sums), seed)
    return _bounds(new_sums[draws].sum(axis=1) / np.maximum(old_sums[draws].sum(axis=1), 1e-12))
