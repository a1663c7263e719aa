"""Filters of the ``curate`` stage that rank or compare with a retriever: semantic dedup, round trip, easiness
(the base model's vectors, or BM25: :func:`term_coverage`).

They work on normalised embeddings (numpy, so cosine = dot product), in blocks so memory stays bounded on
large corpora, and return :func:`lexqa.curate.filters.rejected` frames plus the measured value per row::

    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> corpus = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    >>> ranks(q, corpus, np.array([1, 1])).tolist()     # question 0 finds chunk 1 first, question 1 second
    [1, 2]
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy.stats import rankdata

from lexqa.curate.filters import rejected
from lexqa.lexical import tokenize

_BLOCK = 1024
_EPS = 1e-5


def ranks(queries: np.ndarray, corpus: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of ``corpus[positive[i]]`` among all of ``corpus`` for ``queries[i]``: one plus the
    number of corpus rows scoring higher by more than float32 rounding (the own chunk's score from the block
    product may differ from the direct one in the last bits)."""
    out = np.ones(len(queries), dtype=np.int64)
    for lo in range(0, len(queries), _BLOCK):
        q = queries[lo : lo + _BLOCK]
        own = np.einsum("ij,ij->i", q, corpus[positive[lo : lo + _BLOCK]])
        for clo in range(0, len(corpus), 16 * _BLOCK):
            scores = q @ corpus[clo : clo + 16 * _BLOCK].T
            out[lo : lo + _BLOCK] += (scores > own[:, None] + _EPS).sum(axis=1)
    return out


def round_trip(live: pl.DataFrame, rank: np.ndarray, top_k: int, by: str = "model") -> pl.DataFrame:
    """``round_trip_failed``: the question's own chunk ranks below ``top_k`` for it (``rank`` aligned with
    ``live``; ``by`` names the retriever in the detail)."""
    bad = np.flatnonzero(rank > top_k)
    ids = live["question_id"].gather(bad).to_list()
    details = [f"its chunk ranks {r} among all chunks by {by} (top_k {top_k})" for r in rank[bad]]
    return rejected(ids, "round_trip_failed", details, rank[bad].tolist())


def easiness(
    live: pl.DataFrame, cosine: np.ndarray, drop_percent: float, measure: str = "cosine"
) -> pl.DataFrame:
    """``too_easy``: per language, the ``drop_percent`` percent (0–100) of pairs with the highest
    question–positive similarity (``cosine``, or another ``measure``); ``floor(n × drop_percent / 100)`` rows,
    ties broken by input order."""
    ids, details, scores = [], [], []
    langs = live["lang"].to_numpy()
    for lang in dict.fromkeys(langs.tolist()):
        rows = np.flatnonzero(langs == lang)
        n_drop = math.floor(len(rows) * drop_percent / 100)
        if n_drop == 0:
            continue
        order = rows[np.argsort(-cosine[rows], kind="stable")]
        cut = float(cosine[order[n_drop - 1]])
        for i in order[:n_drop]:
            ids.append(live["question_id"][int(i)])
            details.append(
                f"{measure} {cosine[i]:.3f} among the easiest {drop_percent:g} % of {lang} (>= {cut:.3f})"
            )
            scores.append(float(cosine[i]))
    return rejected(ids, "too_easy", details, scores)


def lower_percentile(first: np.ndarray, second: np.ndarray, langs: np.ndarray) -> np.ndarray:
    """Per language, each row's percentile (0–1, ties averaged) under ``first`` and under ``second``, and the
    lower of the two: a pair ranks easy only as far as both measures agree it is (easiness by ``both``).

    >>> lower_percentile(np.array([0.9, 0.1, 0.5]), np.array([0.2, 0.8, 0.6]), np.array(["fr"] * 3)).tolist()
    [0.0, 0.0, 0.5]
    """
    out = np.zeros(len(first))
    for lang in set(langs.tolist()):
        rows = np.flatnonzero(langs == lang)
        if len(rows) == 1:
            continue
        by_first, by_second = (rankdata(m[rows], method="average") - 1 for m in (first, second))
        out[rows] = np.minimum(by_first, by_second) / (len(rows) - 1)
    return out


UNRELATED_PAIRS = 20_000
"""Random question pairs sampled per language to measure how similar unrelated questions look."""

MARGIN = 0.85
"""How far the semantic dedup threshold should at least sit from the cosine of unrelated questions towards 1:
``(threshold - unrelated) / (1 - unrelated)``. all-MiniLM-L6-v2's 0.95 sits at 0.93 on the Code du travail
(unrelated questions: 0.289) and at 0.89 on the demo's Russian (0.560); multilingual-e5-small's cosines are
compressed (0.834 on the code), so 0.95 sits at 0.70 there and rejects 14 times as many questions, most of
them distinct (docs/curate.md)."""


def unrelated_cosine(embeddings: np.ndarray, seed: int = 0) -> float:
    """Mean cosine between random pairs of distinct rows (:data:`UNRELATED_PAIRS` of them): how alike two
    unrelated questions look to the model; NaN under two rows.

    >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    >>> 0.4 < unrelated_cosine(vectors) < 0.6
    True
    """
    n = len(embeddings)
    if n < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, UNRELATED_PAIRS)
    b = (a + rng.integers(1, n, UNRELATED_PAIRS)) % n
    return float(np.einsum("ij,ij->i", embeddings[a], embeddings[b]).mean())


def threshold_margin(threshold: float, unrelated: float) -> float:
    """Where ``threshold`` sits between the cosine of unrelated questions (0) and 1 (1).

    >>> round(threshold_margin(0.95, 0.834), 2), round(threshold_margin(0.95, 0.289), 2)
    (0.7, 0.93)
    """
    return (threshold - unrelated) / (1 - unrelated) if unrelated < 1 else 0.0


def semantic_duplicates(live: pl.DataFrame, embeddings: np.ndarray, threshold: float) -> pl.DataFrame:
    """``semantic_duplicate_question``: within a language, a question whose cosine with an earlier kept
    question reaches ``threshold`` (greedy in input order, so the first of a group of paraphrases is kept)."""
    ids, dups, scores = [], [], []
    qids = live["question_id"].to_list()
    langs = live["lang"].to_numpy()
    for lang in dict.fromkeys(langs.tolist()):
        rows = np.flatnonzero(langs == lang)
        kept: list[int] = []
        for lo in range(0, len(rows), _BLOCK):
            block = rows[lo : lo + _BLOCK]
            emb = embeddings[block]
            best = np.full(len(block), -np.inf)
            best_of = np.full(len(block), -1)
            if kept:
                sims = emb @ embeddings[kept].T
                best, best_of = sims.max(axis=1), np.asarray(kept)[sims.argmax(axis=1)]
            inner = emb @ emb.T
            alive: list[int] = []
            for j, row in enumerate(block):
                if alive:
                    k = int(np.argmax(inner[j, alive]))
                    if inner[j, alive[k]] > best[j]:
                        best[j], best_of[j] = inner[j, alive[k]], block[alive[k]]
                if best[j] >= threshold:
                    ids.append(qids[row])
                    dups.append(qids[int(best_of[j])])
                    scores.append(float(best[j]))
                else:
                    alive.append(j)
            kept.extend(int(block[j]) for j in alive)
    details = [f"cosine {s:.3f} with {d}" for s, d in zip(scores, dups, strict=True)]
    return rejected(ids, "semantic_duplicate_question", details, scores, dups)


def term_coverage(questions: list[str], passages: list[str], stop: frozenset[str]) -> np.ndarray:
    """The share of each question's BM25 terms (:func:`lexqa.lexical.tokenize`) found in its passage: BM25's
    view of how easy a pair is (1.0: every word of the question is in the passage).

    >>> term_coverage(["congés payés du salarié"], ["Le salarié a droit à des congés."], frozenset({"du"})).tolist()
    [0.6666666666666666]
    """
    out = np.zeros(len(questions))
    for i, (question, passage) in enumerate(zip(questions, passages, strict=True)):
        terms = set(tokenize(question, stop))
        out[i] = len(terms & set(tokenize(passage, stop))) / len(terms) if terms else 0.0
    return out
