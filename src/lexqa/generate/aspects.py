"""Style ``aspect``: a chunk's section title and the term that sets it apart from the chunks beside it, offline.

People search a subject and an aspect of it ("congé sabbatique durée", "démission préavis", "licenciement
économique reclassement"). A code files the articles on one subject under one heading, so the title alone
names a dozen neighbouring articles and a title query (:mod:`.titles`) pairs each of them with the same words;
what tells them apart is the aspect each one deals with. An aspect query is the chunk's deepest section title
(generic ones skipped, as :func:`.titles.titles` does) followed by the keyword candidate that best sets it
apart from its *siblings*, the chunks of the documents filed under the same headings: its TF-IDF in the corpus
× its IDF among the siblings (:meth:`.keywords.KeywordIndex.apart_terms`), without the words the title
already has. It combines the title/body pairs of Chang et al. (2020) with the term-based queries of
:mod:`.keywords`, an IDF taken over a section instead of the corpus (Sparck Jones 1972), so that neighbours
in a section, the hardest negatives of a code, get different queries. A chunk alone under its headings gets
none (``no_sibling``)::

    >>> aspect_queries("Congé sabbatique", [("congé", 2.0), ("durée", 1.5), ("report", 0.9)], 2)
    ['Congé sabbatique durée', 'Congé sabbatique report']
    >>> groups = sibling_groups(["c:L1", "c:L1", "c:L2", "c:L3"], {"c:L1": ("A",), "c:L2": ("A",), "c:L3": ("B",)})
    >>> groups[("A",)], groups[("B",)]
    ([0, 1, 2], [3])
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence

from lexqa.lexical import WORD


def sibling_groups(chunk_docs: Sequence[str], key_of: Mapping[str, Hashable]) -> dict[Hashable, list[int]]:
    """The positions of ``chunk_docs`` (each chunk's document) grouped by their document's key in ``key_of``
    (its source and section path); chunks whose document has no key are left out."""
    groups: dict[Hashable, list[int]] = {}
    for row, doc_id in enumerate(chunk_docs):
        key = key_of.get(doc_id)
        if key is not None:
            groups.setdefault(key, []).append(row)
    return groups


def _stem(word: str) -> str:
    """A word's first six letters, lowercase: a crude stem under which "syndicale" meets "syndical" and
    "rémunérations" meets "rémunération"."""
    return word.lower()[:6]


def aspect_queries(
    title: str, apart: Sequence[tuple[str, float]], n: int, stop: Collection[str] = frozenset()
) -> list[str]:
    """Up to ``n`` queries: ``title`` followed by the words of each ``apart`` term (best first) that are
    neither in the title (by :func:`_stem`) nor stopwords of ``stop``, for the terms left with some.

    >>> aspect_queries("Modalités de rémunération", [("rémunérations", 3.0), ("heures", 2.0)], 1)
    ['Modalités de rémunération heures']
    >>> aspect_queries("Dépenses et frais", [("frais de transport", 3.0)], 1, stop={"de"})
    ['Dépenses et frais transport']
    """
    in_title = {_stem(w) for w in WORD.findall(title)}
    out: list[str] = []
    for term, _ in apart:
        words = [
            w
            for w in term.split()
            if any(_stem(p) not in in_title and p not in stop for p in WORD.findall(w))
        ]
        if words:
            out.append(f"{title} {' '.join(words)}")
            if len(out) == n:
                break
    return out
