"""Style ``keywords``: a few of a chunk's most distinctive words as its pseudo-query, offline.

People type a handful of words into a legal search box ("démission préavis", "remise documents fin de
contrat"), not sentences. A keyword query is 2 to 4 of the chunk's words with the highest TF-IDF against the
whole corpus (smoothed IDF; words of 3+ letters, no stopwords, no numbers, no word of the law's own structure), drawn at
random among the best ones (seeded per chunk) and given in the order they first appear in the chunk. When a
``vocabulary`` is given (the words of the corpus's section titles: the terms its editors use to name
subjects) and the chunk holds two or more of them, the words are taken from it, so a query is made of subject
terms ("préavis", "démission") rather than of rare but empty words ("indépendamment"). This is the term-based
pseudo-query of the unsupervised retrieval literature (the TF-IDF keyword queries used as a baseline by Ma et
al. 2021, "Zero-shot Neural Passage Retrieval via Domain-targeted Synthetic Question Generation"; the term
sampling of Izacard et al. 2022, "Contriever"), made search-box shaped::

    >>> corpus = ["Le salarié démissionnaire respecte un préavis.", "Le salarié a droit à des congés payés."]
    >>> index = KeywordIndex(corpus, ["fr", "fr"], vocabulary={"préavis", "démissionnaire", "congés"})
    >>> index.queries(0, "fr", n=1, min_words=2, max_words=2, rng=__import__("random").Random(0))
    ['démissionnaire préavis']
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Collection, Sequence

from lexqa.languages import EMPTY_WORDS
from lexqa.lexical import WORD, stopwords

CANDIDATES = 8
"""Best-scoring words a query draws from."""


def subject_words(text: str, stop: frozenset[str] = frozenset()) -> list[str]:
    """The words of ``text`` that can say what it is about: lowercase, 3+ letters, not a number, not a
    stopword of ``stop`` nor a word of the law's structure (:data:`lexqa.languages.EMPTY_WORDS`).

    >>> subject_words("Section 2 : Congés payés du salarié", frozenset({"du"}))
    ['congés', 'payés', 'salarié']
    """
    return [
        w
        for w in WORD.findall(text.lower())
        if len(w) >= 3 and not w.isdigit() and w not in stop and w not in EMPTY_WORDS
    ]


class KeywordIndex:
    """Document frequencies of the words of ``texts`` (the corpus), to score each text's words by TF-IDF."""

    def __init__(
        self, texts: Sequence[str], langs: Sequence[str], vocabulary: Collection[str] = frozenset()
    ) -> None:
        self.texts = list(texts)
        self.langs = list(langs)
        self.vocabulary = {w.lower() for w in vocabulary}
        self.df: Counter[str] = Counter()
        for text, lang in zip(self.texts, self.langs, strict=True):
            self.df.update(set(subject_words(text, stopwords((lang,)))))
        self.n = len(self.texts)

    def best_words(self, i: int, lang: str) -> list[tuple[str, float]]:
        """The :data:`CANDIDATES` best words of text ``i`` by TF-IDF, with their scores, best first (only the
        vocabulary's when the text holds two or more of them)."""
        counts = Counter(subject_words(self.texts[i], stopwords((lang,))))
        subject = [w for w in counts if w in self.vocabulary]
        if len(subject) >= 2:
            counts = Counter({w: counts[w] for w in subject})
        scored = [(w, tf * (1 + math.log((1 + self.n) / (1 + self.df[w])))) for w, tf in counts.items()]
        scored.sort(key=lambda ws: (-ws[1], ws[0]))
        return scored[:CANDIDATES]

    def queries(
        self, i: int, lang: str, n: int, min_words: int, max_words: int, rng: random.Random
    ) -> list[str]:
        """Up to ``n`` distinct keyword queries of text ``i``."""
        best = self.best_words(i, lang)
        if len(best) < min_words:
            return []
        position = {w: k for k, w in reversed(list(enumerate(WORD.findall(self.texts[i].lower()))))}
        out: list[str] = []
        for _ in range(4 * n):
            size = rng.randint(min_words, min(max_words, len(best)))
            words, weights = [w for w, _ in best], [s for _, s in best]
            picked: list[str] = []
            while len(picked) < size:
                k = words.index(rng.choices(words, weights)[0])
                picked.append(words.pop(k))
                weights.pop(k)
            query = " ".join(sorted(picked, key=lambda w: position.get(w, 0)))
            if query not in out:
                out.append(query)
                if len(out) == n:
                    break
        return out
