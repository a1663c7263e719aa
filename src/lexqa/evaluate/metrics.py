"""Ranking and retrieval metrics, defined exactly as sentence-transformers' ``InformationRetrievalEvaluator``.

The evaluator's definitions (binary relevance: a qrels score above 0 is relevant):

- ``accuracy@k``: share of queries with at least one relevant passage in the top k;
- ``precision@k``: relevant passages in the top k divided by k (even when the corpus holds fewer than k);
- ``recall@k``: relevant passages in the top k divided by all relevant passages of the query (qrels that point
  outside the corpus count too);
- ``mrr@10``: mean of 1 / rank of the first relevant passage in the top 10 (0 when none);
- ``ndcg@10``: DCG with gain 1 and discount log2(rank + 1) over the top 10, divided by the ideal DCG of
  min(n relevant, 10) relevant passages;
- ``map@100``: the sum over relevant hits in the top 100 of the precision at that hit, divided by
  min(100, n relevant).

Ranks order passages by decreasing score, ties by increasing corpus id. Graded qrels (scores above 1) add
``ndcg_graded@10`` (linear gain = the grade, as pytrec_eval / BEIR compute it); everything else stays binary.
Computed over a (queries × 100) matrix of ranked passage indices with numpy, so a full evaluation takes
milliseconds::

    >>> import numpy as np
    >>> ranked = np.array([[2, 0, 1]])                 # query 0: passage 2 first, then 0, then 1
    >>> relevance = [{0: 1.0}]                          # passage 0 is the relevant one
    >>> round(ir_metrics(ranked, relevance, grades=[[1.0]])["mrr@10"], 3)
    0.5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

ACCURACY_AT = (1, 3, 5, 10)
PRECISION_RECALL_AT = (1, 3, 5, 10)
MRR_AT = 10
NDCG_AT = 10
MAP_AT = 100
MAX_K = max(*ACCURACY_AT, *PRECISION_RECALL_AT, MRR_AT, NDCG_AT, MAP_AT)
"""Depth of the ranking every metric needs."""

METRICS = (
    *(f"accuracy@{k}" for k in ACCURACY_AT),
    *(f"precision@{k}" for k in PRECISION_RECALL_AT),
    *(f"recall@{k}" for k in PRECISION_RECALL_AT),
    f"ndcg@{NDCG_AT}",
    f"mrr@{MRR_AT}",
    f"map@{MAP_AT}",
)
"""Metric names, in the order sentence-transformers' evaluator reports them."""

GRADED_NDCG = f"ndcg_graded@{NDCG_AT}"


def top_k(scores: torch.Tensor, k: int = MAX_K) -> torch.Tensor:
    """Indices of the ``k`` best columns of each row: decreasing score, ties by increasing index.

    Columns must be in increasing corpus-id order so that the tie rule is sentence-transformers' own. Rows
    with ties across the k-th place are fully (stably) sorted; the others only reorder their k winners.

        >>> top_k(torch.tensor([[0.1, 0.5, 0.5, 0.2]]), k=2).tolist()
        [[1, 2]]
    """
    k = min(k, scores.shape[1])
    values, idx = scores.topk(k, dim=1, largest=True, sorted=True)
    # Within the k winners, equal scores go by increasing index: sort by index, then stably by score.
    by_index = idx.argsort(dim=1)
    idx, values = idx.gather(1, by_index), values.gather(1, by_index)
    idx = idx.gather(1, torch.sort(-values, dim=1, stable=True).indices)
    # Ties across the cut-off: which tied column gets in depends on the index, so sort those rows fully.
    boundary = values.min(dim=1, keepdim=True).values
    tied = ((scores >= boundary).sum(dim=1) > k).nonzero().flatten()
    if len(tied):
        idx[tied] = torch.sort(-scores[tied], dim=1, stable=True).indices[:, :k]
    return idx


def relevance_matrix(ranked: np.ndarray, relevance: Sequence[Mapping[int, float]]) -> np.ndarray:
    """Grades of the ranked passages: ``ranked`` is (queries × k) corpus indices (-1 = no passage)."""
    n_queries, k = ranked.shape
    grades = np.zeros((n_queries, k), dtype=np.float64)
    if not relevance:
        return grades
    # One integer key per (query, passage) pair, looked up with a binary search.
    stride = int(max(ranked.max(initial=0), *(max(r, default=0) for r in relevance))) + 2
    keys = np.array([q * stride + c for q, rel in enumerate(relevance) for c in rel], dtype=np.int64)
    values = np.array([g for rel in relevance for g in rel.values()], dtype=np.float64)
    order = keys.argsort()
    keys, values = keys[order], values[order]
    wanted = np.arange(n_queries, dtype=np.int64)[:, None] * stride + np.where(ranked < 0, stride - 1, ranked)
    pos = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
    found = keys[pos] == wanted
    grades[found] = values[pos[found]]
    return grades


def _dcg(gains: np.ndarray) -> np.ndarray:
    return (gains / np.log2(np.arange(gains.shape[1]) + 2)).sum(axis=1)


def _judged(
    ranked: np.ndarray, relevance: Sequence[Mapping[int, float]], grades: Sequence[Sequence[float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grades of the ranked passages, their hits (1.0 where relevant) and each query's number of relevant
    passages; a ranking shorter than 100 (a small corpus) is padded with "no passage"."""
    if ranked.shape[1] < MAX_K:
        ranked = np.pad(ranked, ((0, 0), (0, MAX_K - ranked.shape[1])), constant_values=-1)
    gains = relevance_matrix(ranked, relevance)
    n_rel = np.array([len(g) for g in grades], dtype=np.float64)
    return gains, (gains > 0).astype(np.float64), n_rel


def _binary_ndcg(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    ideal = np.zeros((len(hits), NDCG_AT))
    ideal[np.arange(NDCG_AT)[None, :] < n_rel[:, None]] = 1.0
    return _dcg(hits[:, :NDCG_AT]) / _dcg(ideal)


def per_query(
    ranked: np.ndarray, relevance: Sequence[Mapping[int, float]], grades: Sequence[Sequence[float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per query: binary nDCG@10 (as in :func:`ir_metrics`, whose mean it is) and the rank (1-based) of the
    first relevant passage in the top 100, 0 when none is there.

        >>> ndcg, first = per_query(np.array([[2, 0, 1], [1, 2, 0]]), [{0: 1.0}, {0: 1.0}], [[1.0], [1.0]])
        >>> ndcg.round(3).tolist(), first.tolist()
        ([0.631, 0.5], [2, 3])
    """
    _, hits, n_rel = _judged(ranked, relevance, grades)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    return _binary_ndcg(hits, n_rel), first


def ir_metrics(
    ranked: np.ndarray,
    relevance: Sequence[Mapping[int, float]],
    grades: Sequence[Sequence[float]],
    graded: bool = False,
) -> dict[str, float]:
    """Mean metrics over queries.

    ``ranked``: (queries × k) corpus indices, best first, -1 where the corpus ran out; ``relevance``: per
    query, corpus index → grade (> 0) of its relevant passages in the corpus; ``grades``: per query, the
    grades of all its relevant passages, including those missing from the corpus (the evaluator counts
    them); ``graded`` adds ``ndcg_graded@10``.
    """
    n_queries = len(ranked)
    if n_queries == 0:
        return {}
    gains, hits, n_rel = _judged(ranked, relevance, grades)
    out: dict[str, float] = {}
    for k in ACCURACY_AT:
        out[f"accuracy@{k}"] = float((hits[:, :k].sum(axis=1) > 0).mean())
    for k in PRECISION_RECALL_AT:
        out[f"precision@{k}"] = float((hits[:, :k].sum(axis=1) / k).mean())
    for k in PRECISION_RECALL_AT:
        out[f"recall@{k}"] = float((hits[:, :k].sum(axis=1) / n_rel).mean())
    out[f"ndcg@{NDCG_AT}"] = float(_binary_ndcg(hits, n_rel).mean())
    first = hits[:, :MRR_AT]
    has_hit = first.any(axis=1)
    out[f"mrr@{MRR_AT}"] = float(np.where(has_hit, 1.0 / (first.argmax(axis=1) + 1), 0.0).mean())
    top = hits[:, :MAP_AT]
    precision_at_hit = top.cumsum(axis=1) / np.arange(1, MAP_AT + 1) * top
    out[f"map@{MAP_AT}"] = float((precision_at_hit.sum(axis=1) / np.minimum(MAP_AT, n_rel)).mean())
    if graded:
        ideal_gains = np.zeros((n_queries, NDCG_AT))
        for q, query_grades in enumerate(grades):
            best = sorted(query_grades, reverse=True)[:NDCG_AT]
            ideal_gains[q, : len(best)] = best
        idcg = _dcg(ideal_gains)
        ndcg = np.divide(_dcg(gains[:, :NDCG_AT]), idcg, out=np.zeros(n_queries), where=idcg > 0)
        out[GRADED_NDCG] = float(ndcg.mean())
    return out
