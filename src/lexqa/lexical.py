"""Words and BM25: the lexical side of retrieval, shared by curate (BM25 round trip), generate (keyword
queries) and evaluate (the BM25 baseline).

Tokenisation is a simple language-aware rule: lowercase, ``ё`` → ``е``, Unicode words (so French elisions split
off: ``l'article`` → ``l``, ``article``), stopwords of the given languages removed; no stemming. BM25 is bm25s
(Lucene variant, default k1 and b)::

    >>> index = Bm25(["Le bail est conclu pour trois ans.", "Le salarié a droit à un congé payé."], ["fr"])
    >>> index.scores(["congé payé du salarié"]).argmax(axis=1).tolist()
    [1]
    >>> index.ranks(["congé payé du salarié"], [0]).tolist()     # its passage 0 ranks second
    [2]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from lexqa.languages import TABLE

if TYPE_CHECKING:
    from lexqa.config import Params

WORD = re.compile(r"\w+")

SCORE_BLOCK = 2**25
"""Query × passage scores held at once (128 MiB of float32)."""


@cache
def stopwords(languages: tuple[str, ...]) -> frozenset[str]:
    """bm25s' stopword lists of ``languages`` (normalised), each language's as :data:`lexqa.languages.TABLE`
    names it; a language without one, or not in the table, adds none."""
    from bm25s import stopwords as lists

    names = [TABLE[lang].stopwords for lang in languages if lang in TABLE]
    return frozenset(normalise(w) for name in names if name for w in getattr(lists, name))


def bm25_languages(params: Params) -> list[str]:
    """The stopword languages of the project's BM25: ``evaluate.bm25_languages``, or else the sources'."""
    return list(params.evaluate.bm25_languages) or sorted({s.lang for s in params.sources})


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


class Bm25:
    """A BM25 index of ``passages`` (bm25s), tokenised with the stopwords of ``languages``."""

    def __init__(self, passages: Sequence[str], languages: Sequence[str]) -> None:
        import bm25s

        self.stop = stopwords(tuple(sorted(languages)))
        self.size = len(passages)
        self.retriever = bm25s.BM25()
        if passages:
            self.retriever.index([tokenize(t, self.stop) for t in passages], show_progress=False)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """BM25 scores, shape (queries, passages); a query without a word scores 0 everywhere."""
        rows = []
        for text in queries:
            tokens = tokenize(text, self.stop)
            rows.append(
                self.retriever.get_scores(tokens) if tokens and self.size else np.zeros(self.size, np.float32)
            )
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.size), np.float32)

    def blocks(self, queries: Sequence[str]):
        """``(start, scores)`` for blocks of queries, so that memory stays bounded on large corpora."""
        block = max(1, SCORE_BLOCK // max(self.size, 1))
        for start in range(0, len(queries), block):
            yield start, self.scores(queries[start : start + block])

    def ranks(self, queries: Sequence[str], positives: Sequence[int]) -> np.ndarray:
        """Rank (1 = best) of passage ``positives[i]`` for ``queries[i]``: one plus the passages scoring higher."""
        out = np.ones(len(queries), dtype=np.int64)
        for start, scores in self.blocks(queries):
            own = scores[np.arange(len(scores)), np.asarray(positives[start : start + len(scores)])]
            out[start : start + len(scores)] += (scores > own[:, None]).sum(axis=1)
        return out
