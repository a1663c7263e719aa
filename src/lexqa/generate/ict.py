"""Style ``ict`` of the offline backend: the Inverse Cloze Task (Lee, Chang and Toutanova, 2019), not an LLM.

The pseudo-question of a chunk is one of its own sentences, picked at random; with probability
``generate.ict.remove_probability`` (0.9 in the paper) the sentence is cut out of the passage, so the pair
teaches context matching rather than string matching. The question is a statement copied from the law, not a
question anyone would ask: use ICT to run the whole pipeline without any LLM (the bundled demo, CI) or as a
pre-training signal, and an LLM backend for real training data.

The shortened passage is stored in the ``passage`` column of ``questions.parquet`` (null when the sentence was
kept, meaning the chunk text). Sentences shorter than ``min_sentence_chars`` or longer than
``max_sentence_chars`` are never picked, nor table rows (cells joined by `` | ``); a chunk with a single
sentence keeps it (removing it would leave an empty passage). Draws are seeded per chunk (``seed`` and chunk
id), so a chunk's questions do not depend on which other chunks are in the run::

    >>> from lexqa.config import IctParams
    >>> text = "Le bail est conclu pour trois ans au moins. Le locataire peut le résilier à tout moment."
    >>> ict_pairs("doc#0", text, n=1, params=IctParams(min_sentence_chars=20), seed=2)
    [('Le locataire peut le résilier à tout moment.', 'Le bail est conclu pour trois ans au moins.')]
"""

from __future__ import annotations

import random
import re

from lexqa.config import IctParams

# Abbreviations after which a full stop does not end a sentence (French and Russian legal usage), lower case;
# single letters (initials, "п.", "ч.", "L.") are handled apart.
_FRENCH_ABBREVIATIONS = "art al cf ex etc no nos pp chap sect tit liv ann éd env ss vol mm mme dr me st"
_FRENCH_MONTHS = "janv févr fév avr juil sept oct nov déc"
_RUSSIAN_ABBREVIATIONS = "ст стст пп подп абз гл разд гг руб коп тыс млн млрд др пр см им ул обл рп"
_RUSSIAN_MONTHS = "янв фев февр мар апр авг сен сент окт нояб ноя дек"
ABBREVIATIONS = frozenset(
    " ".join((_FRENCH_ABBREVIATIONS, _FRENCH_MONTHS, _RUSSIAN_ABBREVIATIONS, _RUSSIAN_MONTHS)).split()
)
_END = re.compile(r"[.!?…]+[»\"')\]]*\s+")
_NEXT_STARTS_SENTENCE = re.compile(r"[«\"(\[]?[A-ZÀ-ÖØ-ÞА-ЯЁ0-9]")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?…]*$")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence; lines are never joined (legal lists put one item per line).

    A full stop ends a sentence when the next word starts with a capital or a digit, unless it follows a known
    abbreviation (``art.``, ``ст.``, ``п.``) or a single letter (initials: ``И.И. Иванов``).
    """
    spans = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for end in _END.finditer(line.group()):
            stop = line.start() + end.end()
            if _NEXT_STARTS_SENTENCE.match(text, stop) and not _after_abbreviation(
                text[start : line.start() + end.start() + 1]
            ):
                spans.append((start, line.start() + end.end()))
                start = stop
        spans.append((start, line.end()))
    return [
        (a, b) for a, b in ((a, a + len(text[a:b].rstrip())) for a, b in spans) if b > a and text[a:b].strip()
    ]


def _after_abbreviation(sentence: str) -> bool:
    match = _WORD_BEFORE.search(sentence.rstrip())
    if not match:
        return False
    word = match.group(1).rstrip(".").lower()
    last = word.rsplit(".", 1)[-1]
    return (len(last) == 1 and last.isalpha()) or last in ABBREVIATIONS


def _remove(text: str, start: int, end: int) -> str:
    """``text`` without ``text[start:end]``, joining what is left with the separator that was there."""
    before, after = text[:start].rstrip(" "), text[end:].lstrip(" ")
    if not before or before.endswith("\n") or not after or after.startswith("\n"):
        joined = before + after
    else:
        joined = before + " " + after
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def ict_pairs(chunk_id: str, text: str, n: int, params: IctParams, seed: int) -> list[tuple[str, str | None]]:
    """Up to ``n`` ``(pseudo-question, passage)`` pairs; passage None = the chunk text unchanged."""
    spans = sentence_spans(text)
    eligible = [
        (a, b)
        for a, b in spans
        if params.min_sentence_chars <= b - a <= params.max_sentence_chars and " | " not in text[a:b]
    ]
    rng = random.Random(f"{seed}:{chunk_id}")
    picked = sorted(rng.sample(eligible, min(n, len(eligible))), key=eligible.index)
    pairs = []
    for a, b in picked:
        removable = len(spans) > 1
        remove = rng.random() < params.remove_probability
        pairs.append((" ".join(text[a:b].split()), _remove(text, a, b) if removable and remove else None))
    return pairs
