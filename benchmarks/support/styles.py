"""Which pseudo-query styles look like the questions people really type: each real query's nearest pseudo-query.

A run trains on pseudo-queries of several styles (``ict`` sentences, section ``title`` s, ``keywords``,
``citation`` sentences) in the shares its mix and filters leave. Whether a style teaches what real questions
need shows first in whether real questions resemble it. This takes, for every query of a benchmark, the
pseudo-query of the run whose vector (the base model's, the one the run started from) is nearest by cosine,
and counts the styles of those nearest ones beside each style's share of the pairs. A style far more often
nearest than its share of the pairs is the one the mix under-weights::

    >>> import numpy as np
    >>> pseudo = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> real = np.array([[0.0, 1.0], [0.95, 0.31], [0.1, 0.99]])
    >>> for row in nearest_styles(real, pseudo, ["ict", "keywords", "keywords"]):
    ...     print(row)
    StyleMatch(style='keywords', pairs=2, pair_share=0.667, nearest_share=0.667, cosine=0.995)
    StyleMatch(style='ict', pairs=1, pair_share=0.333, nearest_share=0.333, cosine=0.95)

The analysis reads the benchmark's queries only, never its qrels, and changes nothing: it tells which style
weights (``generate.offline``) are worth a row of ``benchmarks/quality.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class StyleMatch(NamedTuple):
    """One style: its pairs, their share, the share of real queries whose nearest pseudo-query is of it, and
    the mean cosine of those nearest pairs (``nan`` when it is nearest to none)."""

    style: str
    pairs: int
    pair_share: float
    nearest_share: float
    cosine: float


def nearest_styles(
    real: np.ndarray, pseudo: np.ndarray, styles: Sequence[str], block: int = 1024
) -> list[StyleMatch]:
    """Per style, most often nearest first: how the ``real`` queries' nearest ``pseudo`` queries split.

    ``real`` (n, dim) and ``pseudo`` (m, dim) are normalised vectors; ``styles`` holds the style of each row of
    ``pseudo``. Scores ``block`` real queries at a time, so memory stays at ``block`` × m floats.
    """
    if len(pseudo) != len(styles):
        raise ValueError(f"{len(pseudo)} pseudo-query vectors but {len(styles)} styles")
    if not len(pseudo) or not len(real):
        raise ValueError("no pseudo-queries or no real queries to compare")
    best, cosine = [], []
    for start in range(0, len(real), block):
        scores = real[start : start + block] @ pseudo.T
        rows = scores.argmax(axis=1)
        best.append(rows)
        cosine.append(scores[np.arange(len(rows)), rows])
    kinds = np.asarray(styles)
    nearest, cosine = kinds[np.concatenate(best)], np.concatenate(cosine)
    pairs, hits = Counter(styles), Counter(nearest.tolist())
    out = []
    for style in sorted(pairs, key=lambda s: (-hits[s], -pairs[s], s)):
        near = cosine[nearest == style]
        share = round(pairs[style] / len(styles), 3)
        mean = round(float(near.mean()), 3) if len(near) else float("nan")
        out.append(StyleMatch(style, pairs[style], share, round(hits[style] / len(real), 3), mean))
    return out
