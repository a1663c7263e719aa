"""The exact word n-gram Jaccard of two texts, computed with Python sets, independently of lexqa.dedup: the
reference the dedup and split tests check MinHash results against."""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+")


def true_jaccard(a: str, b: str, n: int = 5) -> float:
    """Jaccard similarity of the word ``n``-gram sets of ``a`` and ``b`` (casefolded)."""

    def grams(text: str) -> set[tuple[str, ...]]:
        w = WORD.findall(text.casefold())
        return {tuple(w[i : i + n]) for i in range(max(len(w) - n + 1, 1))}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)
