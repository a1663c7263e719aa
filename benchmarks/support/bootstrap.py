"""How sure a difference in nDCG@10 is: a bootstrap over requests, not over query variants.

``cdtn_dev`` holds 54 requests typed in up to a few dozen ways each (ids ``q4v0``, ``q4v2``… are variants of
request ``q4``); the held-out test set is other requests. Variants of one request succeed or fail together, so
resampling queries one by one would claim a precision the benchmark does not have: this resamples whole
requests (a cluster bootstrap, with ``scipy.stats.bootstrap`` over per-request sums, paired across the two
systems) and averages over their queries, as the headline figure does::

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
from scipy import stats

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


def _interval(samples: tuple[np.ndarray, ...], statistic, seed: int) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over requests resampled together (paired) across ``samples``."""
    result = stats.bootstrap(
        samples,
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        confidence_level=LEVEL,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def difference_interval(
    ids: Sequence[str], new: Sequence[float], old: Sequence[float], seed: int = 0
) -> tuple[float, float]:
    """95 % interval of mean(new) − mean(old), paired by query, resampling requests."""
    diff, counts = _sums(ids, np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64))
    return _interval((diff, counts), lambda d, n, axis: d.sum(axis=axis) / n.sum(axis=axis), seed)


def ratio_interval(
    ids: Sequence[str], new: Sequence[float], old: Sequence[float], seed: int = 0
) -> tuple[float, float]:
    """95 % interval of mean(new) / mean(old), paired by query, resampling requests."""
    new_sums, _ = _sums(ids, new)
    old_sums, _ = _sums(ids, old)
    return _interval(
        (new_sums, old_sums), lambda a, b, axis: a.sum(axis=axis) / np.maximum(b.sum(axis=axis), 1e-12), seed
    )
