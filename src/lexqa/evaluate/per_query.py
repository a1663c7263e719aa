"""Per-query results of the evaluate stage: ``data/processed/evaluate_queries.parquet``.

One row per set, system (``base``, ``finetuned``, ``bm25``), dimension (null for BM25) and query: its nDCG@10,
the rank of its first relevant passage in the top 100 (0 = none there) and the passage ranked first. A reader
sees which questions fine-tuning fixed or broke (``lexqa inspect``, polars); a benchmark can resample queries
to tell a real difference from noise (``benchmarks/quality.py --compare``)::

    >>> import numpy as np
    >>> from lexqa.evaluate.beir import BeirSet
    >>> data = BeirSet("toy", ["a", "b"], ["congés payés", "préavis"], ["q1"], ["préavis de démission"],
    ...                [{"b": 1.0}], [{1: 1.0}], False, 0, 0)
    >>> rows = query_frame(data, "bm25", None, np.array([[1, 0]]))
    >>> rows.select("query_id", "ndcg_at_10", "first_relevant_rank", "top_passage_id").row(0)
    ('q1', 1.0, 1, 'b')
"""

from __future__ import annotations

import numpy as np
import polars as pl

from lexqa.evaluate.beir import BeirSet
from lexqa.evaluate.metrics import per_query

SCHEMA = {
    "dataset": pl.String(),  # "eval" (the split's) or a benchmark's name
    "system": pl.String(),  # base | finetuned | bm25
    "dim": pl.Int64(),  # Matryoshka dimension; null for BM25
    "query_id": pl.String(),
    "query": pl.String(),
    "ndcg_at_10": pl.Float64(),  # binary relevance, as the headline nDCG@10 (its mean)
    "first_relevant_rank": pl.Int64(),  # 1-based, 0 = no relevant passage in the top 100
    "top_passage_id": pl.String(),  # null when the corpus is empty
}


def query_frame(data: BeirSet, system: str, dim: int | None, ranked: np.ndarray) -> pl.DataFrame:
    """The rows of one ranking of ``data`` (queries × k corpus indices, best first)."""
    grades = [list(j.values()) for j in data.judgements]
    ndcg, first = per_query(ranked, data.relevance, grades)
    n = len(data.query_ids)
    top = [data.corpus_ids[i] if i >= 0 else None for i in ranked[:, 0]] if ranked.shape[1] else [None] * n
    return pl.DataFrame(
        {
            "dataset": [data.name] * n,
            "system": [system] * n,
            "dim": [dim] * n,
            "query_id": data.query_ids,
            "query": data.query_texts,
            "ndcg_at_10": ndcg,
            "first_relevant_rank": first.astype(np.int64),
            "top_passage_id": top,
        },
        schema=SCHEMA,
    )
