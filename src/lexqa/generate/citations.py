"""Style ``citation``: an article that cites another ("dans les conditions prévues à l'article L. 1234-9") gives
a pseudo-query for the article it cites, offline.

The sentence that cites an article says, in other words, what that article is about; paired with the cited
article it is the *Wiki Link Prediction* pre-training task of Chang et al. (2020, "Pre-training Tasks for
Embedding-based Large-scale Retrieval", ICLR), where a sentence of one page is paired with a page it links to.
The reference itself is cut from the sentence (``l'article L. 1234-9`` → ``l'article``), so the pair teaches
what the article says rather than its number. References to another text (``… de la loi n° 2016-1691``,
``… du code de la sécurité sociale``) are not links into this corpus and are skipped; an article citing
itself too. French references only: Russian rulings cite codes that are not in their corpus::

    >>> refs = references("Il a droit à l'indemnité prévue aux articles L. 1234-9 et R. 1234-2 du présent code.")
    >>> [(number, text) for number, text in refs]
    [('L1234-9', 'L. 1234-9'), ('R1234-2', 'R. 1234-2')]
    >>> references("au sens de l'article 6 de la loi n° 2016-1691")
    []
    >>> masked("Il a droit à l'indemnité prévue à l'article L. 1234-9, sans délai.")
    "Il a droit à l'indemnité prévue à l'article, sans délai."

How often the rest of a code cites an article is its weight in that code (the citation-network measures of legal
importance: Fowler et al. 2007, "Network Analysis and the Law", Political Analysis); ``generate.limit_by:
cited`` writes questions for the most cited articles first::

    >>> articles = {("code", "L1"): "a1", ("code", "L2"): "a2"}
    >>> citing = [("a2", "code", "Selon l'article L. 1, ..."), ("a3", "code", "Aux articles L. 1 et L. 2.")]
    >>> cited_by(citing, articles)
    Counter({'a1': 2, 'a2': 1})
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

_REF = r"(?:[LRDA]\.?\s?)?\d+(?:[-‑]\d+)*(?:er)?"
_LIST = re.compile(
    rf"\barticles?\s+(?P<refs>{_REF}(?:\s*(?:,|\bet\b|\bà\b|\bou\b)\s*{_REF})*)", re.IGNORECASE
)
_ONE = re.compile(_REF, re.IGNORECASE)
_OTHER_TEXT = re.compile(
    r"^\s*,?\s*(?:du|de la|de l'|des|de l’)\s*(?:même\s+)?(?!présent)(?:code|loi|ordonnance|décret|directive|règlement|"
    r"convention|traité|constitution|annexe|accord)",
    re.IGNORECASE,
)


def normalise_number(reference: str) -> str:
    """An article number as documents spell it: ``L. 1234-9`` → ``L1234-9``, ``1er`` → ``1``.

    >>> normalise_number("L. 1234‑9"), normalise_number("1er")
    ('L1234-9', '1')
    """
    number = re.sub(r"[\s.]", "", reference).replace("‑", "-")
    return re.sub(r"er$", "", number, flags=re.IGNORECASE).upper()


def _links(text: str):
    """The reference lists of ``text`` that point into its own code."""
    for match in _LIST.finditer(text):
        if not _OTHER_TEXT.match(text[match.end() : match.end() + 60]):
            yield match


def references(text: str) -> list[tuple[str, str]]:
    """``(number, as written)`` of each article this text cites inside its own code, in order."""
    return [
        (normalise_number(ref.group().strip()), ref.group().strip())
        for match in _links(text)
        for ref in _ONE.finditer(match.group("refs"))
    ]


def masked(sentence: str) -> str:
    """``sentence`` without its references into its own code (``l'article L. 1234-9`` → ``l'article``)."""
    for match in reversed(list(_links(sentence))):
        sentence = sentence[: match.start("refs")].rstrip() + sentence[match.end("refs") :]
    sentence = re.sub(r"\s+([,.;:])", r"\1", sentence)
    return re.sub(r"\s{2,}", " ", sentence).strip()


def cited_by(texts: Iterable[tuple[str, str, str]], articles: Mapping[tuple[str, str], str]) -> Counter[str]:
    """Document id → how many other documents cite it, from ``(doc_id, source, text)`` (a document's chunks may
    come one by one: a document citing another twice counts once) and ``articles``: ``(source, number)`` → doc
    id."""
    links = {
        (doc_id, target)
        for doc_id, source, text in texts
        for number, _ in references(text)
        if (target := articles.get((source, number))) is not None and target != doc_id
    }
    return Counter(target for _, target in links)
