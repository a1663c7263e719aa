"""Rankings of a BEIR set for dense models (every Matryoshka dimension) and for BM25.

A dense model encodes the queries and the corpus once; each dimension slices the embeddings, renormalises them
and ranks by cosine similarity (sentence-transformers' evaluator would encode again for every dimension)::

    >>> from sentence_transformers import SentenceTransformer
    >>> model = SentenceTransformer("models/lexqa")                          # doctest: +SKIP
    >>> by_dim = dense_metrics(model, data, dims=[384, 128, 32])            # doctest: +SKIP
    >>> by_dim[128]["ndcg@10"]                                              # doctest: +SKIP
    0.61

BM25 (bm25s) tokenises with a simple language-aware rule: lowercase, ``ё`` → ``е``, Unicode words (French
elisions split off), stopwords of the given languages removed; no stemming.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from lexqa.evaluate.beir import BeirSet
from lexqa.evaluate.metrics import MAX_K, ir_metrics, top_k

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SCORE_BLOCK = 2**25
"""Query × passage scores held at once (128 MiB of float32)."""

WORD = re.compile(r"\w+")


def _show_progress() -> bool:
    return os.environ.get("LEXQA_NO_PROGRESS") != "1"


def metrics_of(ranked: np.ndarray, data: BeirSet) -> dict[str, float]:
    """The metrics of a ranking of ``data``'s corpus (one row of corpus indices per query)."""
    grades = [list(j.values()) for j in data.judgements]
    return ir_metrics(ranked, data.relevance, grades, graded=data.graded)


def encode(
    model: SentenceTransformer, data: BeirSet, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and passage embeddings at the model's full dimension, with the model's query/document prompts."""
    kwargs = {"batch_size": batch_size, "convert_to_tensor": True, "show_progress_bar": _show_progress()}
    queries = model.encode_query(data.query_texts, **kwargs)
    corpus = model.encode_document(data.corpus_texts, **kwargs)
    return queries.float(), corpus.float()


def rank_dense(queries: torch.Tensor, corpus: torch.Tensor, dim: int, k: int = MAX_K) -> np.ndarray:
    """Top-``k`` corpus indices per query by cosine similarity of the first ``dim`` components."""
    if len(corpus) == 0:
        return np.full((len(queries), 0), -1, dtype=np.int64)
    q = F.normalize(queries[:, :dim], p=2, dim=1)
    c = F.normalize(corpus[:, :dim], p=2, dim=1)
    block = max(1, SCORE_BLOCK // len(c))
    ranked = [top_k(q[i : i + block] @ c.T, k).cpu() for i in range(0, len(q), block)]
    return torch.cat(ranked).numpy()


def dense_metrics(
    model: SentenceTransformer, data: BeirSet, dims: Sequence[int], batch_size: int = 64
) -> dict[int, dict[str, float]]:
    """Metrics at each dimension in ``dims``, from one encoding of the queries and the corpus."""
    queries, corpus = encode(model, data, batch_size)
    return {dim: metrics_of(rank_dense(queries, corpus, dim), data) for dim in dims}


def _stopwords(languages: Sequence[str]) -> frozenset[str]:
    from bm25s import stopwords

    lists = {
        "en": stopwords.STOPWORDS_EN,
        "fr": stopwords.STOPWORDS_FRENCH,
        "ru": stopwords.STOPWORDS_RUSSIAN,
        "de": stopwords.STOPWORDS_GERMAN,
        "es": stopwords.STOPWORDS_SPANISH,
        "it": stopwords.STOPWORDS_ITALIAN,
        "pt": stopwords.STOPWORDS_PORTUGUESE,
        "nl": stopwords.STOPWORDS_DUTCH,
    }
    return frozenset(normalise(w) for lang in languages for w in lists.get(lang, ()))


def normalise(text: str) -> str:
    """Lowercase and fold ``ё`` into ``е`` (Russian texts write both)."""
    return text.lower().replace("ё", "е")


def tokenize(text: str, stop: frozenset[str] = frozenset()) -> list[str]:
    """BM25 tokens: lowercase Unicode words without stopwords.

    >>> tokenize("L'article 9 du Code civil", frozenset({"l", "du"}))
    ['article', '9', 'code', 'civil']
    >>> tokenize("Всё о ребёнке")
    ['все', 'о', 'ребенке']
    """
    return [w for w in WORD.findall(normalise(text)) if w not in stop]


def rank_bm25(data: BeirSet, languages: Sequence[str], k: int = MAX_K) -> np.ndarray:
    """Top-``k`` corpus indices per query by BM25 (bm25s, Lucene variant, default k1/b)."""
    import bm25s

    if not data.corpus_ids:
        return np.full((len(data.query_ids), 0), -1, dtype=np.int64)
    stop = _stopwords(languages)
    retriever = bm25s.BM25()
    retriever.index([tokenize(t, stop) for t in data.corpus_texts], show_progress=False)
    n_corpus = len(data.corpus_ids)
    block = max(1, SCORE_BLOCK // n_corpus)
    ranked = []
    for start in range(0, len(data.query_texts), block):
        tokens = [tokenize(t, stop) for t in data.query_texts[start : start + block]]
        scores = np.stack([retriever.get_scores(t) if t else np.zeros(n_corpus, np.float32) for t in tokens])
        ranked.append(top_k(torch.from_numpy(scores), k))
    return torch.cat(ranked).numpy()
