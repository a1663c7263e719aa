"""Style ``keywords``: a few of a chunk's most distinctive terms as its pseudo-query, offline.

People type a handful of words into a legal search box ("démission préavis", "période d'essai cdd"), not
sentences. A keyword query is made of terms of the chunk, 2 to 4 words in all, given in the order they first
appear in it. The terms are taken, when the chunk holds enough of them, from the **phrases of the corpus's
section titles** (one to three words: "congés payés", "période d'essai", "rupture conventionnelle": the names
its editors give to subjects, which is what people search for), else from its words; either way scored by
TF-IDF against the whole corpus (smoothed IDF; words of 3+ letters, no stopwords, numbers or words of the law's
structure) and drawn at random among the best (seeded per chunk). This is the term-based pseudo-query of the
unsupervised retrieval literature (the TF-IDF keyword queries used as a baseline by Ma et al. 2021, "Zero-shot
Neural Passage Retrieval via Domain-targeted Synthetic Question Generation"; the term sampling of Izacard et al.
2022, "Contriever"), made search-box shaped::

    >>> corpus = ["Le salarié qui démissionne respecte un préavis.", "Le salarié a droit à des congés payés."]
    >>> phrases = title_phrases(["Préavis de démission", "Congés payés"], "fr")
    >>> sorted(" ".join(p) for p in phrases)
    ['congés', 'congés payés', 'démission', 'payés', 'préavis', 'préavis de démission']
    >>> index = KeywordIndex(corpus, ["fr", "fr"], phrases)
    >>> index.queries(1, "fr", n=1, min_words=2, max_words=3, rng=__import__("random").Random(0))
    ['congés payés']
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from lexqa.languages import EMPTY_WORDS
from lexqa.lexical import WORD, stopwords

CANDIDATES = 8
"""Best-scoring terms a query draws from."""

MAX_PHRASE = 3
"""Words in a title phrase, at most."""

Phrase = tuple[str, ...]


def _subject(word: str, stop: frozenset[str]) -> bool:
    return len(word) >= 3 and not word.isdigit() and word not in stop and word not in EMPTY_WORDS


def subject_words(text: str, stop: frozenset[str] = frozenset()) -> list[str]:
    """The words of ``text`` that can say what it is about: lowercase, 3+ letters, not a number, not a
    stopword of ``stop`` nor a word of the law's structure (:data:`lexqa.languages.EMPTY_WORDS`).

    >>> subject_words("Section 2 : Congés payés du salarié", frozenset({"du"}))
    ['congés', 'payés', 'salarié']
    """
    return [w for w in WORD.findall(text.lower()) if _subject(w, stop)]


def _ngrams(words: Sequence[str], stop: frozenset[str]) -> Iterable[Phrase]:
    """Phrases of 1 to :data:`MAX_PHRASE` words that start and end with a subject word."""
    for i in range(len(words)):
        for n in range(1, MAX_PHRASE + 1):
            gram = tuple(words[i : i + n])
            if len(gram) == n and _subject(gram[0], stop) and _subject(gram[-1], stop):
                yield gram


def title_phrases(titles: Iterable[str], lang: str) -> set[Phrase]:
    """The phrases of section titles (lowercase word tuples) that keyword queries may use."""
    stop = stopwords((lang,))
    return {gram for title in titles for gram in _ngrams(WORD.findall(title.lower()), stop)}


class KeywordIndex:
    """Document frequencies of the terms of ``texts`` (the corpus): title ``phrases`` and subject words."""

    def __init__(
        self, texts: Sequence[str], langs: Sequence[str], phrases: Collection[Phrase] = frozenset()
    ) -> None:
        self.texts = list(texts)
        self.langs = list(langs)
        self.phrases = set(phrases)
        self.df: Counter[Phrase] = Counter()
        for i in range(len(self.texts)):
            self.df.update(set(self._terms(i)))
        self.n = len(self.texts)
        self._group_df: dict[tuple[int, ...], Counter[Phrase]] = {}

    def _terms(self, i: int) -> list[Phrase]:
        """Text ``i``'s title phrases (any length) and subject words (single), with repeats."""
        stop = stopwords((self.langs[i],))
        words = WORD.findall(self.texts[i].lower())
        grams = [g for g in _ngrams(words, stop) if len(g) == 1 or g in self.phrases]
        return grams

    def best_terms(self, i: int) -> list[tuple[Phrase, float]]:
        """The :data:`CANDIDATES` best terms of text ``i`` by TF-IDF, best first: title phrases when it holds
        two or more (a phrase's words are not counted again alone), else its subject words."""
        counts = Counter(self._terms(i))
        titled = [g for g in counts if g in self.phrases]
        if len(titled) >= 2:
            inside = {w for g in titled if len(g) > 1 for w in g}
            counts = Counter({g: counts[g] for g in titled if len(g) > 1 or g[0] not in inside})
        scored = [(g, tf * self.idf(g)) for g, tf in counts.items()]
        scored.sort(key=lambda gs: (-gs[1], gs[0]))
        return scored[:CANDIDATES]

    def idf(self, term: Phrase) -> float:
        """The smoothed inverse document frequency of ``term`` in the corpus (1 for a term no text holds)."""
        return 1 + math.log((1 + self.n) / (1 + self.df[term]))

    def apart_terms(self, i: int, group: Sequence[int]) -> list[tuple[str, float]]:
        """The best terms of text ``i`` (:meth:`best_terms`) that set it apart within ``group`` (the texts it is
        read among, ``i`` included), best first, as first written in it: each term's TF-IDF × its IDF within the
        group. A term every text of the group holds scores 0 and is left out, so a group of one gives none.

        >>> index = KeywordIndex(["préavis de démission", "démission et indemnité", "congés payés"], ["fr"] * 3)
        >>> [(term, round(score, 3)) for term, score in index.apart_terms(0, [0, 1])]
        [('préavis', 0.687)]
        >>> index.apart_terms(2, [2])
        []
        """
        members = tuple(dict.fromkeys([*group, i]))
        held = self._group_df.get(members)
        if held is None:
            held = self._group_df[members] = Counter(g for j in members for g in set(self._terms(j)))
        surface, _ = self._surfaces(i)
        scored = []
        for term, score in self.best_terms(i):
            apart = math.log((1 + len(members)) / (1 + held[term]))
            if apart > 0:
                scored.append((surface[term], score * apart))
        scored.sort(key=lambda ts: (-ts[1], ts[0]))
        return scored

    def _surfaces(self, i: int) -> tuple[dict[Phrase, str], dict[Phrase, int]]:
        """Each term of text ``i`` as first written there (lowercase, apostrophes kept: "période d'essai"),
        and where."""
        text = self.texts[i].lower()
        spans = [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]
        surface: dict[Phrase, str] = {}
        position: dict[Phrase, int] = {}
        for k in range(len(spans)):
            for n in range(1, MAX_PHRASE + 1):
                gram = tuple(w for w, _, _ in spans[k : k + n])
                if len(gram) == n and gram not in surface:
                    surface[gram] = " ".join(text[spans[k][1] : spans[k + n - 1][2]].split())
                    position[gram] = k
        return surface, position

    def queries(
        self, i: int, lang: str, n: int, min_words: int, max_words: int, rng: random.Random
    ) -> list[str]:
        """Up to ``n`` distinct keyword queries of text ``i`` (``lang``: kept for callers; the index knows it)."""
        best = self.best_terms(i)
        if sum(len(g) for g, _ in best) < min_words:
            return []
        surface, position = self._surfaces(i)
        out: list[str] = []
        for _ in range(4 * n):
            size = rng.randint(min_words, max_words)
            terms, weights = [g for g, _ in best], [s for _, s in best]
            picked: list[Phrase] = []
            while terms and sum(len(g) for g in picked) < size:
                k = terms.index(rng.choices(terms, weights)[0])
                picked.append(terms.pop(k))
                weights.pop(k)
            if sum(len(g) for g in picked) > max_words and len(picked) > 1:
                picked.pop()
            query = " ".join(surface[g] for g in sorted(picked, key=lambda g: position[g]))
            if query and query not in out:
                out.append(query)
                if len(out) == n:
                    break
        return out
