"""Hard negatives for train.json: sentence-transformers' ``mine_hard_negatives`` over training positives.

The candidates are the training positives only, so no evaluation text can enter training as a negative. A
candidate scoring within ``relative_margin`` of the question's own positive is skipped (a likely false
negative). A pair for which no candidate passes gets random positives of other groups instead, so that every
row has the same columns (a dataset mixing rows with and without a negative cannot be trained on); the summary
counts both kinds::

    >>> rows = [{"anchor": "q1", "positive": "p1"}, {"anchor": "q2", "positive": "p2"}]
    >>> stats = add_negatives(rows, ["g1", "g2"], HardNegativesParams(), encoder, seed=0)   # doctest: +SKIP
    >>> rows[0]["negative"]                                                               # doctest: +SKIP
    'p2'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from lexqa.config import HardNegativesParams
from lexqa.curate.embed import Encoder

log = logging.getLogger("lexqa.split")


def negative_columns(k: int) -> list[str]:
    """``negative`` for one, ``negative_1`` … ``negative_k`` for more (sentence-transformers' names)."""
    return ["negative"] if k == 1 else [f"negative_{i}" for i in range(1, k + 1)]


def add_negatives(
    rows: list[dict[str, str]],
    groups: Sequence[str],
    params: HardNegativesParams,
    encoder: Encoder,
    seed: int,
) -> dict[str, int]:
    """Add negative column(s) to every row in place; returns how many rows got mined and random negatives."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    k = params.num_negatives
    columns = negative_columns(k)
    if len({r["positive"] for r in rows}) < 2:
        log.warning("split: fewer than two distinct training positives, no negatives added")
        return {"mined": 0, "random": 0}
    mined = mine_hard_negatives(
        Dataset.from_dict({"anchor": [r["anchor"] for r in rows], "positive": [r["positive"] for r in rows]}),
        encoder.model,
        anchor_column_name="anchor",
        positive_column_name="positive",
        range_max=params.range_max,
        relative_margin=params.relative_margin,
        num_negatives=k,
        sampling_strategy=params.sampling,
        query_prompt=encoder.params.query_prompt or None,
        corpus_prompt=encoder.params.passage_prompt or None,
        output_format="triplet" if k == 1 else "n-tuple",
        batch_size=encoder.batch_size,
        verbose=False,
    )
    found: dict[str, list[str]] = {}
    for row in mined:
        found.setdefault(row["anchor"], [row[c] for c in columns])
    rng = np.random.default_rng(seed)
    stats = {"mined": 0, "random": 0}
    for row, group in zip(rows, groups, strict=True):
        negatives = found.get(row["anchor"])
        if negatives is not None:
            stats["mined"] += 1
        else:
            negatives = _random_negatives(rows, groups, row["positive"], group, k, rng)
            stats["random"] += 1
        row.update(zip(columns, negatives, strict=True))
    return stats


def _random_negatives(
    rows: list[dict[str, str]],
    groups: Sequence[str],
    positive: str,
    group: str,
    k: int,
    rng: np.random.Generator,
) -> list[str]:
    """``k`` positives of other rows, drawn from other groups when there are any (rejection sampling)."""
    picked: list[str] = []
    for _ in range(50 * k):
        i = int(rng.integers(len(rows)))
        candidate = rows[i]["positive"]
        if groups[i] != group and candidate != positive and candidate not in picked:
            picked.append(candidate)
            if len(picked) == k:
                return picked
    pool = sorted({r["positive"] for r in rows} - {positive} - set(picked))
    extra = [
        pool[i] for i in rng.choice(len(pool), size=k - len(picked), replace=len(pool) < k - len(picked))
    ]
    return picked + extra
