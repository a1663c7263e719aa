"""Rankings of a BEIR set for dense models (every Matryoshka dimension) and for BM25.

A dense model's vectors come from the shared embedding layer (:class:`lexqa.embed.Embedder`: read from the
cache or encoded once); each dimension slices them, renormalises them and ranks by cosine similarity
(sentence-transformers' evaluator would encode again for every dimension)::

    >>> import numpy as np
    >>> from lexqa.evaluate.beir import BeirSet
    >>> data = BeirSet("toy", ["a", "b"], ["congés payés", "préavis"], ["q"], ["préavis de démission"],
    ...                [{"b": 1.0}], [{1: 1.0}], False, 0, 0)
    >>> queries = np.array([[0.0, 1.0]], dtype=np.float32)
    >>> corpus = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    >>> vector_metrics(queries, corpus, data, dims=[2, 1])[2]["ndcg@10"]
    1.0
    >>> vector_metrics(queries, corpus, data, dims=[2, 1])[1]["ndcg@10"] < 1    # one dim: a tie, "a" first
    True

BM25 is :class:`lexqa.lexical.Bm25` (bm25s over lowercase words without stopwords, no stemming).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lexqa.embed import Embedder, truncate
from lexqa.evaluate.beir import BeirSet
from lexqa.evaluate.metrics import MAX_K, ir_metrics, top_k
from lexqa.lexical import Bm25

SCORE_BLOCK = 2**25
"""Query × passage scores held at once (128 MiB of float32)."""


def metrics_of(ranked: np.ndarray, data: BeirSet) -> dict[str, float]:
    """The metrics of a ranking of ``data``'s corpus (one row of corpus indices per query)."""
    grades = [list(j.values()) for j in data.judgements]
    return ir_metrics(ranked, data.relevance, grades, graded=data.graded)


def rank_dense(queries: np.ndarray, corpus: np.ndarray, dim: int, k: int = MAX_K) -> np.ndarray:
    """Top-``k`` corpus indices per query by cosine similarity of the first ``dim`` components."""
    if len(corpus) == 0:
        return np.full((len(queries), 0), -1, dtype=np.int64)
    q = torch.from_numpy(truncate(queries, dim))
    c = torch.from_numpy(truncate(corpus, dim))
    block = max(1, SCORE_BLOCK // len(c))
    ranked = [top_k(q[i : i + block] @ c.T, k) for i in range(0, len(q), block)]
    return torch.cat(ranked).numpy()


def vector_rankings(queries: np.ndarray, corpus: np.ndarray, dims: Sequence[int]) -> dict[int, np.ndarray]:
    """Top-100 corpus indices per query at each dimension in ``dims`` (vectors at full dimension)."""
    return {dim: rank_dense(queries, corpus, dim) for dim in dims}


def vector_metrics(
    queries: np.ndarray, corpus: np.ndarray, data: BeirSet, dims: Sequence[int]
) -> dict[int, dict[str, float]]:
    """Metrics at each dimension in ``dims`` of ``data``, from its query and corpus vectors (full dimension)."""
    return {dim: metrics_of(r, data) for dim, r in vector_rankings(queries, corpus, dims).items()}


def dense_metrics(embedder: Embedder, data: BeirSet, dims: Sequence[int]) -> dict[int, dict[str, float]]:
    """Metrics at each dimension in ``dims``, from one look-up or encoding of the queries and the corpus."""
    return vector_metrics(
        embedder.queries(data.query_texts), embedder.passages(data.corpus_texts), data, dims
    )


def rank_bm25(data: BeirSet, languages: Sequence[str], k: int = MAX_K) -> np.ndarray:
    """Top-``k`` corpus indices per query by BM25 (:class:`lexqa.lexical.Bm25`)."""
    if not data.corpus_ids:
        return np.full((len(data.query_ids), 0), -1, dtype=np.int64)
    index = Bm25(data.corpus_texts, languages)
    ranked = [top_k(torch.from_numpy(scores), k) for _, scores in index.blocks(data.query_texts)]
    return torch.cat(ranked).numpy()
