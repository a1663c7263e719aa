"""Hard negatives for train.json: the candidate search of sentence-transformers' ``mine_hard_negatives``, done
on the base model's vectors from the shared embedding layer (:mod:`lexqa.embed`), so that texts curate already
encoded are read from the cache instead of encoded again, or on BM25 scores (``retriever: bm25``: passages that
share the question's words without being its own, the negatives of DPR, Karpukhin et al. 2020).

The candidates are the distinct training positives only, so no evaluation text can enter training as a
negative. For each distinct question: the ``range_max + #positives`` best-scoring candidates, less its own
positives, less those scoring above ``min positive score - |min positive score| × relative_margin`` (likely
false negatives); then the best ``num_negatives`` of them (``sampling: top``) or a seeded random draw among
them (``random``) — :func:`mine` is tested against ``mine_hard_negatives`` itself. A pair for which too few
candidates pass gets random positives of other groups instead, so that every row has the same columns (a
dataset mixing rows with and without a negative cannot be trained on); the summary counts both kinds::

    >>> import numpy as np
    >>> queries = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> corpus = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], dtype=np.float32)
    >>> mine(cosine_blocks(queries, corpus), [[0], [1]], HardNegativesParams(), np.random.default_rng(0))
    [[2], [2]]

A BM25 candidate must share a word with the question (score above 0): one that does not is no harder than a
random passage.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np

from lexqa.config import HardNegativesParams
from lexqa.embed import Embedder
from lexqa.lexical import Bm25

log = logging.getLogger("lexqa.split")

SCORE_BLOCK = 2**24
"""Question × candidate scores held at once (64 MiB of float32)."""


def negative_columns(k: int) -> list[str]:
    """``negative`` for one, ``negative_1`` … ``negative_k`` for more (sentence-transformers' names)."""
    return ["negative"] if k == 1 else [f"negative_{i}" for i in range(1, k + 1)]


def cosine_blocks(queries: np.ndarray, corpus: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, scores)`` for blocks of normalised query vectors against the corpus vectors."""
    block = max(1, SCORE_BLOCK // max(len(corpus), 1))
    for start in range(0, len(queries), block):
        yield start, queries[start : start + block] @ corpus.T


def mine(
    blocks: Iterator[tuple[int, np.ndarray]],
    positives: Sequence[Sequence[int]],
    params: HardNegativesParams,
    rng: np.random.Generator,
    reach: list[float] | None = None,
    above: float = -math.inf,
) -> list[list[int] | None]:
    """Per query, ``num_negatives`` corpus indices, hardest first, or ``None`` when fewer candidates pass;
    ``blocks`` yields ``(start, scores)`` for consecutive queries, ``positives[i]`` are query ``i``'s own
    corpus indices and a candidate must score above ``above``. ``reach``, when given, gets each query's
    largest ``relative_margin`` at which ``num_negatives`` of its window's candidates would pass (NaN when the
    window holds fewer, or its own positive scores no higher than ``above``)."""
    k = params.num_negatives
    out: list[list[int] | None] = []
    widest = max(len(p) for p in positives)
    for lo, scores in blocks:
        window = min(params.range_max + widest, scores.shape[1])
        top = np.argsort(-scores, axis=1, kind="stable")[:, :window]
        for row, candidates in enumerate(top):
            own = list(positives[lo + row])
            floor = min(float(scores[row, j]) for j in own)
            threshold = floor - abs(floor) * params.relative_margin
            others = [int(j) for j in candidates if j not in own and scores[row, j] > above]
            if reach is not None:
                kth_lowest = (
                    float(scores[row, others[-k]]) if len(others) >= k and floor > above else math.nan
                )
                reach.append((floor - kth_lowest) / max(abs(floor), 1e-12))
            passing = [j for j in others if scores[row, j] <= threshold][: params.range_max]
            if len(passing) < k:
                out.append(None)
            elif params.sampling == "top":
                out.append(passing[:k])
            else:
                picked = sorted(rng.choice(len(passing), size=k, replace=False).tolist())
                out.append([passing[i] for i in picked])
    return out


def add_negatives(
    rows: list[dict[str, str]],
    groups: Sequence[str],
    params: HardNegativesParams,
    encoder: Embedder | None,
    seed: int,
    languages: Sequence[str] = (),
) -> dict[str, int]:
    """Add negative column(s) to every row in place; returns how many rows got mined and random negatives.
    ``encoder`` (the base model) scores the candidates, or BM25 over ``languages``' stopwords when
    ``params.retriever`` is ``bm25``."""
    k = params.num_negatives
    columns = negative_columns(k)
    corpus = list(dict.fromkeys(r["positive"] for r in rows))
    if len(corpus) < 2:
        log.warning("split: fewer than two distinct training positives, no negatives added")
        return {"mined": 0, "random": 0}
    index = {text: i for i, text in enumerate(corpus)}
    anchors = list(dict.fromkeys(r["anchor"] for r in rows))
    positives: dict[str, list[int]] = {a: [] for a in anchors}
    for r in rows:
        if index[r["positive"]] not in positives[r["anchor"]]:
            positives[r["anchor"]].append(index[r["positive"]])
    rng = np.random.default_rng(seed)
    reach: list[float] = []
    if params.retriever == "bm25":
        blocks, above = Bm25(corpus, languages).blocks(anchors), 0.0
    elif encoder is None:
        raise ValueError("split.hard_negatives.retriever: model needs the base model's encoder")
    else:
        blocks, above = cosine_blocks(encoder.queries(anchors), encoder.passages(corpus)), -math.inf
    found = mine(blocks, [positives[a] for a in anchors], params, rng, reach, above)
    mined = dict(zip(anchors, found, strict=True))
    stats = {"mined": 0, "random": 0}
    for row, group in zip(rows, groups, strict=True):
        picked = mined[row["anchor"]]
        if picked is not None:
            negatives = [corpus[j] for j in picked]
            stats["mined"] += 1
        else:
            negatives = _random_negatives(rows, groups, row["positive"], group, k, rng)
            stats["random"] += 1
        row.update(zip(columns, negatives, strict=True))
    if stats["random"] > stats["mined"]:
        log.warning(
            "split: %d of %d training pairs got random negatives: for most questions, fewer than %d of the "
            "%d best candidates score below the positive by split.hard_negatives.relative_margin %g; %s",
            stats["random"],
            stats["mined"] + stats["random"],
            k,
            params.range_max,
            params.relative_margin,
            _advice(reach, params),
        )
    return stats


def _advice(reach: Sequence[float], params: HardNegativesParams) -> str:
    """What would mine more, from each question's ``reach`` (:func:`mine`): the margin at which half of them
    would get mined negatives, or, when the retriever ranks half of their own passages below every candidate
    of their window, that no margin does.

    >>> _advice([0.01, 0.02, 0.03], HardNegativesParams())[:54]
    'half of them would get mined ones at a margin of 0.020'
    >>> _advice([-0.2, -0.1, 0.02], HardNegativesParams())[:70]
    'for half of them the base model ranks their own passage below all 50 b'
    """
    half = float(np.nanmedian(reach)) if not np.isnan(reach).all() else math.nan
    if half < 0:
        ranker = "BM25" if params.retriever == "bm25" else "the base model"
        return (
            f"for half of them {ranker} ranks their own passage below all {params.range_max} best "
            "candidates, so no margin mines them: it does not find their passages (a larger "
            "split.hard_negatives.range_max reaches further, to candidates that are not much harder)"
        )
    if params.retriever == "bm25":
        return (
            f"half of them would get mined ones at a margin of {half:.3f} (a question sharing no word with "
            "its own passage gets a random one at any margin)"
        )
    return (
        f"half of them would get mined ones at a margin of {half:.3f}. A model whose cosines crowd together "
        "(multilingual-e5) needs a smaller margin than one whose cosines spread (docs/curate.md)"
    )


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
