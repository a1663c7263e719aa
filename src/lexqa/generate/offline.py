"""Backend ``offline``: pseudo-queries taken from the corpus itself, no LLM, mixed by style.

``generate.offline`` says how many of each style a chunk gets (a fraction is a chance, drawn per chunk with the
run's seed), or, with ``draw: one``, the chance of each style for the chunk's one pseudo-query:

- ``ict`` (:mod:`.ict`): one of its sentences, usually cut from the passage (Lee et al. 2019);
- ``title`` (:mod:`.titles`): the section titles above it (Chang et al. 2020, title/body);
- ``keywords`` (:mod:`.keywords`): a few of its most distinctive words, like a search-box query;
- ``citation`` (:mod:`.citations`): a sentence of it that cites another article, as a query for that article
  (Chang et al. 2020, Wiki Link Prediction): the row's chunk is the cited article's first chunk;
- ``aspect`` (:mod:`.aspects`): its section title and the term that sets it apart from the chunks under the
  same headings ("Congé sabbatique durée").

Rows follow ``tables.QUESTIONS`` with backend and model ``offline``; ids are ``<chunk_id>:<style>:<k>`` (a
citation's ``k`` names the citing chunk). A chunk that drew at least one pseudo-query but got none from any
style gets a failure row per style drawn, saying why (``no_sentence``, ``no_title``, ``no_keywords``,
``no_citation``, ``no_sibling``); the summary counts chunks that drew nothing (``chunks_not_drawn``, always 0
with ``draw: one``, where a style that gives the chunk nothing yields to the next one drawn)::

    >>> from lexqa.config import GenerateParams
    >>> params = GenerateParams(offline={"ict": 0, "title": 1, "keywords": 1})
    >>> chunks = pl.DataFrame({"chunk_id": ["c:L1#0"], "doc_id": ["c:L1"], "ordinal": [0], "lang": ["fr"],
    ...                        "source": ["c"], "text": ["Le salarié démissionnaire respecte un préavis."]})
    >>> docs = pl.DataFrame({"doc_id": ["c:L1"], "source": ["c"], "number": ["L1"],
    ...                      "path": [["Livre Ier", "Chapitre II : Démission"]]})
    >>> [(r["style"], r["question"]) for r in OfflineGenerator(chunks, docs, params, seed=0).rows(chunks)]
    [('title', 'Démission'), ('keywords', 'salarié respecte préavis')]
    >>> one = GenerateParams(offline={"ict": 0, "title": 1, "keywords": 1, "draw": "one"})
    >>> len(list(OfflineGenerator(chunks, docs, one, seed=0).rows(chunks)))
    1
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from typing import Any

import polars as pl

from lexqa.boundaries import split_sentences
from lexqa.config import GenerateParams
from lexqa.generate.aspects import aspect_queries, sibling_groups
from lexqa.generate.citations import masked, references
from lexqa.generate.ict import ict_pairs
from lexqa.generate.keywords import KeywordIndex, title_phrases
from lexqa.generate.titles import generic_titles, section_title, titles
from lexqa.lexical import stopwords

BACKEND = "offline"

FAILURES = {
    "title": "no_title: its document has no section title",
    "citation": "no_citation: it cites no other article of its source",
    "aspect": "no_sibling: no section title, no other chunk under its titles, or no term sets it apart from them",
}


def _row(chunk_id: str, style: str, k: str | int, question: str | None, passage: str | None = None) -> dict:
    ok = question is not None
    return {
        "question_id": f"{chunk_id}:{style}:{k}",
        "chunk_id": chunk_id,
        "question": question,
        "style": style,
        "backend": BACKEND,
        "model": BACKEND,
        "prompt_sha": None,
        "cache_key": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "status": "ok" if ok else "failed",
        "error": None,
        "passage": passage,
    }


def article_ids(documents: pl.DataFrame) -> dict[tuple[str, str], str]:
    """``(source, article number)`` → doc id, for the documents that have a number (what a reference names)."""
    numbered = documents.filter(pl.col("number").is_not_null())
    return {(s, n): d for d, s, n in numbered.select("doc_id", "source", "number").iter_rows()}


class OfflineGenerator:
    """Pseudo-queries for chunks of ``chunks`` (the whole corpus: keyword scores and citations look across
    it), with ``documents``' section paths and article numbers."""

    def __init__(
        self, chunks: pl.DataFrame, documents: pl.DataFrame, params: GenerateParams, seed: int
    ) -> None:
        self.params = params
        self.seed = seed
        self.weights = params.offline.weights()
        self.one = params.offline.draw == "one"
        self.row_of = {cid: i for i, cid in enumerate(chunks["chunk_id"].to_list())}
        self.path = dict(documents.select("doc_id", "path").iter_rows())
        self.article = article_ids(documents)
        first = chunks.sort("ordinal").unique("doc_id", keep="first", maintain_order=True)
        self.first_chunk = dict(first.select("doc_id", "chunk_id").iter_rows())
        self.generic_titles: set[str] = set()
        if params.title.generic_parents:
            paths = (path or [] for path in self.path.values())
            self.generic_titles = generic_titles(paths, params.title.generic_parents)
        self.keywords: KeywordIndex | None = None
        self.siblings: dict[int, list[int]] = {}
        if "aspect" in self.weights:
            rows = documents.select("doc_id", "source", "path").iter_rows()
            sections = {doc_id: (source, tuple(path)) for doc_id, source, path in rows if path}
            groups = sibling_groups(chunks["doc_id"].to_list(), sections)
            self.siblings = {row: group for group in groups.values() for row in group}
        if {"keywords", "aspect"} & set(self.weights):
            lang_of = dict(chunks.select("doc_id", "lang").unique("doc_id").iter_rows())
            phrases: set[tuple[str, ...]] = set()
            for doc_id, path in self.path.items():
                headings = [section_title(h) or "" for h in path or []]
                phrases |= title_phrases(headings, lang_of.get(doc_id, ""))
            self.keywords = KeywordIndex(chunks["text"].to_list(), chunks["lang"].to_list(), phrases)
        self.not_drawn = 0

    def count(self, chunk_id: str, style: str) -> int:
        """How many pseudo-queries of ``style`` the chunk gets: the integer part, plus one with the fraction's
        chance."""
        weight = self.weights.get(style, 0.0)
        whole = math.floor(weight)
        extra = random.Random(f"{self.seed}:{chunk_id}:{style}:count").random() < weight - whole
        return whole + int(extra)

    def order(self, chunk_id: str) -> list[str]:
        """``draw: one``: the styles in the order the chunk tries them, a weighted draw without replacement
        (Efraimidis and Spirakis 2006: each style's key is ``u ** (1 / weight)``, highest first)."""
        rng = random.Random(f"{self.seed}:{chunk_id}:one")
        keys = {style: rng.random() ** (1 / weight) for style, weight in self.weights.items()}
        return sorted(keys, key=keys.__getitem__, reverse=True)

    def drawn(self, chunk_id: str) -> dict[str, int]:
        """The styles the chunk tries, with how many of each: every style by its own draw (``draw: each``),
        or all of them, one each, in :meth:`order` (``draw: one``: the first that gives one is kept)."""
        if self.one:
            return dict.fromkeys(self.order(chunk_id), 1)
        counts = {style: self.count(chunk_id, style) for style in self.weights}
        return {s: n for s, n in counts.items() if n}

    def rows(self, selected: pl.DataFrame) -> Iterator[dict[str, Any]]:
        """``QUESTIONS`` rows for the ``selected`` chunks."""
        for chunk_id, doc_id, text, lang, source in selected.select(
            "chunk_id", "doc_id", "text", "lang", "source"
        ).iter_rows():
            drawn = self.drawn(chunk_id)
            if not drawn:
                self.not_drawn += 1
                continue
            made = []
            for style, n in drawn.items():
                made += list(self._style(style, n, chunk_id, doc_id, text or "", lang, source))
                if made and self.one:
                    break
            if made:
                yield from made
                continue
            for style in drawn:
                yield _row(chunk_id, style, "failed", None) | {"error": self._failure(style)}

    def _failure(self, style: str) -> str:
        if style == "ict":
            ict = self.params.ict
            return f"no_sentence: no sentence of {ict.min_sentence_chars}-{ict.max_sentence_chars} characters"
        if style == "keywords":
            return f"no_keywords: fewer than {self.params.keywords.min_words} distinctive words"
        return FAILURES[style]

    def _style(
        self, style: str, n: int, chunk_id: str, doc_id: str, text: str, lang: str, source: str
    ) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"{self.seed}:{chunk_id}:{style}")
        if style == "ict":
            for k, (question, passage) in enumerate(ict_pairs(chunk_id, text, n, self.params.ict, self.seed)):
                yield _row(chunk_id, style, k, question, passage)
        elif style == "title":
            for k, title in enumerate(titles(self.path.get(doc_id) or [], n, self.generic_titles)):
                yield _row(chunk_id, style, k, title)
        elif style == "keywords" and self.keywords is not None:
            kw = self.params.keywords
            queries = self.keywords.queries(self.row_of[chunk_id], lang, n, kw.min_words, kw.max_words, rng)
            for k, query in enumerate(queries):
                yield _row(chunk_id, style, k, query)
        elif style == "citation":
            yield from self._citations(n, chunk_id, doc_id, text, source, rng)
        elif style == "aspect":
            yield from self._aspects(n, chunk_id, doc_id, lang)

    def _aspects(self, n: int, chunk_id: str, doc_id: str, lang: str) -> Iterator[dict[str, Any]]:
        row = self.row_of[chunk_id]
        title = titles(self.path.get(doc_id) or [], 1, self.generic_titles)
        if not title or row not in self.siblings or self.keywords is None:
            return
        apart = self.keywords.apart_terms(row, self.siblings[row])
        for k, query in enumerate(aspect_queries(title[0], apart, n, stopwords((lang,)))):
            yield _row(chunk_id, "aspect", k, query)

    def _citations(
        self, n: int, chunk_id: str, doc_id: str, text: str, source: str, rng: random.Random
    ) -> Iterator[dict[str, Any]]:
        found = []
        for start, end in split_sentences(text):
            sentence = text[start:end]
            refs = references(sentence)
            cited = [self.article.get((source, number)) for number, _ in refs]
            query = masked(sentence)
            for target in dict.fromkeys(c for c in cited if c and c != doc_id and c in self.first_chunk):
                if len(query.split()) >= 4:
                    found.append((self.first_chunk[target], query, start))
        for target, query, start in sorted(rng.sample(found, min(n, len(found))), key=lambda f: f[2]):
            yield _row(
                target, "citation", hashlib.sha256(f"{chunk_id}@{start}".encode()).hexdigest()[:10], query
            )
