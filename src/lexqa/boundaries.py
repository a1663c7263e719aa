"""Where a text may be cut: paragraph, line, sentence and word boundaries, as character positions.

A break is a pair ``(q, p)``: the previous piece ends at ``q`` (before the whitespace) and the next one
starts at ``p`` (after it), so ``text[q:p]`` is whitespace only and no piece is ever cut inside a word.
Levels go from the strongest cut to the weakest; a break of one level is also a break of every weaker one.

This is lexqa's one sentence splitter: the chunk stage cuts long articles and ruling parts at its breaks
(and finds where a ruling's part begins), the offline question generators take their sentences from it. It
knows the abbreviations of :data:`lexqa.languages.ABBREVIATIONS` (``art.``, ``al.``, ``cf.``, ``janv.``,
``ст.``, ``абз.``), single letters and dotted letters (``п.``, ``ч.``, ``г.``, ``L.``, ``т.е.``, initials
like ``Г.Г.``, also glued to what precedes them: ``<Дата обезличена>г.``), enumeration labels like ``1.`` at
the start of a line, and only cuts before a capital letter or a digit::

    >>> from lexqa.boundaries import split_sentences
    >>> text = "Selon l'art. 9 du code, chacun a droit au respect. Le juge peut agir. Cf. art. L. 121-1."
    >>> [text[a:b] for a, b in split_sentences(text)]       # doctest: +NORMALIZE_WHITESPACE
    ["Selon l'art. 9 du code, chacun a droit au respect.", 'Le juge peut agir.', 'Cf. art. L. 121-1.']
    >>> text = "Согласно п. 2 ч. 1 ст. 12 ГК РФ, т.е. в 2014 г. Иванов И.И. обратился в суд. Суд отказал."
    >>> [text[a:b] for a, b in split_sentences(text)]
    ['Согласно п. 2 ч. 1 ст. 12 ГК РФ, т.е. в 2014 г. Иванов И.И. обратился в суд.', 'Суд отказал.']
"""

from __future__ import annotations

import re
from enum import IntEnum

from lexqa.languages import ABBREVIATIONS, SENTENCE_FINAL

__all__ = ["Level", "find_breaks", "sentence_start", "split_sentences"]


class Level(IntEnum):
    """Cut levels, strongest first in :data:`LEVELS`."""

    WORD = 0
    SENTENCE = 1
    LINE = 2
    PARAGRAPH = 3


LEVELS = (Level.PARAGRAPH, Level.LINE, Level.SENTENCE, Level.WORD)

_PARAGRAPH = re.compile(r"[^\S\n]*\n[^\S\n]*\n\s*")
_LINE = re.compile(r"[^\S\n]*\n\s*")
_WORD = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?…]+(?:[ \u00a0\u202f]?[»\"”’')\]])*(\s+)")  # « Non. » Puis
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")  # Г.Г, т.е, J.O, L
_GLUED = re.compile(r"[\w.]+$")  # the word glued to the full stop: <Дата обезличена>г. -> г
_LABEL = re.compile(r"\d+|[IVXLC]+|[ivxlc]+")  # 1. II. iv. opening a line or a sentence
_LABEL_AFTER = ".!?…:;»\n"  # what may precede an enumeration label
_ELISION = re.compile(r"['’]")
_OPENERS = "«\"“„'([—–-"
_WORD_LOOKBACK = 24


def _is_abbreviation(word: str) -> bool:
    """A known abbreviation, a single letter or dotted letters (initials, ``т.е``), without its full stop."""
    return word.lower() + "." in ABBREVIATIONS or _INITIALS.fullmatch(word) is not None


def _is_sentence_break(text: str, m: re.Match[str], lo: int, hi: int) -> bool:
    """Is the punctuation + whitespace matched by ``m`` (in ``text[lo:hi]``) a sentence end?"""
    p = m.end(1)
    if p >= hi:
        return False
    j = p
    while j < hi and text[j] in _OPENERS:
        j += 1
    while j < hi and text[j] == " ":
        j += 1
    if j >= hi or not (text[j].isupper() or text[j].isdigit()):
        return False
    punct_end = m.start(1)
    if text[m.start()] != "." or text.count(".", m.start(), punct_end) != 1:
        return True  # ?, !, …, or "..." close a sentence whatever comes before
    dot = text.index(".", m.start(), punct_end)
    word = _word_before(text, dot, lo)
    if not word or word.lower() + "." in SENTENCE_FINAL:
        return True  # no word, a word too long to be an abbreviation, or one that often ends a sentence
    if _abbreviated(word):
        return False
    if _LABEL.fullmatch(word):
        b0 = max(lo, dot - len(word) - _WORD_LOOKBACK)
        before = text[b0 : dot - len(word)].rstrip(" \t\xa0")
        if not before:
            return False  # "1. Le contrat ...": a label opening the text
        after_abbreviation = before[-1] == "." and _abbreviated(
            _word_before(text, b0 + len(before) - 1, lo) or ""
        )
        if before[-1] in _LABEL_AFTER and not after_abbreviation:
            return False  # "nuls : 2. Les actes": a label, not a sentence end (but "janv. 2020. Le" ends one)
    return True


def _word_before(text: str, dot: int, lo: int) -> str | None:
    """The word before the full stop at ``dot`` (no opening quote, no elided article: ``l'art`` -> ``art``);
    None when it is longer than any abbreviation."""
    w0 = max(lo, dot - _WORD_LOOKBACK)
    seg = text[w0:dot]
    k = max(seg.rfind(" "), seg.rfind("\n"), seg.rfind("\t"), seg.rfind("\xa0"))
    if k < 0 and w0 > lo:
        return None
    return _ELISION.split(seg[k + 1 :].lstrip(_OPENERS))[-1]


def _abbreviated(word: str) -> bool:
    """Whether a full stop after ``word`` marks an abbreviation, also one glued to what precedes it
    (``<Дата обезличена>г.``)."""
    glued = _GLUED.search(word)
    return _is_abbreviation(word) or bool(glued and glued.start() > 0 and _is_abbreviation(glued.group()))


def find_breaks(text: str, level: Level, lo: int = 0, hi: int | None = None) -> tuple[list[int], list[int]]:
    """Breaks of ``level`` inside ``text[lo:hi]``: parallel sorted lists of ends ``q`` and starts ``p``.

    >>> find_breaks("Un.\\n\\nDeux. Trois quatre.", Level.PARAGRAPH)
    ([3], [5])
    >>> find_breaks("Un.\\n\\nDeux. Trois quatre.", Level.SENTENCE)
    ([3, 10], [5, 11])
    """
    hi = len(text) if hi is None else hi
    qs: list[int] = []
    ps: list[int] = []
    if level is Level.SENTENCE:
        for m in _SENTENCE_END.finditer(text, lo, hi):
            if _is_sentence_break(text, m, lo, hi):
                qs.append(m.start(1))
                ps.append(m.end(1))
        return qs, ps
    pattern = {Level.PARAGRAPH: _PARAGRAPH, Level.LINE: _LINE, Level.WORD: _WORD}[level]
    for m in pattern.finditer(text, lo, hi):
        q, p = m.span()
        if lo < q and p < hi:  # leading or trailing whitespace is not a break
            qs.append(q)
            ps.append(p)
    return qs, ps


def sentence_start(text: str, pos: int) -> int:
    """Start of the sentence (or line) that contains position ``pos``."""
    line_start = text.rfind("\n", 0, pos) + 1
    _, starts = find_breaks(text, Level.SENTENCE, line_start, pos + 1)
    starts = [p for p in starts if p <= pos]
    return starts[-1] if starts else line_start


def split_sentences(text: str, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text[lo:hi]`` (line and paragraph ends close one too)."""
    hi = len(text) if hi is None else hi
    cuts = sorted(
        set(zip(*find_breaks(text, Level.SENTENCE, lo, hi), strict=True))
        | set(zip(*find_breaks(text, Level.LINE, lo, hi), strict=True))
    )
    spans, start = [], lo
    while start < hi and text[start].isspace():
        start += 1
    for q, p in cuts:
        spans.append((start, q))
        start = p
    end = hi
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
    return spans
