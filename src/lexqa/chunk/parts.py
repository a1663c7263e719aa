"""The parts of a Russian court ruling: header, reasoning (after УСТАНОВИЛ), operative part (after РЕШИЛ...).

The marker verbs are :data:`lexqa.languages.REASONING_VERBS` and :data:`~lexqa.languages.OPERATIVE_VERBS`,
the ones ingest gives a paragraph of their own. Markers are found in any case and also spaced out
(«У С Т А Н О В И Л :»), in the masculine, feminine and plural forms (``установил``, ``установила`` — a
panel, ``определили``). A marker counts when a colon follows
it (``Суд установил:``, ``определила:``) or when it is written in capitals (``Суд ОПРЕДЕЛИЛ в передаче``),
so ``суды установили, что ...`` inside the reasoning is no marker. The reasoning starts at the first
reasoning marker, the operative part at the last operative marker after it; each part begins at the start
of the sentence (or line) holding its marker, so ``Руководствуясь статьями ..., суд определил:`` opens the
operative part::

    >>> from lexqa.chunk.parts import ruling_parts
    >>> text = ("Дело № 2-1/2020\\n\\nУ С Т А Н О В И Л :\\n\\nИстец просит.\\n\\n"
    ...         "Р Е Ш И Л:\\n\\nИск удовлетворить.")
    >>> [(name, text[a:b].strip()) for a, b, name in ruling_parts(text)]    # doctest: +NORMALIZE_WHITESPACE
    [('header', 'Дело № 2-1/2020'), ('reasoning', 'У С Т А Н О В И Л :\\n\\nИстец просит.'),
     ('operative', 'Р Е Ш И Л:\\n\\nИск удовлетворить.')]
"""

from __future__ import annotations

import re

from lexqa.boundaries import sentence_start
from lexqa.languages import OPERATIVE_VERBS, REASONING_VERBS, VERB_ENDINGS

__all__ = ["find_markers", "ruling_parts"]

_GAP = "[ \u00a0]*"
_LETTER_BEFORE = r"(?<![^\W\d_])"
_LETTER_AFTER = r"(?![^\W\d_])"


def _marker_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    spaced = "|".join(_GAP.join(word) for word in words)
    return re.compile(
        rf"{_LETTER_BEFORE}(?P<word>(?:{spaced})(?:{_GAP}[{VERB_ENDINGS}])?){_LETTER_AFTER}"
        rf"(?P<colon>(?:{_GAP}следующее)?{_GAP}:)?",
        re.IGNORECASE,
    )


_REASONING = _marker_regex(REASONING_VERBS)
_OPERATIVE = _marker_regex(OPERATIVE_VERBS)


def _is_marker(m: re.Match[str]) -> bool:
    if m.group("colon"):
        return True
    letters = m.group("word").replace(" ", "").replace("\u00a0", "")
    return letters.isupper()


def find_markers(text: str, pattern: re.Pattern[str]) -> list[int]:
    """Start positions of the accepted markers of ``pattern`` in ``text``."""
    return [m.start() for m in pattern.finditer(text) if _is_marker(m)]


def ruling_parts(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` spans tiling ``text``: header / reasoning / operative, or one ``text`` span
    when no marker is found. Empty parts are left out."""
    reasoning = find_markers(text, _REASONING)
    r = sentence_start(text, reasoning[0]) if reasoning else None
    operative = [pos for pos in find_markers(text, _OPERATIVE) if r is None or pos > reasoning[0]]
    o = sentence_start(text, operative[-1]) if operative else None
    if r is not None and o is not None and o <= r:
        o = operative[-1]  # marker in the same sentence as the reasoning's: cut at the marker itself
    cuts = [(0, "header")]
    if r is not None:
        cuts.append((r, "reasoning"))
    if o is not None:
        cuts.append((o, "operative"))
    if len(cuts) == 1:
        return [(0, len(text), "text")] if text.strip() else []
    bounds = [c for c, _ in cuts[1:]] + [len(text)]
    parts = [(start, end, name) for (start, name), end in zip(cuts, bounds, strict=True)]
    return [(a, b, name) for a, b, name in parts if text[a:b].strip()]
